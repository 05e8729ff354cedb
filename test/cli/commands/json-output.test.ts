import { readdir, readFile } from 'node:fs/promises';
import { join, sep } from 'node:path';
import { Ajv, type ValidateFunction } from 'ajv';
import t, { type Test } from 'tap';
import { REPO_ROOT, runCli } from '../../helpers/run.js';

const SCHEMAS = join(REPO_ROOT, 'schemas');

/** Every schema in schemas/, compiled, by file name without `.schema.json`. */
async function loadSchemas(): Promise<Map<string, ValidateFunction>> {
  const ajv = new Ajv({ allErrors: true, strict: true });
  const names = (await readdir(SCHEMAS)).filter((name) => name.endsWith('.schema.json'));
  for (const name of names) ajv.addSchema(JSON.parse(await readFile(join(SCHEMAS, name), 'utf8')));
  const validators = new Map<string, ValidateFunction>();
  for (const name of names) validators.set(name.replace(/\.schema\.json$/, ''), ajv.getSchema(name)!);
  return validators;
}

interface Manifest {
  commands: Record<string, { flags: Record<string, unknown> }>;
}

/** The built CLI's own commands (oclif.manifest.json, written by `npm run build`), by id, e.g. `keys:generate`. */
async function readManifest(): Promise<Manifest> {
  return JSON.parse(await readFile(join(REPO_ROOT, 'oclif.manifest.json'), 'utf8')) as Manifest;
}

const schemaName = (id: string) => id.replace(/:/g, '-');

/** The command ids the source folder defines: cli/src/commands/keys/generate.ts is `keys:generate`. */
async function sourceCommandIds(): Promise<string[]> {
  const folder = join(REPO_ROOT, 'cli', 'src', 'commands');
  const files = (await readdir(folder, { recursive: true })).filter((file) => file.endsWith('.ts'));
  return files.map((file) => file.replace(/\.ts$/, '').split(sep).join(':')).sort();
}

t.test('every command has a schema, --json and --metadata-file', async (t) => {
  const schemas = await loadSchemas();
  const manifest = await readManifest();
  const ids = Object.keys(manifest.commands);
  t.same([...ids].sort(), await sourceCommandIds(), 'the built manifest lists every command of cli/src/commands (run npm run build)');
  t.ok(ids.length >= 8, `the manifest lists the commands (${ids.join(', ')})`);
  for (const id of ids) {
    t.ok(schemas.has(schemaName(id)), `schemas/${schemaName(id)}.schema.json exists`);
    t.ok(manifest.commands[id].flags.json, `${id} takes --json`);
    t.ok(manifest.commands[id].flags['metadata-file'], `${id} takes --metadata-file`);
  }
});

/**
 * Runs `prtiql <args> --json --metadata-file <file>`, checks the command succeeded, that its
 * output is valid against its schema, and that the metadata file holds the same result.
 */
async function jsonResult(t: Test, schemas: Map<string, ValidateFunction>, metadataDir: string, args: string[], env?: NodeJS.ProcessEnv): Promise<any> {
  const name = schemaName(args[0] === 'keys' ? `${args[0]}:${args[1]}` : args[0]);
  const metadataFile = join(metadataDir, `${name}-${Math.random().toString(36).slice(2)}.json`);
  const run = await runCli([...args, '--json', '--metadata-file', metadataFile], env && { env });
  t.equal(run.code, 0, `${args.slice(0, 2).join(' ')}: ${run.stderr}`);
  const result = JSON.parse(run.stdout);
  const validate = schemas.get(name)!;
  t.ok(validate(result), `${name} result matches its schema: ${JSON.stringify(validate.errors)}`);
  t.same(JSON.parse(await readFile(metadataFile, 'utf8')), result, `${name}: --metadata-file holds what --json prints`);
  return result;
}

