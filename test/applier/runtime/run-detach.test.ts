import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import t from 'tap';
import { digestHex } from '../../../shared/digest.js';
import { containerLogPaths, writeRotatingLog } from '../../../applier/runtime/container-log.js';
import { readHealthRecords } from '../../../applier/device-store/health-record.js';
import { printContainerLog } from '../../../applier/runtime/logs.js';
import { DeviceStore } from '../../../applier/device-store/device-store.js';
import { runApplier } from '../../helpers/applier-bundle.js';
import { containerStore, leftovers } from '../../helpers/container-store.js';
import { installImage } from '../../helpers/device-store.js';
import { runProcess } from '../../helpers/run.js';
import { startApplier } from '../../helpers/running-applier.js';
import { RUNC_NEEDS_ROOT, skipUnlessAvailable } from '../../helpers/required-features.js';
import { logsOnceComplete } from '../../helpers/container-logs.js';
import { APPLIER_EXIT_CODES } from '../../../shared/errors.js';

const skip = skipUnlessAvailable(RUNC_NEEDS_ROOT);
const runcStatus = async (name: string) => (JSON.parse((await runProcess('runc', ['state', name])).stdout || '{}') as { status?: string }).status;

t.test('run --detach returns once the container is up; logs shows its output; stop takes it down', { skip }, async (t) => {
  const store = await containerStore(t, [
    { Cmd: ['sh', '-c', 'trap "echo stopping; exit 0" TERM; i=0; while true; do echo line $i; i=$((i+1)); sleep 0.1; done'] },
  ]);
  const started = await runApplier(['run', '--detach', '--health-seconds', '1', '--store', store.root, '--name', store.name]);
  t.equal(started.code, 0, started.stderr);
  t.equal(started.stdout, '', 'the container output goes to its log, not to the applier');
  t.match(started.stderr, /"event":"health.passed"/);
  t.equal(await runcStatus(store.name), 'running');
  t.equal(await readFile(join(store.root, 'containers', store.name, 'image'), 'utf8'), `${store.manifests[0]}\n`, 'garbage collection sees the image in use');

  t.match(await logsOnceComplete(store, (text) => /^line 0\nline 1\n/.test(text)), /^line 0\nline 1\n/);

  const follower = startApplier(['logs', '--follow', '--store', store.root, '--name', store.name]);
  await follower.printed('line 20');
  const stopped = await runApplier(['stop', '--store', store.root, '--name', store.name]);
  t.equal(stopped.code, 0, stopped.stderr);
  t.match(stopped.stderr, /"event":"container.stopping".*"signal":"SIGTERM"/);
  const followed = await follower.done;
  t.equal(followed.code, 0, 'logs --follow ends once the container has stopped');
  t.match(followed.stdout, /^line 0\n(line \d+\n)+stopping\n$/, 'everything, in order, up to the last word');

  t.same(await leftovers(store), { bundles: [], mounted: false, runc: 1 }, 'runc state, mount and bundle are gone');
  t.match(await logsOnceComplete(store, (text) => /stopping\n$/.test(text)), /stopping\n$/, 'the log outlives the container');
  const again = await runApplier(['stop', '--store', store.root, '--name', store.name]);
  t.equal(again.code, 0, 'stopping what is not running is fine');
  t.match(again.stderr, /"event":"container.not-running"/);
});

t.test('stop sends the StopSignal, then KILL after --timeout', { skip }, async (t) => {
  const store = await containerStore(t, [
    { Cmd: ['sh', '-c', 'trap "echo got USR1" USR1; trap "" TERM; echo up; while true; do sleep 0.1; done'], StopSignal: 'SIGUSR1' },
  ]);
  t.equal((await runApplier(['run', '--detach', '--health-seconds', '0', '--store', store.root, '--name', store.name])).code, 0);
  const stopped = await runApplier(['stop', '--timeout', '1', '--store', store.root, '--name', store.name]);
  t.equal(stopped.code, 0, stopped.stderr);
  t.match(stopped.stderr, /"signal":"SIGUSR1".*"event":"container.stop-timeout"/s);
  t.equal(await logsOnceComplete(store, (text) => text === 'up\ngot USR1\n'), 'up\ngot USR1\n');
  t.same(await leftovers(store), { bundles: [], mounted: false, runc: 1 });
});

t.test('a detached first start that dies, with nothing to go back to, is an error and leaves nothing behind', { skip }, async (t) => {
  const store = await containerStore(t, [{ Cmd: ['sh', '-c', 'echo cannot work; exit 5'] }]);
  const started = await runApplier(['run', '--detach', '--health-seconds', '5', '--store', store.root, '--name', store.name]);
  t.equal(started.code, APPLIER_EXIT_CODES.E_RUNTIME);
  t.match(started.stderr, /E_RUNTIME: container \S+ failed its first start: the container stopped before it was judged healthy; see applier logs/);
  t.equal(await logsOnceComplete(store, (text) => text === 'cannot work\n'), 'cannot work\n');
  t.same(await leftovers(store), { bundles: [], mounted: false, runc: 1 });
});

