import t from 'tap';
import type { ImageConfig } from '../../shared/oci.js';
import {
  DEFAULT_PATH,
  processArgs,
  processEnv,
  resolveUser,
  runtimeSpec,
  stopSignal,
} from '../../filesystem/runtime-spec.js';
import { DEFAULT_CAPABILITIES } from '../../filesystem/confinement.js';
import { BUSYBOX_GROUP, BUSYBOX_PASSWD } from '../../fixtures/busybox-rootfs.js';

const accounts = { passwd: BUSYBOX_PASSWD, group: BUSYBOX_GROUP };

function image(config: ImageConfig['config']): ImageConfig {
  return { architecture: 'amd64', os: 'linux', config, rootfs: { type: 'layers', diff_ids: [] } };
}

t.test('process args are Entrypoint then Cmd', async (t) => {
  t.same(processArgs({ Entrypoint: ['/app/hello.sh'], Cmd: ['sh', '-c', 'exit 3'] }), ['/app/hello.sh', 'sh', '-c', 'exit 3']);
  t.same(processArgs({ Entrypoint: ['/bin/echo', 'hi'] }), ['/bin/echo', 'hi']);
  t.same(processArgs({ Cmd: ['echo', 'hello'] }), ['echo', 'hello']);
  t.same(processArgs({ Entrypoint: [], Cmd: ['true'] }), ['true']);
  t.throws(() => processArgs({}), { code: 'E_BAD_INPUT' });
  t.throws(() => processArgs({ Entrypoint: [], Cmd: [] }), { message: /neither Entrypoint nor Cmd/ });
});

t.test('env: PATH and HOSTNAME defaults, image Env wins, HOME from the user', async (t) => {
  t.same(processEnv({}, 'box', '/root'), [`PATH=${DEFAULT_PATH}`, 'HOSTNAME=box', 'HOME=/root']);
  t.same(processEnv({ Env: ['PATH=/opt/bin', 'A=1=2', 'HOME=/data', 'EMPTY='] }, 'box', '/root'), [
    'PATH=/opt/bin',
    'HOSTNAME=box',
    'A=1=2',
    'HOME=/data',
    'EMPTY=',
  ]);
  t.same(processEnv({ Env: ['HOSTNAME=fixed', 'A=1', 'A=2'] }, 'box', '/'), [`PATH=${DEFAULT_PATH}`, 'HOSTNAME=fixed', 'A=2', 'HOME=/']);
  t.throws(() => processEnv({ Env: ['NOEQUALS'] }, 'box', '/'), { code: 'E_BAD_INPUT' });
  t.throws(() => processEnv({ Env: ['=value'] }, 'box', '/'), { message: /not NAME=value/ });
});

t.test('user forms resolve against the image accounts', async (t) => {
  t.same(resolveUser('', accounts), { processUser: { uid: 0, gid: 0 }, home: '/root' });
  t.same(resolveUser('0', accounts), { processUser: { uid: 0, gid: 0 }, home: '/root' });
  t.same(resolveUser('1000', accounts), { processUser: { uid: 1000, gid: 1000, additionalGids: [50] }, home: '/home/app' });
  t.same(resolveUser('4242', accounts), { processUser: { uid: 4242, gid: 0 }, home: '/' }, 'unknown uid runs with gid 0');
  t.same(resolveUser('4242:7', accounts), { processUser: { uid: 4242, gid: 7 }, home: '/' });
  t.same(resolveUser('app', accounts), { processUser: { uid: 1000, gid: 1000, additionalGids: [50] }, home: '/home/app' });
  t.same(resolveUser('app:staff', accounts), { processUser: { uid: 1000, gid: 50 }, home: '/home/app' });
  t.same(resolveUser('nobody:app', accounts), { processUser: { uid: 65534, gid: 1000 }, home: '/nonexistent' });
  t.same(resolveUser('app:0', accounts), { processUser: { uid: 1000, gid: 0, additionalGids: [50] }, home: '/home/app' });
  t.same(resolveUser('1000:nogroup', accounts), { processUser: { uid: 1000, gid: 65534, additionalGids: [50] }, home: '/home/app' });
  t.same(resolveUser('7', {}), { processUser: { uid: 7, gid: 0 }, home: '/' }, 'numeric ids need no accounts');
});