t.test('each command prints JSON its schema accepts, and --metadata-file holds it', async (t) => {
  const schemas = await loadSchemas();
  const dir = t.testdir({ v1: { 'app.txt': 'version 1\n'.repeat(200), 'same.txt': 'unchanged\n' }, v2: { 'app.txt': 'version 2\n'.repeat(200), 'same.txt': 'unchanged\n' }, meta: {} });
  const meta = join(dir, 'meta');
  const store = join(dir, 'store');
  const layout = join(dir, 'images');

  const keys = await jsonResult(t, schemas, meta, ['keys', 'generate', join(dir, 'keys')]);
  const v1 = await jsonResult(t, schemas, meta, ['build', join(dir, 'v1'), '--output', `oci:${layout}:1`]);
  t.equal(v1.reference, `oci:${layout}:1@${v1.digest}`, 'the reference is <output>@<digest>');
  t.equal(v1.images[0].digest, v1.digest);
  const v2 = await jsonResult(t, schemas, meta, ['build', join(dir, 'v2'), '--output', `oci:${layout}:2`]);

  const release = (image: string, version: string) =>
    jsonResult(t, schemas, meta, ['release', '--image', image, '--channel', 'stable', '--release-version', version, '--key', keys.privateKey, '--store', store]);
  const first = await release(`oci:${layout}:1`, '1');
  t.same(first.bases, [], 'the first release of a channel has no bases');
  const second = await release(`oci:${layout}:2`, '2');
  t.match(second.bases, [{ version: 1, digest: v1.digest, platform: v1.images[0].platform }], 'the second release carries deltas from the first by default');
  t.ok(second.bases[0].downloadBytes < second.bases[0].fullBytes, 'devices on version 1 download less than the whole image');

  const delta = await jsonResult(t, schemas, meta, ['delta', '--from', `oci:${layout}:1`, '--to', `oci:${layout}:2`, '--store', store]);
  t.match(delta, { baseDigest: v1.digest, targetDigest: v2.digest, reused: true, downloadBytes: second.bases[0].downloadBytes });

  const pulled = await jsonResult(t, schemas, meta, ['pull', `oci:${layout}:2`, '--output', `oci:${join(dir, 'copy')}:2`]);
  t.equal(pulled.reference, `oci:${join(dir, 'copy')}:2@${v2.digest}`);
  await jsonResult(t, schemas, meta, ['push', `oci:${layout}:2`, `docker-archive:${join(dir, 'app.tar')}:app:2`]);
  await jsonResult(t, schemas, meta, ['timestamp', '--channel', 'stable', '--key', keys.privateKey, '--store', store]);
  await jsonResult(t, schemas, meta, ['keys', 'rotate', '--root', keys.trustRoot, '--key', keys.privateKey, '--out', join(dir, 'keys-2'), '--store', store]);

  const failed = await runCli(['release', '--image', `oci:${layout}:1`, '--channel', 'stable', '--release-version', '1', '--key', keys.privateKey, '--store', store, '--json']);
  t.equal(failed.code, 7, 'an older version is refused');
  const validateError = schemas.get('error')!;
  t.ok(validateError(JSON.parse(failed.stdout)), `the failure matches schemas/error.schema.json: ${JSON.stringify(validateError.errors)}`);
});

t.test('a schema refuses a result of another shape', async (t) => {
  const schemas = await loadSchemas();
  const validate = schemas.get('build')!;
  const digest = `sha256:${'a'.repeat(64)}`;
  const image = { platform: 'linux/amd64', digest, configDigest: digest, layers: [] };
  t.ok(validate({ reference: `oci:x:1@${digest}`, digest, mediaType: 'application/vnd.oci.image.manifest.v1+json', images: [image] }));
  t.notOk(validate({ reference: 'oci:x:1', manifestDigest: digest, mediaType: 'm', images: [image] }), 'manifestDigest is not a key');
  t.notOk(validate({ reference: 'oci:x:1', digest, mediaType: 'm', images: [{ ...image, platform: { os: 'linux', architecture: 'amd64' } }] }), 'a platform is a string');
});

t.test('--metadata-file in a directory that does not exist fails before any work, in every command', async (t) => {
  const dir = t.testdir({ context: { 'a.txt': 'a\n' } });
  const metadataFile = join(dir, 'absent', 'result.json');
  const build = await runCli(['build', join(dir, 'context'), '--output', `oci:${join(dir, 'layout')}:1`, '--metadata-file', metadataFile, '--json']);
  t.equal(build.code, 2);
  t.match(JSON.parse(build.stdout).error, { code: 'E_USAGE', message: /cannot write the metadata file .*result\.json: ENOENT/ });
  await t.rejects(readdir(join(dir, 'layout')), 'no image was written');
  const keys = await runCli(['keys', 'generate', join(dir, 'keys'), '--metadata-file', metadataFile]);
  t.equal(keys.code, 2);
  t.match(keys.stderr, /^Error: cannot write the metadata file/m);
  await t.rejects(readdir(join(dir, 'keys')), 'no key was written');
});