t.test('a detached container that cannot even be exec\'d fails like one that dies', { skip }, async (t) => {
  const store = await containerStore(t, [{ Cmd: ['/app/missing'] }]);
  const started = await runApplier(['run', '--detach', '--store', store.root, '--name', store.name]);
  t.equal(started.code, APPLIER_EXIT_CODES.E_RUNTIME);
  t.match(started.stderr, /failed its first start: runc could not start the container \(exit status 1\)/);
  t.match(await logsOnceComplete(store, (text) => text.includes('/app/missing')), /\/app\/missing/, "runc's own error is in the log");
  t.same(await leftovers(store), { bundles: [], mounted: false, runc: 1 });
});

t.test('stop during the health check of a foreground container: its applier cleans up, and there is no verdict', { skip }, async (t) => {
  const store = await containerStore(t, [{ Cmd: ['sh', '-c', 'trap "exit 0" TERM; echo up; while true; do sleep 0.1; done'] }]);
  const owner = startApplier(['run', '--health-seconds', '60', '--store', store.root, '--name', store.name]);
  await owner.printed('up');
  const stopped = await runApplier(['stop', '--store', store.root, '--name', store.name]);
  t.equal(stopped.code, 0, stopped.stderr);
  const result = await owner.done;
  t.equal(result.code, 0, result.stderr);
  t.notMatch(result.stderr, /"event":"health\./, 'a stop is not a failed start');
  t.same(await readHealthRecords(await DeviceStore.open(store.root)), { healthy: [], failed: [] });
  t.same(await leftovers(store), { bundles: [], mounted: false, runc: 1 }, 'the owner removed the container before stop returned');
});

/** Yields the pieces as separate chunks, as reads from a pipe would. */
async function* pieces(...texts: string[]): AsyncGenerator<Buffer> {
  for (const text of texts) yield Buffer.from(text);
}

t.test('the container log rotates at its size and logs prints both parts in order', async (t) => {
  const root = t.testdir({ containers: {}, layers: {}, images: {}, trust: {} });
  const paths = containerLogPaths(root, 'box');
  await writeRotatingLog(pieces('a'.repeat(40), 'b'.repeat(40), 'c'.repeat(40)), paths.current, 100);
  t.equal(await readFile(paths.rotated, 'utf8'), 'a'.repeat(40) + 'b'.repeat(40));
  t.equal(await readFile(paths.current, 'utf8'), 'c'.repeat(40));
  await writeRotatingLog(pieces('d'.repeat(50), 'e'.repeat(20)), paths.current, 100);
  t.equal(await readFile(paths.rotated, 'utf8'), 'c'.repeat(40) + 'd'.repeat(50), 'the older part is replaced: two files at most');
  t.equal(await readFile(paths.current, 'utf8'), 'e'.repeat(20));

  let printed = '';
  const out = new Writable({ write: (chunk, _encoding, done) => ((printed += chunk), done()) });
  t.equal(await printContainerLog({ store: root, name: 'box', follow: false }, out), 0);
  t.equal(printed, 'c'.repeat(40) + 'd'.repeat(50) + 'e'.repeat(20));
  await t.rejects(printContainerLog({ store: root, name: 'other', follow: false }, out), {
    code: 'E_NOT_FOUND',
    message: /container other has no log .*only run --detach writes one/,
  });
});

t.test('garbage collection keeps the image a container was started from', async (t) => {
  const root = t.testdir();
  const layer = (text: string) => async (dir: string) => writeFile(join(dir, 'version'), text);
  await installImage(root, [layer('one')], { Cmd: ['true'] });
  const store = await DeviceStore.open(root);
  const one = (await store.pointer('current'))!;
  await mkdir(join(root, 'containers', 'app'), { recursive: true });
  await writeFile(store.containerImagePath('app'), `${one}\n`);
  await writeFile(join(root, 'containers', 'app.log'), 'output\n');
  await installImage(root, [layer('two')], { Cmd: ['true'] });
  await installImage(root, [layer('three')], { Cmd: ['true'] });
  t.same(await store.containerImages(), [one]);
  t.same(await store.collectGarbage(), { images: [], layers: [] }, 'current, previous and the container image stay');
  t.ok(await store.hasImage(one));

  await rm(join(root, 'containers', 'app'), { recursive: true });
  const removed = await store.collectGarbage();
  t.same(removed.images, [digestHex(one)], 'collected once no container uses it');
  t.equal(removed.layers.length, 1);
});
