import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { sha256Digest } from '../../../shared/digest.js';
import { verifyTimestamp } from '../../../shared/timestamp.js';
import { loadTrustRoot } from '../../../shared/trust-root.js';
import { runApplier } from '../../helpers/applier-bundle.js';
import { makeReleaseFixture } from '../../helpers/release-fixture.js';
import { runCli, type ProcessResult } from '../../helpers/run.js';

function ok(t: Test, run: ProcessResult): Record<string, any> {
  t.equal(run.code, 0, run.stderr);
  return JSON.parse(run.stdout);
}

function failure(t: Test, run: ProcessResult, exit: number, code: string, message: RegExp): void {
  t.equal(run.code, exit, `exit ${exit}`);
  t.match(JSON.parse(run.stdout).error, { code, message });
}

t.test('release --root publishes a rotation, --timestamp-key signs the timestamp, prtiql timestamp renews it, and a device follows', async (t) => {
  const f = await makeReleaseFixture(t, { files: { 'etc/motd': 'hello\n' } });
  const stampKeys = join(f.workDir, 'stamp');
  ok(t, await runCli(['keys', 'generate', stampKeys, '--json']));
  const stampKey = join(stampKeys, 'release-key.pem');
  const rotated = join(f.workDir, 'v2');
  ok(t, await runCli(['keys', 'rotate', '--root', f.rootJsonPath, '--key', f.keyPath, '--new-key', f.keyPath, '--timestamp-key', join(stampKeys, 'release-key.pub.pem'), '--out', rotated, '--json']));
  const root2 = join(rotated, 'root.json');
  const store = join(f.workDir, 'cli-store');
  const release = (...extra: string[]) =>
    runCli(['release', '--image', f.imageReference, '--channel', 'stable', '--release-version', '1', '--key', f.keyPath, '--store', store, '--root', root2, '--json', ...extra]);

  failure(t, await release(), 2, 'E_USAGE', /trust root version 2 names timestamp keys: pass --timestamp-key/);
  failure(t, await release('--timestamp-key', f.keyPath), 6, 'E_UNTRUSTED_KEY', /the timestamp key is not one of the timestamp keys/);
  const published = ok(t, await release('--timestamp-key', stampKey, '--timestamp-expires', '2h'));
  t.match(published, { trustRootVersion: 2, trustRootLocation: join(store, 'roots', '2.json'), timestampLocation: join(store, 'channels', 'stable', 'timestamp.json') });
  t.ok((await readFile(join(store, 'roots', '2.json'))).equals(await readFile(root2)), 'roots/2.json holds the rotated root');

  const trust = loadTrustRoot(await readFile(root2));
  const releaseBytes = await readFile(join(store, 'channels', 'stable', 'release.json'));
  const first = verifyTimestamp(await readFile(join(store, 'channels', 'stable', 'timestamp.json')), trust, { channel: 'stable', now: new Date() });
  t.same(first.release, { digest: sha256Digest(releaseBytes), size: releaseBytes.length }, 'the timestamp names the release file');
  t.ok(Date.parse(first.expires) - Date.parse(first.created) === 2 * 3_600_000, '--timestamp-expires');

  const renewed = ok(
    t,
    await runCli(['timestamp', '--channel', 'stable', '--key', 'env:STAMP_KEY', '--store', store, '--expires', '6h', '--json'], {
      env: { ...process.env, STAMP_KEY: await readFile(stampKey, 'utf8') },
    }),
  );
  t.match(renewed, { channel: 'stable', version: 1, location: join(store, 'channels', 'stable', 'timestamp.json'), releaseDigest: first.release.digest, releaseSizeBytes: first.release.size });
  const second = verifyTimestamp(await readFile(join(store, 'channels', 'stable', 'timestamp.json')), trust, { channel: 'stable', now: new Date() });
  t.equal(second.expires, renewed.expires);
  t.ok(Date.parse(second.expires) > Date.parse(first.expires), 'renewed for longer');
  failure(t, await runCli(['timestamp', '--channel', 'beta', '--key', stampKey, '--store', store, '--json']), 4, 'E_UNKNOWN_CHANNEL', /channel beta has no release/);

  const device = join(f.workDir, 'device');
  const updated = await runApplier(['update', '--source', `file://${store}`, '--channel', 'stable', '--store', device, '--trust', f.rootJsonPath]);
  t.equal(updated.code, 0, 'the device updates');
  t.match(updated.stderr, /"event":"trust.rotated","version":2/, 'the device rotated to root 2 from the store');
  t.ok((await readFile(join(device, 'trust', 'root.json'))).equals(await readFile(root2)));
});
