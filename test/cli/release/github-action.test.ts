import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import t from 'tap';
import { generateReleaseKey } from '../../../cli/src/lib/keys.js';
import { buildAppImage } from '../../helpers/app-image.js';
import { REPO_ROOT, runProcess } from '../../helpers/run.js';

const SCRIPT = join(REPO_ROOT, 'scripts', 'github-action.sh');

/** Runs the action's step as the runner would: inputs as PRTIQL_INPUT_* variables, outputs to $GITHUB_OUTPUT. */
async function runAction(dir: string, inputs: Record<string, string>, env: Record<string, string> = {}) {
  const outputFile = join(dir, `output-${Math.random().toString(36).slice(2)}`);
  const variables = Object.fromEntries(Object.entries(inputs).map(([name, value]) => [`PRTIQL_INPUT_${name.toUpperCase().replaceAll('-', '_')}`, value]));
  const result = await runProcess('bash', [SCRIPT], { env: { ...process.env, RUNNER_TEMP: dir, GITHUB_OUTPUT: outputFile, ...variables, ...env } });
  const outputs = result.code === 0 ? Object.fromEntries((await readFile(outputFile, 'utf8')).trim().split('\n').map((line) => line.split(/=(.*)/s).slice(0, 2))) : {};
  return { ...result, outputs };
}

t.test('the action runs prtiql release and delta with its inputs and sets its outputs', async (t) => {
  const dir = t.testdir();
  const keys = await generateReleaseKey(join(dir, 'keys'));
  const key = await readFile(keys.privateKey, 'utf8');
  const store = join(dir, 'store');
  const v1 = await buildAppImage(t, `oci:${join(dir, 'images')}:1`, 1);
  const v2 = await buildAppImage(t, `oci:${join(dir, 'images')}:2`, 2);

  const first = await runAction(dir, { image: `oci:${join(dir, 'images')}:1`, store, channel: 'stable', version: '1', key: 'env:RELEASE_KEY' }, { RELEASE_KEY: key });
  t.equal(first.code, 0, first.stderr);
  t.equal(first.outputs.digest, v1);
  t.equal(first.outputs.release, join(store, 'channels', 'stable', 'release.json'));
  t.match(first.outputs['metadata-file'], new RegExp(`^${dir}/prtiql-release-\\d+\\.json$`), 'the metadata goes to the runner\'s temp directory');
  t.match(JSON.parse(await readFile(first.outputs['metadata-file'], 'utf8')), { channel: 'stable', version: 1, digest: v1, unchanged: false, bases: [] });

  const metadata = join(dir, 'delta.json');
  const delta = await runAction(dir, { command: 'delta', image: `oci:${join(dir, 'images')}:2`, base: `oci:${join(dir, 'images')}:1`, store, 'metadata-file': metadata });
  t.equal(delta.code, 0, delta.stderr);
  t.equal(delta.outputs.digest, v2, 'a delta job names its target');
  t.equal(delta.outputs['metadata-file'], metadata);
  const computed = JSON.parse(await readFile(metadata, 'utf8'));
  t.ok(computed.deltas.length > 0);

  const second = await runAction(
    dir,
    { image: `oci:${join(dir, 'images')}:2`, store, channel: 'stable', version: '2', key: keys.privateKey, base: `\n  oci:${join(dir, 'images')}:1  \n\n`, expires: '30d' },
  );
  t.equal(second.code, 0, second.stderr);
  t.notMatch(second.stderr, /Delta for layer/, 'the release reuses what the delta job computed');
  const released = JSON.parse(await readFile(second.outputs['metadata-file'], 'utf8'));
  t.same(released.images[0].deltas.map((d: { digest: string }) => d.digest), computed.deltas.map((d: { digest: string }) => d.digest));
  t.match(released.bases, [{ version: 1, digest: v1, reference: `oci:${join(dir, 'images')}:1@${v1}` }], 'the base given is also the channel\'s newest release');

  const v3 = await buildAppImage(t, `oci:${join(dir, 'images')}:3`, 3);
  const full = await runAction(dir, { image: `oci:${join(dir, 'images')}:3`, store, channel: 'stable', version: '3', key: keys.privateKey, deltas: 'false' });
  t.equal(full.code, 0, full.stderr);
  t.equal(full.outputs.digest, v3);
  t.same(JSON.parse(await readFile(full.outputs['metadata-file'], 'utf8')).bases, [], 'deltas: false publishes no deltas');

  const wrong = await runAction(dir, { command: 'publish', image: 'oci:x', store });
  t.equal(wrong.code, 2);
  t.match(wrong.stderr, /::error::prtiql action: command must be release or delta, not 'publish'/);
  const failing = await runAction(dir, { image: `oci:${join(dir, 'images')}:2`, store, channel: 'stable', version: '1', key: keys.privateKey });
  t.equal(failing.code, 7, 'prtiql\'s exit status fails the step');
});

t.test('action.yml passes every input the step reads', async (t) => {
  const action = await readFile(join(REPO_ROOT, 'action.yml'), 'utf8');
  const script = await readFile(SCRIPT, 'utf8');
  const read = [...new Set([...script.matchAll(/PRTIQL_INPUT_([A-Z_]+)/g)].map((match) => match[1]))];
  t.ok(read.length >= 10);
  for (const variable of read) {
    const input = variable.toLowerCase().replaceAll('_', '-');
    t.match(action, new RegExp(`\\n  ${input}:\\n    description: `), `input ${input} is declared`);
    t.match(action, `PRTIQL_INPUT_${variable}: \${{ inputs.${input} }}`, `input ${input} reaches the step`);
  }
  t.match(action, /run: '"\$GITHUB_ACTION_PATH\/scripts\/github-action\.sh"'/);
});
