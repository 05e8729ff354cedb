import { cp, mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import t, { type Test } from 'tap';
import { acquireStoreLock } from '../../../applier/device-store/lock.js';
import { DeviceStore } from '../../../applier/device-store/device-store.js';
import { readHealthRecords } from '../../../applier/device-store/health-record.js';
import { digestHex, sha256Digest } from '../../../shared/digest.js';
import { APPLIER_EXIT_CODES } from '../../../shared/errors.js';
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
    async publish(version: number) {
      const release = await publishTestRelease({ storeDir: artifacts, channel: 'stable', version, layers: [layer(version)], signers: [signer] });
      releases.push(release);
      return release;
    },
    async install(version: number) {
      await this.publish(version);
      return this.update();
    },
    update: () => run(['update', '--source', pathToFileURL(artifacts).href, '--channel', 'stable', '--store', store, '--trust', join(dir, 'root.json')]),
    status: async () => JSON.parse((await run(['status', '--json', '--store', store])).stdout),
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
  t.equal(busy.code, APPLIER_EXIT_CODES.E_BUSY, 'E_BUSY while another applier holds the store');
  t.match(busy.stderr, /applier: E_BUSY: another applier holds the store lock/);
});

t.test('rollback makes previous current; the release it leaves stays installable unless --mark-bad', async (t) => {
  const s = await setup(t);
  t.equal((await s.install(1)).code, 0);
  const none = await s.run(['rollback', '--store', s.store]);
  t.equal(none.code, APPLIER_EXIT_CODES.E_NOT_FOUND, 'E_NOT_FOUND with a single release');
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
  t.same((await s.status()).health.failed, [], 'a plain rollback records no failure');
  t.equal((await s.update()).code, 0, 'the next update installs the release rolled back from again');
  t.same(await s.check(), { current: 2, previous: 1, problems: [] });

  const marked = await s.run(['rollback', '--mark-bad', '--store', s.store]);
  t.equal(marked.code, 0, marked.stderr);
  t.match((await s.status()).health.failed, [{ version: 2, manifest: v2.manifestDigest, reason: /rolled back by hand/ }], 'status shows the rollback');
  const offline = await s.run(['update', '--source', 'http://127.0.0.1:1/', '--channel', 'stable', '--store', s.store, '--deadline', '2']);
  t.equal(offline.code, APPLIER_EXIT_CODES.E_NETWORK, 'an unreachable source is E_NETWORK: transient, unlike the refusals around it');
  const refused = await s.update();
  t.equal(refused.code, APPLIER_EXIT_CODES.E_RELEASE_FAILED, 'the release rolled back from with --mark-bad is refused');
  t.match(refused.stderr, `To retry it: applier health clear 2 --store ${s.store}; or publish a newer version`);
  t.same(await s.check(), { current: 1, previous: 2, problems: [] });
  const twice = await s.run(['rollback', '--store', s.store]);
  t.equal(twice.code, APPLIER_EXIT_CODES.E_NOT_FOUND, 'no rolling back to a release marked bad');

  const cleared = await s.run(['health', 'clear', '2', '--store', s.store]);
  t.equal(cleared.code, 0, cleared.stderr);
  t.equal(cleared.stdout, `release version 2 (${v2.manifestDigest}) verdict cleared: run checks its next start, update installs it\n`);
  t.equal((await s.update()).code, 0, 'a cleared release is installable again');
  t.same(await s.check(), { current: 2, previous: 1, problems: [] });
});

t.test('health mark-good, mark-bad and clear set the verdict update and run go by', async (t) => {
  const s = await setup(t);
  t.equal((await s.install(1)).code, 0);
  const [v1] = s.releases;
  const v2 = await s.publish(2);
  const verdicts = async () => {
    const { healthy, failed } = await readHealthRecords(await DeviceStore.open(s.store));
    return { healthy: healthy.map((r) => [r.version, r.manifest]), failed: failed.map((r) => [r.version, r.manifest, r.reason]) };
  };

  const badAhead = await s.run(['health', 'mark-bad', v2.manifestDigest, '--store', s.store]);
  t.equal(badAhead.code, 0, 'a release not installed yet is named by its manifest digest');
  t.same(await verdicts(), { healthy: [], failed: [[null, v2.manifestDigest, 'marked bad by hand (applier health mark-bad)']] });
  const refused = await s.update();
  t.equal(refused.code, APPLIER_EXIT_CODES.E_RELEASE_FAILED);
  t.match(refused.stderr, `applier health clear ${v2.manifestDigest} --store ${s.store}`);
  t.equal((await s.run(['health', 'clear', v2.manifestDigest, '--store', s.store])).code, 0);
  t.equal((await s.update()).code, 0, 'cleared, it installs');

  t.equal((await s.run(['health', 'mark-bad', '2', '--store', s.store])).code, 0, 'the installed release by its version');
  t.equal((await s.run(['health', 'mark-good', '1', '--store', s.store])).code, 0, 'the previous one');
  t.same(await verdicts(), { healthy: [[1, v1.manifestDigest]], failed: [[2, v2.manifestDigest, 'marked bad by hand (applier health mark-bad)']] });
  t.match(await s.status(), { health: { current: 'failed' } });
  const good = await s.run(['health', 'mark-good', '2', '--store', s.store]);
  t.equal(good.stdout, `release version 2 (${v2.manifestDigest}) marked good: run does not check it, update installs it\n`);
  t.same(await verdicts(), { healthy: [[1, v1.manifestDigest], [2, v2.manifestDigest]], failed: [] }, 'one verdict per release: the newest');
  t.match(await s.status(), { health: { current: 'healthy' } });

  const before = await readFile(join(s.store, 'health.json'), 'utf8');
  for (const [args, code] of [
    [['health', 'mark-bad', '7', '--store', s.store], 'E_NOT_FOUND'],
    [['health', 'mark-good', '--store', s.store], 'E_USAGE'],
    [['health', 'forget', '2', '--store', s.store], 'E_USAGE'],
    [['health', 'clear', '0', '--store', s.store], 'E_USAGE'],
    [['health', 'clear', 'sha256:abc', '--store', s.store], 'E_USAGE'],
    [['health', 'clear', '2'], 'E_USAGE'],
    [['health', 'clear', '2', '--store', s.store, '--force'], 'E_USAGE'],
    [['health', 'clear', '2', '--store', join(s.store, 'nowhere')], 'E_NO_STORE'],
  ] as const) {
    const result = await s.run([...args]);
    t.equal(result.code, APPLIER_EXIT_CODES[code], `${args.filter((arg) => arg !== s.store).join(' ')}: ${code}`);
  }
  t.equal(await readFile(join(s.store, 'health.json'), 'utf8'), before, 'refused commands change nothing');
});
