import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import type { ContainerConfig } from '../../../shared/oci.js';
import { parseRunOptions } from '../../../applier/commands/run.js';
import { DeviceStore } from '../../../applier/device-store/device-store.js';
import { containerStore, leftovers } from '../../helpers/container-store.js';
import { snapshotTree, type LayerContent } from '../../helpers/device-store.js';
import { startApplier } from '../../helpers/running-applier.js';
import { RUNC_NEEDS_ROOT, skipUnlessAvailable } from '../../helpers/required-features.js';
import { APPLIER_EXIT_CODES, CONTAINER_COMMAND_EXIT_CODES } from '../../../shared/errors.js';

const skip = skipUnlessAvailable(RUNC_NEEDS_ROOT);

/** A store whose current image is busybox + the demo app (+ `extra` layers). */
const deviceStore = async (t: Test, config: ContainerConfig, extra: LayerContent[] = []) => containerStore(t, [config], extra);

/** `applier run ...` as a device would start it. */
const startRun = (args: string[], env?: NodeJS.ProcessEnv) => startApplier(['run', ...args], env);
const runApplier = (args: string[], env?: NodeJS.ProcessEnv) => startRun(args, env).done;

t.test('the container\'s output reaches stdout and nothing is left behind', { skip }, async (t) => {
  const store = await deviceStore(t, { Cmd: ['echo', 'hello'] });
  const result = await runApplier(['--store', store.root, '--name', store.name]);
  t.equal(result.code, 0, result.stderr);
  t.equal(result.stdout, 'hello\n');
  t.match(result.stderr, /"event":"container.started".*"rootfs":"overlay"/);
  t.same(await leftovers(store), { bundles: [], mounted: false, runc: 1 }, 'no bundle, mount or runc state remains');
});

t.test('the container\'s exit status is the applier\'s', { skip }, async (t) => {
  const store = await deviceStore(t, { Cmd: ['sh', '-c', 'exit 3'] });
  t.equal((await runApplier(['--store', store.root, '--name', store.name])).code, 3);
  t.same(await leftovers(store), { bundles: [], mounted: false, runc: 1 });
});

t.test('image Entrypoint, Cmd, Env, User and WorkingDir are honoured', { skip }, async (t) => {
  const store = await deviceStore(t, {
    Entrypoint: ['/app/hello.sh'],
    Cmd: ['sh', '-c', 'id -u; id -g; id -G; pwd; env'],
    Env: ['GREETING=hi there', 'PATH=/bin'],
    User: 'app',
    WorkingDir: '/home/app',
  });
  const result = await runApplier(['--store', store.root, '--name', store.name]);
  t.equal(result.code, 0, result.stderr);
  const lines = result.stdout.split('\n');
  t.equal(lines[0], `hello from ${store.name} as 1000:1000 in /home/app, GREETING=hi there`);
  t.same(lines.slice(1, 5), ['1000', '1000', '1000 50', '/home/app']);
  const env = lines.slice(5).filter((line) => line !== '');
  for (const expected of ['PATH=/bin', `HOSTNAME=${store.name}`, 'GREETING=hi there', 'HOME=/home/app']) {
    t.ok(env.includes(expected), expected);
  }
});

t.test('numeric user:group', { skip }, async (t) => {
  const store = await deviceStore(t, { Cmd: ['sh', '-c', 'id -u; id -g; pwd'], User: '4242:7' });
  const result = await runApplier(['--store', store.root, '--name', store.name]);
  t.equal(result.stdout, '4242\n7\n/\n', result.stderr);
});

t.test('a user the image does not know stops the run before anything is built', { skip }, async (t) => {
  const store = await deviceStore(t, { Cmd: ['true'], User: 'ghost' });
  const result = await runApplier(['--store', store.root, '--name', store.name]);
  t.equal(result.code, APPLIER_EXIT_CODES.E_BAD_INPUT);
  t.match(result.stderr, /"ghost".*\/etc\/passwd/);
  t.same(await leftovers(store), { bundles: [], mounted: false, runc: 1 });
});

t.test("a command runc cannot execute is 126, one it cannot find 127, as docker's; a container's own 1 stays 1", { skip }, async (t) => {
  for (const [Cmd, status] of [
    [['/app/missing'], CONTAINER_COMMAND_EXIT_CODES.notFound],
    [['no-such-command'], CONTAINER_COMMAND_EXIT_CODES.notFound],
    [['/etc/passwd'], CONTAINER_COMMAND_EXIT_CODES.notExecutable],
    [['sh', '-c', 'exit 1'], 1],
  ] as const) {
    const store = await deviceStore(t, { Cmd: [...Cmd] });
    const result = await runApplier(['--store', store.root, '--name', store.name, '--health-seconds', '0']);
    t.equal(result.code, status, `${Cmd.join(' ')}: ${result.stderr}`);
    if (status === 1) t.notMatch(result.stderr, /container.runc-failed/);
    else t.match(result.stderr, new RegExp(`"event":"container.runc-failed".*"status":${status},"message":"runc run failed: .*exec: `));
    t.same(await leftovers(store), { bundles: [], mounted: false, runc: 1 });
  }
});

