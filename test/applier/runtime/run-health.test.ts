import { readlink, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import t from 'tap';
import { digestHex, sha256Digest } from '../../../shared/digest.js';
import { APPLIER_EXIT_CODES } from '../../../shared/errors.js';
import type { ContainerConfig } from '../../../shared/oci.js';
import { checkHealth, healthPlan } from '../../../applier/runtime/health-check.js';
import { clearVerdict, readHealthRecords, recordFailed, recordHealthy, refuseFailedRelease, verdictOf } from '../../../applier/device-store/health-record.js';
import { silentLogger } from '../../../applier/log.js';
import { DeviceStore } from '../../../applier/device-store/device-store.js';
import { markFailedAndRollBack, rollBack, rollbackTarget } from '../../../applier/device-store/verdict.js';
import { runApplier } from '../../helpers/applier-bundle.js';
import { containerStore, leftovers } from '../../helpers/container-store.js';
import { installImage } from '../../helpers/device-store.js';
import { runProcess } from '../../helpers/run.js';
import { publishRunnableRelease } from '../../helpers/runnable-release.js';
import { startApplier } from '../../helpers/running-applier.js';
import { RUNC_NEEDS_ROOT, skipUnlessAvailable } from '../../helpers/required-features.js';
import { logsOnceComplete } from '../../helpers/container-logs.js';
import { updatingDevice } from '../../helpers/updating-device.js';

const skip = skipUnlessAvailable(RUNC_NEEDS_ROOT);
const digest = (n: number) => sha256Digest(Buffer.from(`image ${n}`));
/** A service that says it is up, then runs until SIGTERM. */
const service = (name: string): ContainerConfig => ({ Cmd: ['sh', '-c', `trap "exit 0" TERM; echo ${name} up; while true; do sleep 0.1; done`] });

t.test('health records: one verdict per image, the newest kept, a failed release refused', async (t) => {
  const store = await DeviceStore.create(t.testdir());
  t.same(await readHealthRecords(store), { healthy: [], failed: [] });
  await recordHealthy(store, { version: 1, manifest: digest(1), at: 't1' });
  await recordFailed(store, { version: 2, manifest: digest(2), at: 't2', reason: 'the container stopped (exit status 1)' });
  const records = await readHealthRecords(store);
  t.equal(verdictOf(records, digest(1)), 'healthy');
  t.equal(verdictOf(records, digest(2)), 'failed');
  t.equal(verdictOf(records, digest(3)), undefined);
  await refuseFailedRelease(store, digest(1));
  await t.rejects(refuseFailedRelease(store, digest(2)), {
    code: 'E_RELEASE_FAILED',
    message:
      `release version 2 (${digest(2)}) failed on this device at t2 (the container stopped (exit status 1)); it is not installed again. ` +
      `To retry it: applier health clear 2 --store ${store.root}; or publish a newer version`,
  });
  await recordFailed(store, { version: null, manifest: digest(3), at: 't3', reason: 'marked bad' });
  await t.rejects(refuseFailedRelease(store, digest(3)), { message: `To retry it: applier health clear ${digest(3)} --store ${store.root};` }, 'an image without a version is named by its digest');
  await clearVerdict(store, digest(3));
  await refuseFailedRelease(store, digest(3));
  t.equal(verdictOf(await readHealthRecords(store), digest(3)), undefined, 'cleared: no verdict');

  await recordHealthy(store, { version: 2, manifest: digest(2), at: 't3' });
  t.equal(verdictOf(await readHealthRecords(store), digest(2)), 'healthy', 'a later verdict replaces the earlier one');
  for (let n = 100; n < 120; n++) await recordFailed(store, { version: n, manifest: digest(n), at: `t${n}`, reason: 'r' });
  const failed = (await readHealthRecords(store)).failed;
  t.same([failed.length, failed[0].manifest, failed.at(-1)?.manifest], [16, digest(104), digest(119)], 'the newest 16 are kept');

  await writeFile(store.path('health.json'), '{"healthy": 1}');
  await t.rejects(readHealthRecords(store), { code: 'E_BAD_INPUT', message: /health.json is malformed/ });
});

t.test("health plans: the image's Healthcheck, else for a service the alive check, for a job its exit", async (t) => {
  t.same(healthPlan({}, 10, 'service'), { workload: 'service', probe: { kind: 'alive', seconds: 10 } });
  t.same(healthPlan({ Healthcheck: { Test: ['NONE'] } }, 5, 'service'), { workload: 'service', probe: { kind: 'alive', seconds: 5 } });
  t.same(healthPlan({ Healthcheck: { Test: [] } }, 5, 'service'), { workload: 'service', probe: { kind: 'alive', seconds: 5 } });
  t.same(healthPlan({}, 10, 'job'), { workload: 'job' }, 'a job without a Healthcheck is judged by its exit status alone');
  const curl = { kind: 'command', args: ['curl', '-f', 'http://localhost/'], intervalMs: 30_000, timeoutMs: 30_000, startPeriodMs: 0, retries: 3 };
  t.same(healthPlan({ Healthcheck: { Test: ['CMD', 'curl', '-f', 'http://localhost/'] } }, 5, 'service'), { workload: 'service', probe: curl });
  t.same(healthPlan({ Healthcheck: { Test: ['CMD', 'curl', '-f', 'http://localhost/'] } }, 5, 'job'), { workload: 'job', probe: curl });
  t.same(healthPlan({ Healthcheck: { Test: ['CMD-SHELL', 'test -e /ready'], Interval: 1_500_000_000, Timeout: 2e9, StartPeriod: 5e9, Retries: 5 } }, 5, 'service'), {
    workload: 'service',
    probe: { kind: 'command', args: ['/bin/sh', '-c', 'test -e /ready'], intervalMs: 1500, timeoutMs: 2000, startPeriodMs: 5000, retries: 5 },
  });
  for (const test of [['CMD'], ['CMD-SHELL', 'a', 'b'], ['CMD-SHELL'], ['SHELL', 'x']]) {
    t.throws(() => healthPlan({ Healthcheck: { Test: test } }, 5, 'service'), { code: 'E_BAD_INPUT', message: /Healthcheck.Test/ }, JSON.stringify(test));
  }
});

t.test('checkHealth: a stopped service fails; a stopped job passes with exit status 0 only', async (t) => {
  const never = () => new Promise<number>(() => undefined);
  const stoppedWith = (status: number) => ({ stopped: Promise.resolve(status), exec: never });
  t.same(await checkHealth({ workload: 'service', probe: { kind: 'alive', seconds: 60 } }, stoppedWith(0)), {
    healthy: false,
    running: false,
    reason: 'the container stopped before it was judged healthy (exit status 0); an image that does its work and exits is a job: "workload": "job" in the device config',
  });
  t.same(await checkHealth({ workload: 'job' }, stoppedWith(0)), { healthy: true });
  t.same(await checkHealth({ workload: 'job' }, stoppedWith(2)), { healthy: false, running: false, reason: 'the job failed (exit status 2)' });
  const running = { stopped: new Promise<number>(() => undefined), exec: never };
  t.same(await checkHealth({ workload: 'service', probe: { kind: 'alive', seconds: 0 } }, running), { healthy: true }, 'the alive window passed');
});

t.test('rollback goes to previous only when state.json knows it, it is complete and it has not failed', async (t) => {
  const root = t.testdir();
  const layer = (text: string) => async (dir: string) => writeFile(join(dir, 'version'), text);
  await installImage(root, [layer('one')], { Cmd: ['true'] });
  await installImage(root, [layer('two')], { Cmd: ['true'] });
  const store = await DeviceStore.open(root);
  const [one, two] = [(await store.pointer('previous'))!, (await store.pointer('current'))!];
  t.equal(await rollbackTarget(store, two), undefined, 'no state.json: the previous release is unknown');
  const state = { channel: 'stable', installed: { version: 2, manifest: two }, previous: { version: 1, manifest: one }, highestSeen: 2 };
  await store.writeState(state);
  t.same(await rollbackTarget(store, two), { version: 1, manifest: one });
  t.equal(await rollbackTarget(store, one), undefined, 'only the current image is rolled back from');

  t.same(await markFailedAndRollBack(store, two, 'it crashed', silentLogger), { version: 1, manifest: one });
  t.same(await store.readState(), { ...state, installed: { version: 1, manifest: one }, previous: { version: 2, manifest: two } });
  t.same([await store.pointer('current'), await store.pointer('previous')], [one, two]);
  t.match((await readHealthRecords(store)).failed, [{ version: 2, manifest: two, reason: 'it crashed' }]);

  t.equal(await markFailedAndRollBack(store, one, 'it crashed too', silentLogger), undefined, 'never back to an image that failed');
  t.same([await store.pointer('current'), await store.pointer('previous')], [one, two], 'pointers unchanged');

  // a crash after state.json was written but before the pointers moved
  await recordHealthy(store, { version: 1, manifest: one, at: 'now' });
  await store.swapCurrent(two);
  t.same([await store.pointer('current'), await store.pointer('previous')], [two, one]);
  t.same(await rollBack(store, two, silentLogger), { version: 1, manifest: one }, 'the next run finishes the rollback');
  t.same([await store.pointer('current'), await store.pointer('previous')], [one, two]);
});

t.test('a release that fails its first start is rolled back from, recorded, and not installed again', { skip }, async (t) => {
  const { artifacts, device, name, signer, update } = await updatingDevice(t, 'rollback');
  const run = () => startApplier(['run', '--store', device, '--name', name, '--health-seconds', '1']);
  const status = async () => JSON.parse((await runApplier(['status', '--json', '--store', device])).stdout);

  const v1 = await publishRunnableRelease(artifacts, signer, 1, service('v1'));
  t.equal((await update()).code, 0);
  const first = run();
  await first.logged('"event":"health.passed"');
  process.kill(first.pid, 'SIGTERM');
  t.equal((await first.done).code, 0, 'v1 is healthy');

  const v2 = await publishRunnableRelease(artifacts, signer, 2, { Cmd: ['sh', '-c', 'echo v2 is broken; exit 1'] });
  t.equal((await update()).code, 0);
  t.match(await status(), { installed: { version: 2 }, health: { current: 'unchecked' } });

  const second = run();
  await second.printed('v1 up');
  process.kill(second.pid, 'SIGTERM');
  const result = await second.done;
  t.equal(result.code, 0, 'v1 ran in place of v2 and stopped cleanly');
  t.equal(result.stdout, 'v2 is broken\nv1 up\n');
  t.match(result.stderr, /"event":"health.failed".*"version":2,"reason":"the container stopped before it was judged healthy \(exit status 1\)"/);
  t.match(result.stderr, /"event":"release.rolled-back".*"fromVersion":2.*"toVersion":1/);
  t.match(await status(), {
    installed: { version: 1, manifest: v1.manifestDigest },
    previous: { version: 2, manifest: v2.manifestDigest },
    current: { manifest: v1.manifestDigest },
    health: { current: 'healthy', failed: [{ version: 2, manifest: v2.manifestDigest, reason: /exit status 1/ }] },
  });
  t.equal(await readlink(join(device, 'current')), `images/${digestHex(v1.manifestDigest)}`);

  await t.test('update refuses the failed release', async (t) => {
    const again = await update();
    t.equal(again.code, APPLIER_EXIT_CODES.E_RELEASE_FAILED, again.stderr);
    t.match(again.stderr, /E_RELEASE_FAILED: release version 2 \(sha256:[0-9a-f]{64}\) failed on this device at .* \(the container stopped before it was judged healthy \(exit status 1\)\); it is not installed again\. To retry it: applier health clear 2 --store /);
    t.match(await status(), { installed: { version: 1 }, current: { manifest: v1.manifestDigest } }, 'nothing was reinstalled');
  });

  const third = run();
  await third.printed('v1 up');
  process.kill(third.pid, 'SIGTERM');
  const quiet = await third.done;
  t.equal(quiet.stdout, 'v1 up\n');
  t.notMatch(quiet.stderr, /"event":"health\./, 'a version that passed once is not checked again');
});

t.test('an image that cannot even be started is rolled back from before anything runs', { skip }, async (t) => {
  const store = await containerStore(t, [service('v1'), { Cmd: ['true'], User: 'ghost' }]);
  const applier = startApplier(['run', '--store', store.root, '--name', store.name, '--health-seconds', '1']);
  await applier.printed('v1 up');
  process.kill(applier.pid, 'SIGTERM');
  const result = await applier.done;
  t.equal(result.code, 0, result.stderr);
  t.match(result.stderr, /"event":"health.failed".*ghost.*not in the image/);
  t.equal(await (await DeviceStore.open(store.root)).pointer('current'), store.manifests[0]);
});

t.test("the image's Healthcheck runs in the container; a failing one is stopped with its StopSignal", { skip }, async (t) => {
  const readiness = { Test: ['CMD-SHELL', 'test -e /tmp/ready'], Interval: 200_000_000, Retries: 2 };
  const store = await containerStore(t, [
    { Cmd: ['sh', '-c', 'echo v1 up; touch /tmp/ready; while true; do sleep 0.1; done'], Healthcheck: readiness },
    { Cmd: ['sh', '-c', 'trap "echo v2 stopping; exit 0" USR1; echo v2 up; while true; do sleep 0.1; done'], Healthcheck: readiness, StopSignal: 'SIGUSR1' },
  ]);
  const started = await runApplier(['run', '--detach', '--store', store.root, '--name', store.name]);
  t.equal(started.code, 0, started.stderr);
  t.match(started.stderr, /"reason":"the image's health check failed 2 times \(last exit status 1\)"/);
  const records = await readHealthRecords(await DeviceStore.open(store.root));
  t.same([verdictOf(records, store.manifests[0]), verdictOf(records, store.manifests[1])], ['healthy', 'failed']);
  t.equal(JSON.parse((await runProcess('runc', ['state', store.name])).stdout).status, 'running', 'v1 runs detached');
  t.equal(await logsOnceComplete(store, (text) => text.includes('v1 up\n')), 'v2 up\nv2 stopping\nv1 up\n');
  t.equal((await runApplier(['stop', '--store', store.root, '--name', store.name, '--timeout', '0'])).code, 0);
  t.same(await leftovers(store), { bundles: [], mounted: false, runc: 1 });
});

t.test('a failed first start with nothing to go back to is recorded once; the container keeps its exit status', { skip }, async (t) => {
  const store = await containerStore(t, [{ Cmd: ['sh', '-c', 'echo once; exit 3'] }]);
  const run = () => runApplier(['run', '--store', store.root, '--name', store.name, '--health-seconds', '5']);
  const first = await run();
  t.equal(first.code, 3);
  t.match(first.stderr, /"event":"health.failed"/);
  const second = await run();
  t.equal(second.code, 3);
  t.notMatch(second.stderr, /"event":"health\./);
  const status = await runApplier(['status', '--store', store.root]);
  t.match(status.stdout, /health: {4}failed\nfailed: {4}version 1 \(sha256:[0-9a-f]{64}\) at .*: the container stopped before it was judged healthy \(exit status 3\)/);
});

t.test('--health-seconds 0: no check, no verdict', { skip }, async (t) => {
  const store = await containerStore(t, [service('v1'), { Cmd: ['false'] }]);
  const result = await runApplier(['run', '--store', store.root, '--name', store.name, '--health-seconds', '0']);
  t.equal(result.code, 1);
  t.same(await readHealthRecords(await DeviceStore.open(store.root)), { healthy: [], failed: [] });
  t.equal(await (await DeviceStore.open(store.root)).pointer('current'), store.manifests[1], 'no rollback');
});

t.test('a job passes its first start by exiting 0 and stays installed; a job that fails is rolled back from', { skip }, async (t) => {
  const { artifacts, device, name, signer, update } = await updatingDevice(t, 'job');
  const config = join(dirname(device), 'device.json');
  await writeFile(config, '{ "workload": "job" }');
  const run = () => runApplier(['run', '--store', device, '--name', name, '--config', config, '--health-seconds', '30']);
  const status = async () => JSON.parse((await runApplier(['status', '--json', '--store', device])).stdout);

  for (const version of [1, 2]) {
    await publishRunnableRelease(artifacts, signer, version, { Cmd: ['sh', '-c', `echo v${version} did its work`] });
    t.equal((await update()).code, 0);
    const result = await run();
    t.equal(result.code, 0, result.stderr);
    t.equal(result.stdout, `v${version} did its work\n`);
    t.match(result.stderr, /"event":"health.passed"/);
    t.notMatch(result.stderr, /"event":"(health.failed|release.rolled-back)"/);
    t.match(await status(), { installed: { version }, health: { current: 'healthy', failed: [] } }, `v${version} stays installed`);
  }
  t.equal((await update()).code, 0, 'up to date: nothing refused');

  await publishRunnableRelease(artifacts, signer, 3, { Cmd: ['sh', '-c', 'echo v3 fails; exit 1'] });
  t.equal((await update()).code, 0);
  const failed = await run();
  t.equal(failed.code, 0, 'v2 ran in place of v3 and did its work');
  t.equal(failed.stdout, 'v3 fails\nv2 did its work\n');
  t.match(failed.stderr, /"event":"health.failed".*"version":3,"reason":"the job failed \(exit status 1\)"/);
  t.match(failed.stderr, /"event":"release.rolled-back".*"fromVersion":3.*"toVersion":2/);
  t.match(await status(), { installed: { version: 2 }, health: { current: 'healthy', failed: [{ version: 3 }] } });
  const refused = await update();
  t.equal(refused.code, APPLIER_EXIT_CODES.E_RELEASE_FAILED);
  t.match(refused.stderr, `To retry it: applier health clear 3 --store ${device}`);

  const detached = await runApplier(['run', '--detach', '--store', device, '--name', name, '--config', config]);
  t.equal(detached.code, APPLIER_EXIT_CODES.E_USAGE, 'a job runs in the foreground: its exit status is its verdict');
  t.match(detached.stderr, /workload is "job"/);
});

t.test('as a service (the default), an image that exits 0 at once fails its first start, and the reason names the job workload', { skip }, async (t) => {
  const store = await containerStore(t, [service('v1'), { Cmd: ['sh', '-c', 'echo v2 did its work'] }]);
  const applier = startApplier(['run', '--store', store.root, '--name', store.name, '--health-seconds', '1']);
  await applier.logged('"event":"health.passed"');
  process.kill(applier.pid, 'SIGTERM');
  const result = await applier.done;
  t.equal(result.stdout, 'v2 did its work\nv1 up\n', result.stderr);
  t.match(result.stderr, /"event":"health.failed".*"reason":"the container stopped before it was judged healthy \(exit status 0\); an image that does its work and exits is a job: \\"workload\\": \\"job\\" in the device config"/);
  t.match(result.stderr, /"event":"release.rolled-back".*"fromVersion":2.*"toVersion":1/);
});

t.test('mark-good spares a release the check; mark-bad makes run roll back from it before it starts', { skip }, async (t) => {
  const store = await containerStore(t, [service('v1'), { Cmd: ['sh', '-c', 'echo v2 exits; exit 4'] }]);
  const health = (...args: string[]) => runApplier(['health', ...args, '--store', store.root]);

  t.equal((await health('mark-good', '2')).code, 0);
  const unchecked = await runApplier(['run', '--store', store.root, '--name', store.name, '--health-seconds', '5']);
  t.equal(unchecked.code, 4, "the container's exit status");
  t.equal(unchecked.stdout, 'v2 exits\n');
  t.notMatch(unchecked.stderr, /"event":"(health\.|release.rolled-back)/, 'marked good: not checked, not rolled back from');

  t.equal((await health('mark-bad', '2')).code, 0);
  const applier = startApplier(['run', '--store', store.root, '--name', store.name, '--health-seconds', '1']);
  await applier.logged('"event":"health.passed"');
  process.kill(applier.pid, 'SIGTERM');
  const rolled = await applier.done;
  t.equal(rolled.code, 0, rolled.stderr);
  t.equal(rolled.stdout, 'v1 up\n', 'v2 never started');
  t.match(rolled.stderr, /"event":"release.rolled-back".*"fromVersion":2.*"toVersion":1/);
  const records = await readHealthRecords(await DeviceStore.open(store.root));
  t.same([verdictOf(records, store.manifests[0]), verdictOf(records, store.manifests[1])], ['healthy', 'failed']);
});
