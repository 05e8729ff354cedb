import { readFile, readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { loadTrustRoot, verifyRootSuccessor } from '../../shared/trust-root.js';
import { runCli, type ProcessResult } from '../helpers/run.js';

async function generate(t: Test, base: string, name: string): Promise<{ dir: string; key: string; pub: string; root: string }> {
  const dir = join(base, name);
  const run = await runCli(['keys', 'generate', dir, '--json']);
  t.equal(run.code, 0, run.stderr);
  return { dir, key: join(dir, 'release-key.pem'), pub: join(dir, 'release-key.pub.pem'), root: join(dir, 'root.json') };
}

function json(t: Test, run: ProcessResult): Record<string, unknown> {
  t.equal(run.code, 0, run.stderr);
  return JSON.parse(run.stdout);
}

async function listing(dir: string): Promise<string[]> {
  return (await readdir(dir, { recursive: true }).catch(() => [])).sort();
}

t.test('keys rotate writes root N+1, signed by the old and the new key, and publishes it where devices look', async (t) => {
  const base = t.testdir();
  const first = await generate(t, base, 'v1');
  const out = join(base, 'v2');
  const store = join(base, 'store');
  const result = json(t, await runCli(['keys', 'rotate', '--root', first.root, '--key', first.key, '--out', out, '--store', store, '--json']));
  t.match(result, { version: 2, threshold: 1, timestampKeyIds: [], trustRoot: join(out, 'root.json'), privateKey: join(out, 'release-key.pem'), published: join(store, 'roots', '2.json') });
  t.equal((await stat(join(out, 'release-key.pem'))).mode & 0o777, 0o600, 'the generated key is private');
  const rotated = await readFile(join(out, 'root.json'));
  const successor = verifyRootSuccessor(loadTrustRoot(await readFile(first.root)), rotated);
  t.same([...successor.keys.keys()], result.keyIds, 'root 2 trusts the new key only');
  t.ok((await readFile(join(store, 'roots', '2.json'))).equals(rotated), 'published byte for byte');

  const again = json(t, await runCli(['keys', 'rotate', '--root', out + '/root.json', '--key', join(out, 'release-key.pem'), '--new-key', join(out, 'release-key.pem'), '--out', join(base, 'v3'), '--store', store, '--json']));
  t.match(again, { version: 3, keyIds: result.keyIds }, 'a rotation may keep the key: it signs once');

  const other = join(base, 'other-v2');
  const conflict = await runCli(['keys', 'rotate', '--root', first.root, '--key', first.key, '--out', other, '--store', store, '--json']);
  t.equal(conflict.code, 7, 'another root 2 for the same store');
  t.match(JSON.parse(conflict.stdout).error, { code: 'E_VERSION_EXISTS', message: /published roots are never replaced/ });
  t.ok((await readFile(join(store, 'roots', '2.json'))).equals(rotated), 'the published root 2 is unchanged');

  const refused = await runCli(['keys', 'rotate', '--root', first.root, '--key', first.key, '--out', out]);
  t.equal(refused.code, 3, 'existing files in OUT are kept');
  t.match(refused.stderr, /root\.json already exists; pass --force/);
});

t.test('a threshold root rotates only with a threshold of its keys; thresholds and timestamp keys carry over or change', async (t) => {
  const base = t.testdir();
  const [a, b, c, stamp] = [await generate(t, base, 'a'), await generate(t, base, 'b'), await generate(t, base, 'c'), await generate(t, base, 'stamp')];
  const two = join(base, 'two');
  const twoOfTwo = json(t, await runCli(['keys', 'rotate', '--root', a.root, '--key', a.key, '--new-key', a.key, '--new-key', b.key, '--threshold', '2', '--timestamp-key', stamp.pub, '--out', two, '--json']));
  t.match(twoOfTwo, { version: 2, threshold: 2 });
  t.equal((twoOfTwo.keyIds as string[]).length, 2);
  t.equal((twoOfTwo.timestampKeyIds as string[]).length, 1, 'a timestamp role from a public key');

  const three = join(base, 'three');
  const alone = await runCli(['keys', 'rotate', '--root', join(two, 'root.json'), '--key', a.key, '--new-key', c.key, '--out', three, '--json']);
  t.equal(alone.code, 2, 'root 3 would have one key and threshold 2');
  const oneOfTwo = await runCli(['keys', 'rotate', '--root', join(two, 'root.json'), '--key', a.key, '--new-key', c.key, '--threshold', '1', '--out', three, '--json']);
  t.equal(oneOfTwo.code, 6, 'one key of a 2-of-2 root cannot endorse its successor');
  t.match(JSON.parse(oneOfTwo.stdout).error, { code: 'E_THRESHOLD' });
  const twice = await runCli(['keys', 'rotate', '--root', join(two, 'root.json'), '--key', a.key, '--key', a.key, '--new-key', c.key, '--threshold', '1', '--out', three, '--json']);
  t.match(JSON.parse(twice.stdout).error, { code: 'E_THRESHOLD' }, 'naming one key twice does not count it twice');
  t.same(await listing(three), [], 'nothing was written');

  const carried = json(t, await runCli(['keys', 'rotate', '--root', join(two, 'root.json'), '--key', a.key, '--key', b.key, '--new-key', c.key, '--threshold', '1', '--out', three, '--json']));
  t.same(carried.timestampKeyIds, twoOfTwo.timestampKeyIds, "root 2's timestamp keys carry over");
  const dropped = json(t, await runCli(['keys', 'rotate', '--root', join(three, 'root.json'), '--key', c.key, '--new-key', c.key, '--drop-timestamp', '--out', join(three, 'four'), '--json']));
  t.same(dropped.timestampKeyIds, [], '--drop-timestamp');
});

t.test('keys come from environment variables and never reach the output', async (t) => {
  const base = t.testdir();
  const first = await generate(t, base, 'v1');
  const pem = await readFile(first.key, 'utf8');
  const out = join(base, 'v2');
  const env = { ...process.env, OLD_RELEASE_KEY: pem };
  const run = await runCli(['keys', 'rotate', '--root', first.root, '--key', 'env:OLD_RELEASE_KEY', '--out', out], { env });
  t.equal(run.code, 0, run.stderr);
  const body = pem.split('\n')[1];
  t.notOk(run.stdout.includes(body) || run.stderr.includes(body), 'the key is not printed');

  const missing = await runCli(['keys', 'rotate', '--root', first.root, '--key', 'env:NO_SUCH_KEY_VARIABLE', '--out', join(out, 'x')]);
  t.equal(missing.code, 4);
  t.match(missing.stderr, /signing key from environment variable NO_SUCH_KEY_VARIABLE: the variable is not set/);
  const garbage = await runCli(['keys', 'rotate', '--root', first.root, '--key', 'env:BROKEN_KEY', '--out', join(out, 'y')], {
    env: { ...process.env, BROKEN_KEY: `${pem.slice(0, 60)}SECRETTAIL` },
  });
  t.equal(garbage.code, 3);
  t.match(garbage.stderr, /signing key from environment variable BROKEN_KEY is not a PEM private key/);
  t.notMatch(garbage.stderr + garbage.stdout, /SECRETTAIL/, 'not even a broken key is echoed');
});
