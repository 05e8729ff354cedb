import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { buildImage } from '../../../cli/src/lib/build/build-image.js';
import { openImage } from '../../../cli/src/lib/image/open-image.js';
import { writeImage } from '../../../cli/src/lib/image/write-image.js';
import { startRegistry, writeAuthFile } from '../../helpers/registry.js';
import { runTool } from '../../helpers/run.js';

const USERS = { ci: { password: 'secret', identityToken: 'ci-refresh-token' }, reader: { password: 'readonly', actions: ['pull'] } };

async function buildSample(t: Test) {
  const dir = t.testdir({ context: { 'app.txt': 'authenticated\n' } });
  const result = await buildImage({ layers: [{ directory: join(dir, 'context') }] }, `oci:${join(dir, 'layout')}:v1`, { mtime: 0 });
  return { dir, image: await openImage(result.reference), digest: result.manifest.digest };
}

/** Registry options that see only the given auth file: no REGISTRY_AUTH_FILE or ~/.docker of the machine. */
function onlyAuthFile(authFile: string | undefined, dir: string) {
  return { ...(authFile && { authFile }), env: { HOME: dir } };
}

t.test('bearer tokens: credentials from an auth file push and pull; tokens are cached per scope', async (t) => {
  const registry = await startRegistry(t, { auth: { kind: 'token', users: USERS } });
  const { dir, image, digest } = await buildSample(t);
  const authFile = await writeAuthFile(dir, registry.host, 'ci', 'secret');

  const pushed = await writeImage(image, `docker://${registry.host}/secure/app:v1`, { registry: onlyAuthFile(authFile, dir) });
  t.equal(pushed.manifestDigest, digest);
  t.equal(registry.tokenRequests.length, 1, 'one token for the whole push');
  t.match(registry.tokenRequests[0], /scope=repository%3Asecure%2Fapp%3Apull%2Cpush/);

  const inspected = JSON.parse(await runTool('skopeo', ['inspect', '--tls-verify=false', '--creds', 'ci:secret', `docker://${registry.host}/secure/app:v1`]));
  t.equal(inspected.Digest, digest, 'skopeo reads what was pushed through token auth');

  const pulled = await openImage(`docker://${registry.host}/secure/app:v1`, { registry: onlyAuthFile(authFile, dir) });
  t.equal(pulled.manifestDigest, digest);

  const identityFile = join(dir, 'identity.json');
  await writeFile(identityFile, JSON.stringify({ auths: { [registry.host]: { identitytoken: 'ci-refresh-token' } } }));
  registry.tokenRequests.length = 0;
  t.equal((await openImage(`docker://${registry.host}/secure/app:v1`, { registry: onlyAuthFile(identityFile, dir) })).manifestDigest, digest);
  t.match(registry.tokenRequests, [/^POST \/token/], 'an identity token is exchanged with the refresh-token grant');
});

t.test('bearer tokens: no, wrong or too weak credentials are E_UNAUTHORIZED with one clear line', async (t) => {
  const registry = await startRegistry(t, { auth: { kind: 'token', users: USERS } });
  const { dir, image } = await buildSample(t);
  const target = `docker://${registry.host}/secure/app:v1`;
  await writeImage(image, target, { registry: onlyAuthFile(await writeAuthFile(dir, registry.host, 'ci', 'secret'), dir) });

  await t.rejects(openImage(target, { registry: onlyAuthFile(undefined, dir) }), {
    code: 'E_UNAUTHORIZED',
    message: new RegExp(`registry ${registry.host} requires credentials and none were found \\(looked in ${join(dir, '.docker', 'config.json')}`),
  });
  const wrong = await writeAuthFile(dir, registry.host, 'ci', 'guess');
  await t.rejects(openImage(target, { registry: onlyAuthFile(wrong, dir) }), { code: 'E_UNAUTHORIZED', message: new RegExp(`refused the credentials from ${wrong}`) });
  const reader = await writeAuthFile(dir, registry.host, 'reader', 'readonly');
  t.equal((await openImage(target, { registry: onlyAuthFile(reader, dir) })).layers.length, 1, 'a reader may pull');
  await t.rejects(writeImage(image, `docker://${registry.host}/secure/app:v2`, { registry: onlyAuthFile(reader, dir) }), { code: 'E_UNAUTHORIZED' }, 'but not push');
  await t.rejects(openImage(target, { registry: { authFile: join(dir, 'missing.json'), env: { HOME: dir } } }), { code: 'E_NOT_FOUND', message: /auth file .*missing\.json does not exist/ });
});

t.test('basic auth (htpasswd): the right credentials push, wrong ones are E_UNAUTHORIZED', async (t) => {
  const registry = await startRegistry(t, { auth: { kind: 'htpasswd', users: USERS } });
  const { dir, image, digest } = await buildSample(t);
  const target = `docker://${registry.host}/basic/app:v1`;
  const pushed = await writeImage(image, target, { registry: onlyAuthFile(await writeAuthFile(dir, registry.host, 'ci', 'secret'), dir) });
  t.equal(pushed.manifestDigest, digest);
  await t.rejects(openImage(target, { registry: onlyAuthFile(await writeAuthFile(dir, registry.host, 'ci', 'nope'), dir) }), { code: 'E_UNAUTHORIZED' });
  await t.rejects(openImage(target, { registry: onlyAuthFile(undefined, dir) }), { code: 'E_UNAUTHORIZED', message: /none were found/ });
});