const LOOP_UNTIL_SIGNALLED = 'echo ready; while true; do sleep 0.1; done';

t.test('SIGTERM and SIGINT reach the container', { skip }, async (t) => {
  for (const [signal, status] of [['SIGTERM', 42], ['SIGINT', 43]] as const) {
    const trapped = signal.slice(3);
    const store = await deviceStore(t, { Cmd: ['sh', '-c', `trap "exit ${status}" ${trapped}; ${LOOP_UNTIL_SIGNALLED}`] });
    const applier = startRun(['--store', store.root, '--name', store.name]);
    await applier.printed('ready');
    process.kill(applier.pid, signal);
    const result = await applier.done;
    t.equal(result.code, status, `${signal}: ${result.stderr}`);
    t.same(await leftovers(store), { bundles: [], mounted: false, runc: 1 });
  }
});

t.test('SIGTERM becomes the image\'s StopSignal', { skip }, async (t) => {
  const store = await deviceStore(t, {
    Cmd: ['sh', '-c', `trap "exit 44" USR1; trap "exit 1" TERM; ${LOOP_UNTIL_SIGNALLED}`],
    StopSignal: 'SIGUSR1',
  });
  const applier = startRun(['--store', store.root, '--name', store.name]);
  await applier.printed('ready');
  process.kill(applier.pid, 'SIGTERM');
  t.equal((await applier.done).code, 44);
});

t.test('a container that ignores the stop request is killed after --stop-timeout', { skip }, async (t) => {
  const store = await deviceStore(t, { Cmd: ['sh', '-c', `trap "" TERM; ${LOOP_UNTIL_SIGNALLED}`] });
  const applier = startRun(['--store', store.root, '--name', store.name, '--stop-timeout', '1']);
  await applier.printed('ready');
  process.kill(applier.pid, 'SIGTERM');
  const result = await applier.done;
  t.equal(result.code, 128 + 9, result.stderr);
  t.match(result.stderr, /"event":"container.stop-timeout"/);
  t.same(await leftovers(store), { bundles: [], mounted: false, runc: 1 });
});

t.test('a second applier for a running container is refused without disturbing it', { skip }, async (t) => {
  const store = await deviceStore(t, { Cmd: ['sh', '-c', `trap "exit 42" TERM; ${LOOP_UNTIL_SIGNALLED}`] });
  const first = startRun(['--store', store.root, '--name', store.name]);
  await first.printed('ready');
  const second = await runApplier(['--store', store.root, '--name', store.name]);
  t.equal(second.code, APPLIER_EXIT_CODES.E_BUSY);
  t.match(second.stderr, /already running/);
  process.kill(first.pid, 'SIGTERM');
  t.equal((await first.done).code, 42, 'the first container ran on undisturbed');
});

t.test('what the container writes never reaches the committed layers', { skip }, async (t) => {
  for (const rootfs of ['overlay', 'copy']) {
    const store = await deviceStore(t, {
      Cmd: ['sh', '-c', 'echo new > /bin/new; echo more >> /app/hello.sh; rm /etc/passwd; rm -r /home; touch /etc; echo done'],
    });
    const before = await Promise.all(store.layerDirs.map((dir) => snapshotTree(dir)));
    const result = await runApplier(['--store', store.root, '--name', store.name, '--rootfs', rootfs]);
    t.equal(result.stdout, 'done\n', result.stderr);
    t.same(await Promise.all(store.layerDirs.map((dir) => snapshotTree(dir))), before, `${rootfs}: layers unchanged`);
    const again = await runApplier(['--store', store.root, '--name', store.name, '--rootfs', rootfs]);
    t.equal(again.code, 0, `${rootfs}: the next run starts from the committed layers again`);
  }
});

t.test('a layer\'s whiteouts hide the lower files inside the container', { skip }, async (t) => {
  const lower: LayerContent = async (dir) => {
    await mkdir(join(dir, 'srv/data'), { recursive: true });
    await writeFile(join(dir, 'srv/data/old-a'), 'a');
    await writeFile(join(dir, 'srv/data/old-b'), 'b');
    await writeFile(join(dir, 'srv/motd'), 'welcome');
  };
  const upper: LayerContent = async (dir) => {
    await mkdir(join(dir, 'srv/data'), { recursive: true });
    await writeFile(join(dir, 'srv/.wh.motd'), '');
    await writeFile(join(dir, 'srv/data/.wh..wh..opq'), '');
    await writeFile(join(dir, 'srv/data/new'), 'n');
  };
  for (const rootfs of ['overlay', 'copy']) {
    const store = await deviceStore(t, { Cmd: ['sh', '-c', 'ls -a /srv /srv/data; test ! -e /srv/motd && echo hidden'] }, [lower, upper]);
    const result = await runApplier(['--store', store.root, '--name', store.name, '--rootfs', rootfs]);
    t.equal(result.code, 0, result.stderr);
    t.equal(result.stdout, '/srv:\n.\n..\ndata\n\n/srv/data:\n.\n..\nnew\nhidden\n', rootfs);
  }
});

