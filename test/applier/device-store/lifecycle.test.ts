import { cp, mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import t, { type Test } from 'tap';
import { acquireStoreLock } from '../../../applier/device-store/lock.js';
import { digestHex, sha256Digest } from '../../../shared/digest.js';
import { runApplier } from '../../helpers/applier-bundle.js';
import type { ProcessResult } from '../../helpers/run.js';
import { newSigner, publishTestRelease, trustRootJson, type FixtureEntry, type PublishedRelease } from '../../helpers/signed-artifact-store.js';
import { checkStore, knownReleases } from '../../helpers/store-invariant.js';

const layer = (version: number): FixtureEntry[] => [
  { path: 'app', type: 'directory', mode: 0o755 },
  { path: 'app/version', type: 'file', mode: 0o644, content: `${version}\n` },
];

/** Every stderr line is one JSON object, except the last line of a failure: `applier: <CODE>: <message>`. */
function expectJsonLog(t: Test, result: ProcessResult): void {
  const lines = result.stderr.trim().split('\n').filter((line) => line !== '');
  const logLines = result.code === 0 ? lines : lines.slice(0, -1);
  const parsed = logLines.map((line): Record<string, unknown> => {
    try {
      return JSON.parse(line) as Record<string, unknown>;
    } catch {
      return { line };
    }
  });
  t.ok(
    parsed.every((entry) => typeof entry.time === 'string' && typeof entry.level === 'string' && typeof entry.event === 'string'),
    'one JSON object (time, level, event) per log line',
  );
}

async function setup(t: Test) {
  const dir = t.testdir();
  const artifacts = join(dir, 'artifacts');
  const store = join(dir, 'store');
  const signer = newSigner();
  await writeFile(join(dir, 'root.json'), trustRootJson([signer]));
  const releases: PublishedRelease[] = [];
  const run = async (args: string[]) => {
    const result = await runApplier(args);
    expectJsonLog(t, result);
    return result;
  };
  return {
    store,
    releases,
    run,
    async install(version: number) {
      releases.push(await publishTestRelease({ storeDir: artifacts, channel: 'stable', version, layers: [layer(version)], signers: [signer] }));
      return run(['update', '--source', pathToFileURL(artifacts).href, '--channel', 'stable', '--store', store, '--trust', join(dir, 'root.json')]);
    },
    check: async () => checkStore(store, await knownReleases(releases, await readFile(join(dir, 'root.json')))),
  };
}

t.test('gc keeps current and previous, removes the rest and interrupted leftovers, and respects the lock', async (t) => {
  const s = await setup(t);
  for (const version of [1, 2, 3]) t.equal((await s.install(version)).code, 0, `version ${version} installs`);
  const clean = await s.run(['gc', '--store', s.store]);
  t.equal(clean.code, 0);
  t.equal(clean.stdout, 'removed 0 image(s) and 0 layer(s)\n', 'an update already collected version 1');

  // what a crash can leave: staging, and an image and a layer nothing names
  const stray = digestHex(sha256Digest('stray'));
  await mkdir(join(s.store, 'staging', 'half-extracted'), { recursive: true });
  await cp(join(s.store, 'images', digestHex(s.releases[2].manifestDigest)), join(s.store, 'images', stray), { recursive: true });
  await mkdir(join(s.store, 'layers', stray));
  await writeFile(join(s.store, 'layers', `${stray}.meta`), 'meta');
  const collected = await s.run(['gc', '--store', s.store]);
  t.equal(collected.code, 0);
  t.equal(collected.stdout, 'removed 1 image(s) and 1 layer(s)\n');
  t.notOk((await readdir(s.store)).includes('staging'), 'staging is gone');
  t.same(await s.check(), { current: 3, previous: 2, problems: [] }, 'current (3) and previous (2) are complete');
  t.equal((await readdir(join(s.store, 'images'))).length, 2);

  const lock = await acquireStoreLock(join(s.store, 'lock'));
  const busy = await s.run(['gc', '--store', s.store]);
  await lock.release();
  t.equal(busy.code, 9, 'E_BUSY while another applier holds the store');
  t.match(busy.stderr, /applier: E_BUSY: another applier holds the store lock/);
});

t.test('rollback makes previous current, records it, and the rolled-back release is not installed again', async (t) => {
  const s = await setup(t);
  t.equal((await s.install(1)).code, 0);
  const none = await s.run(['rollback', '--store', s.store]);
  t.equal(none.code, 4, 'E_NOT_FOUND with a single release');
  t.match(none.stderr, /has no previous release to roll back to/);

  t.equal((await s.install(2)).code, 0);
  const [v1, v2] = s.releases;
  const rolled = await s.run(['rollback', '--store', s.store]);
  t.equal(rolled.code, 0);
  t.equal(rolled.stdout, `rolled back from version 2 (${v2.manifestDigest}) to version 1 (${v1.manifestDigest})\n`);
  t.match(rolled.stderr, /"event":"release.rolled-back"/);
  t.same(await s.check(), { current: 1, previous: 2, problems: [] }, 'version 1 is current and complete');
  const state = JSON.parse(await readFile(join(s.store, 'state.json'), 'utf8'));
  t.match(state, { installed: { version: 1, manifest: v1.manifestDigest }, previous: { version: 2, manifest: v2.manifestDigest } });

  const status = JSON.parse((await s.run(['status', '--json', '--store', s.store])).stdout);
  t.match(status.health.failed, [{ version: 2, manifest: v2.manifestDigest, reason: /rolled back by hand/ }], 'status shows the rollback');

  const offline = await s.run(['update', '--source', 'http://127.0.0.1:1/', '--channel', 'stable', '--store', s.store, '--deadline', '2']);
  t.equal(offline.code, 8, 'an unreachable source is E_NETWORK: transient, unlike the refusals around it');
  const refused = await s.install(2);
  t.equal(refused.code, 12, 'the rolled-back release is refused (E_RELEASE_FAILED)');
  t.same(await s.check(), { current: 1, previous: 2, problems: [] });
  const twice = await s.run(['rollback', '--store', s.store]);
  t.equal(twice.code, 4, 'no rolling back to a release that was rolled back');
});