t.test('a user or group the image does not know is a typed error naming it', async (t) => {
  const badInput = (message: RegExp) => ({ code: 'E_BAD_INPUT', message });
  t.throws(() => resolveUser('ghost', accounts), badInput(/"ghost".*\/etc\/passwd/));
  t.throws(() => resolveUser('app:ghosts', accounts), badInput(/"ghosts".*\/etc\/group/));
  t.throws(() => resolveUser('app', {}), badInput(/"app"/), 'no /etc/passwd in the image');
  t.throws(() => resolveUser('a:b:c', accounts), badInput(/user\[:group\]/));
  t.throws(() => resolveUser('app:', accounts), badInput(/user\[:group\]/));
  t.throws(() => resolveUser(':50', accounts), badInput(/user\[:group\]/));
  t.throws(() => resolveUser('99999999999', accounts), badInput(/out of range/));
});

t.test('runtime spec maps the image config and sets the container defaults', async (t) => {
  const spec = runtimeSpec(image({ Entrypoint: ['/app/hello.sh'], Cmd: ['id'], User: 'app', WorkingDir: '/home/app', Env: ['GREETING=hi'] }), {
    containerId: 'demo',
    network: 'none',
    accounts,
  });
  t.same(spec.process.args, ['/app/hello.sh', 'id']);
  t.same(spec.process.user, { uid: 1000, gid: 1000, additionalGids: [50] });
  t.equal(spec.process.cwd, '/home/app');
  t.same(spec.process.env, [`PATH=${DEFAULT_PATH}`, 'HOSTNAME=demo', 'GREETING=hi', 'HOME=/home/app']);
  t.equal(spec.process.terminal, false);
  t.equal(spec.process.noNewPrivileges, true);
  t.same(spec.process.capabilities.bounding, DEFAULT_CAPABILITIES);
  t.same(spec.process.capabilities.ambient, []);
  t.notOk(DEFAULT_CAPABILITIES.includes('CAP_SYS_ADMIN'));
  t.equal(spec.hostname, 'demo');
  t.same(spec.root, { path: 'rootfs', readonly: false });
  t.same(spec.linux.namespaces.map((namespace) => namespace.type).sort(), ['ipc', 'mount', 'network', 'pid', 'uts']);
  t.same(spec.mounts.map((mount) => mount.destination), ['/proc', '/dev', '/dev/pts', '/dev/shm', '/dev/mqueue', '/sys']);
  t.ok(spec.mounts.find((mount) => mount.destination === '/sys')?.options.includes('ro'));
  t.ok(spec.linux.maskedPaths.includes('/proc/kcore'));
  t.ok(spec.linux.readonlyPaths.includes('/proc/sys'));
  t.equal(runtimeSpec(image({ Cmd: ['true'] }), { containerId: 'x', network: 'none', accounts }).process.cwd, '/');
});

t.test('host network: no network namespace, the host resolver files mounted read-only', async (t) => {
  const spec = runtimeSpec(image({ Cmd: ['true'] }), { containerId: 'x', network: 'host', accounts });
  t.notOk(spec.linux.namespaces.some((namespace) => namespace.type === 'network'));
  const resolv = spec.mounts.find((mount) => mount.destination === '/etc/resolv.conf');
  t.equal(resolv?.type, 'bind');
  t.ok(resolv?.options.includes('ro'));
});

t.test('a relative WorkingDir or a bad User is refused before anything runs', async (t) => {
  t.throws(
    () => runtimeSpec(image({ Cmd: ['true'], WorkingDir: 'app' }), { containerId: 'x', network: 'none', accounts }),
    { code: 'E_BAD_INPUT', message: /WorkingDir/ },
  );
  t.throws(
    () => runtimeSpec(image({ Cmd: ['true'], User: 'ghost' }), { containerId: 'x', network: 'none', accounts }),
    { code: 'E_BAD_INPUT' },
  );
});

t.test('stop signal: the image StopSignal by name or number, else SIGTERM', async (t) => {
  t.equal(stopSignal({}), 'SIGTERM');
  t.equal(stopSignal({ StopSignal: 'SIGQUIT' }), 'SIGQUIT');
  t.equal(stopSignal({ StopSignal: 'usr1' }), 'SIGUSR1');
  t.equal(stopSignal({ StopSignal: '2' }), 'SIGINT');
  t.throws(() => stopSignal({ StopSignal: 'SIGNOPE' }), { code: 'E_BAD_INPUT' });
  t.throws(() => stopSignal({ StopSignal: '999' }), { code: 'E_BAD_INPUT' });
});