t.test('network: none has loopback only, host shares the device\'s interfaces', { skip }, async (t) => {
  const hostInterfaces = (await readdir('/sys/class/net')).sort();
  for (const [network, expected] of [['none', ['lo']], ['host', hostInterfaces]] as const) {
    const store = await deviceStore(t, { Cmd: ['ls', '/sys/class/net'] });
    const result = await runApplier(['--store', store.root, '--name', store.name, '--network', network]);
    t.equal(result.code, 0, result.stderr);
    t.same(result.stdout.split('\n').filter((line) => line !== '').sort(), expected, network);
  }
});

t.test('a stale bundle from a crash is cleared before the run', { skip }, async (t) => {
  const store = await deviceStore(t, { Cmd: ['ls', '/'] });
  await mkdir(join(store.root, 'containers', store.name, 'rootfs/leftover'), { recursive: true });
  const result = await runApplier(['--store', store.root, '--name', store.name]);
  t.equal(result.code, 0, result.stderr);
  t.notMatch(result.stdout, /leftover/);
  t.same(await leftovers(store), { bundles: [], mounted: false, runc: 1 });
});

t.test('missing runc, store or image are typed errors', { skip }, async (t) => {
  const store = await deviceStore(t, { Cmd: ['true'] });
  const noRunc = await runApplier(['--store', store.root, '--name', store.name], { ...process.env, PATH: '/nonexistent' });
  t.equal(noRunc.code, APPLIER_EXIT_CODES.E_RUNTIME);
  t.match(noRunc.stderr, /runc is not installed \(Debian package runc\)/);

  const empty = await mkdtemp(join(tmpdir(), 'prtiql-run-empty-'));
  t.teardown(() => rm(empty, { recursive: true, force: true }));
  await DeviceStore.create(empty);
  const noImage = await runApplier(['--store', empty]);
  t.equal(noImage.code, APPLIER_EXIT_CODES.E_NOT_FOUND);
  t.match(noImage.stderr, /no image is installed/);
  t.equal((await runApplier(['--store', join(empty, 'nowhere')])).code, APPLIER_EXIT_CODES.E_NO_STORE);

  await rm(store.layerDirs[1], { recursive: true });
  const noLayer = await runApplier(['--store', store.root, '--name', store.name]);
  t.equal(noLayer.code, APPLIER_EXIT_CODES.E_NOT_FOUND);
  t.match(noLayer.stderr, /layer sha256:[0-9a-f]{64} of the current image is missing/);
});

t.test('options: defaults, and every mistake is a usage error', async (t) => {
  t.same(parseRunOptions(['--store', '/var/lib/prtiql']), {
    store: '/var/lib/prtiql',
    name: 'prtiql',
    rootfs: 'auto',
    stopTimeout: 10,
    detach: false,
    healthSeconds: 10,
  });
  t.same(
    parseRunOptions([
      '--store', '/s', '--name', 'app.v2_b+c-d', '--network', 'host', '--rootfs', 'copy', '--stop-timeout', '2.5',
      '--detach', '--health-seconds', '0', '--config', '/etc/device.json',
    ]),
    {
      store: '/s',
      name: 'app.v2_b+c-d',
      network: 'host',
      rootfs: 'copy',
      stopTimeout: 2.5,
      detach: true,
      healthSeconds: 0,
      config: '/etc/device.json',
    },
  );
  for (const args of [
    [],
    ['--store', '/x', '--name', '../escape'],
    ['--store', '/x', '--name', '.hidden'],
    ['--store', '/x', '--network', 'bridge'],
    ['--store', '/x', '--rootfs', 'zfs'],
    ['--store', '/x', '--stop-timeout', 'soon'],
    ['--store', '/x', '--stop-timeout', '-1'],
    ['--store', '/x', '--health-seconds', ''],
    ['--store', '/x', '--health-seconds', '-2'],
    ['--store', '/x', '--config', ''],
    ['--store', '/x', '--detach=yes'],
    ['--store', '/x', 'extra'],
    ['--store', '/x', '--tty'],
  ]) {
    t.throws(() => parseRunOptions(args), { code: 'E_USAGE' }, args.join(' '));
  }
});
