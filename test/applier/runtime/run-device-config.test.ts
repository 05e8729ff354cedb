import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import t from 'tap';
import type { ImageConfig } from '../../../shared/oci.js';
import { loadDeviceConfig, parseDeviceConfig } from '../../../applier/runtime/device-config.js';
import { runtimeSpec } from '../../../filesystem/runtime-spec.js';
import { containerStore } from '../../helpers/container-store.js';
import { runProcess } from '../../helpers/run.js';
import { startApplier } from '../../helpers/running-applier.js';
import { RUNC_NEEDS_ROOT, skipUnlessAvailable } from '../../helpers/required-features.js';
import { APPLIER_EXIT_CODES } from '../../../shared/errors.js';

const skip = skipUnlessAvailable(RUNC_NEEDS_ROOT);
const FILE = '/etc/prtiql/device.json';
const parse = (value: unknown) => parseDeviceConfig(JSON.stringify(value), FILE);

t.test('a device config: mounts, env, network, limits', async (t) => {
  t.same(
    parse({
      mounts: [
        { source: '/var/lib/app', destination: '/data' },
        { source: '/etc/app/key.pem', destination: '/run/secrets/key.pem', readOnly: true },
      ],
      env: { LOG_LEVEL: 'debug', EMPTY: '' },
      network: 'host',
      memoryLimit: '256M',
      pidsLimit: 100,
    }),
    {
      mounts: [
        { source: '/var/lib/app', destination: '/data', readOnly: false },
        { source: '/etc/app/key.pem', destination: '/run/secrets/key.pem', readOnly: true },
      ],
      env: { LOG_LEVEL: 'debug', EMPTY: '' },
      network: 'host',
      memoryLimit: 256 * 1024 * 1024,
      pidsLimit: 100,
    },
  );
  t.same(parse({}), { mounts: [], env: {} }, 'every key is optional');
  t.equal(parse({ workload: 'job' }).workload, 'job');
  t.equal(parse({ workload: 'service' }).workload, 'service');
  for (const [text, bytes] of [[8388608, 8388608], ['8388608', 8388608], ['64m', 64 << 20], ['1G', 1 << 30], ['65536KiB', 64 << 20], ['1gb', 1 << 30]] as const) {
    t.equal(parse({ memoryLimit: text }).memoryLimit, bytes, `memoryLimit ${text}`);
  }
});

t.test('anything unknown or unsafe in the device config is refused, naming the file and the key', async (t) => {
  const refused = (value: unknown, message: RegExp) => t.throws(() => parse(value), { code: 'E_BAD_INPUT', message }, message.source);
  refused({ mount: [] }, /\/etc\/prtiql\/device.json: unknown key "mount"; known keys: mounts, env/);
  refused({ mounts: [{ source: '/a', destination: '/b', options: ['rw'] }] }, /unknown key "options" in mounts\[0\]/);
  refused({ mounts: {} }, /"mounts" must be a list/);
  refused({ mounts: [{ source: 'relative', destination: '/b' }] }, /mounts\[0\]\.source must be an absolute path/);
  refused({ mounts: [{ source: '/a' }] }, /mounts\[0\]\.destination must be an absolute path/);
  refused({ mounts: [{ source: '/a', destination: '/b/../etc' }] }, /mounts\[0\]\.destination must be a plain absolute path/);
  refused({ mounts: [{ source: '/a//b', destination: '/b' }] }, /source must be a plain absolute path/);
  refused({ mounts: [{ source: '/a', destination: '/b/' }] }, /trailing/);
  refused({ mounts: [{ source: '/a', destination: '/b,c' }] }, /plain absolute path/);
  for (const destination of ['/', '/proc', '/proc/sys', '/sys/fs', '/dev', '/dev/shm']) {
    refused({ mounts: [{ source: '/a', destination }] }, /the container's root or inside \/proc, \/sys, \/dev/);
  }
  refused({ mounts: [{ source: '/a', destination: '/d' }, { source: '/b', destination: '/d' }] }, /two mounts have the destination \/d/);
  refused({ mounts: [{ source: '/a', destination: '/d', readOnly: 'yes' }] }, /readOnly must be true or false/);
  refused({ env: ['A=1'] }, /"env" must be a JSON object/);
  refused({ env: { 'A=B': 'x' } }, /env name "A=B" is not a variable name/);
  refused({ env: { A: 1 } }, /env A must be a string/);
  refused({ network: 'bridge' }, /"network" is "none" or "host"/);
  refused({ memoryLimit: '5M' }, /at least 6291456 bytes/);
  refused({ memoryLimit: '1T' }, /"memoryLimit" must be bytes/);
  refused({ memoryLimit: -1 }, /at least/);
  refused({ pidsLimit: 0 }, /"pidsLimit" must be a positive integer/);
  refused({ workload: 'daemon' }, /"workload" is "service" \(runs until stopped\) or "job" \(does its work and exits\)/);
  refused({ workload: true }, /"workload" is "service"/);
  refused({ pidsLimit: 1.5 }, /positive integer/);
  refused([], /the file must be a JSON object/);
  t.throws(() => parseDeviceConfig('{"env":', FILE), { code: 'E_BAD_INPUT', message: /not valid JSON/ });
});

t.test('a named config file must exist, and so must its mount sources', async (t) => {
  const dir = t.testdir();
  await t.rejects(loadDeviceConfig(join(dir, 'missing.json')), { code: 'E_NOT_FOUND', message: /missing.json does not exist/ });
  await writeFile(join(dir, 'device.json'), JSON.stringify({ mounts: [{ source: join(dir, 'nowhere'), destination: '/data' }] }));
  await t.rejects(loadDeviceConfig(join(dir, 'device.json')), { code: 'E_NOT_FOUND', message: /mount source .*nowhere does not exist/ });
  await mkdir(join(dir, 'nowhere'));
  t.same((await loadDeviceConfig(join(dir, 'device.json'))).mounts, [{ source: join(dir, 'nowhere'), destination: '/data', readOnly: false }]);
  await writeFile(join(dir, 'big.json'), `{"env":{"A":"${'x'.repeat(70_000)}"}}`);
  await t.rejects(loadDeviceConfig(join(dir, 'big.json')), { code: 'E_TOO_LARGE' });
});

t.test('the runtime spec carries the device settings', async (t) => {
  const image: ImageConfig = { architecture: 'amd64', os: 'linux', config: { Cmd: ['true'], Env: ['LOG_LEVEL=info', 'KEEP=1'] }, rootfs: { type: 'layers', diff_ids: [] } };
  const device = parse({
    mounts: [
      { source: '/srv/data', destination: '/data' },
      { source: '/etc/key', destination: '/key', readOnly: true },
    ],
    env: { LOG_LEVEL: 'debug', HOME: '/data' },
    memoryLimit: '64M',
    pidsLimit: 50,
  });
  const spec = runtimeSpec(image, { containerId: 'box', network: 'none', accounts: {}, host: device });
  t.same(spec.mounts.slice(-2), [
    { destination: '/data', type: 'bind', source: '/srv/data', options: ['rbind', 'rw', 'nosuid', 'nodev'] },
    { destination: '/key', type: 'bind', source: '/etc/key', options: ['rbind', 'ro', 'nosuid', 'nodev'] },
  ]);
  t.same(spec.process.env.slice(1), ['HOSTNAME=box', 'LOG_LEVEL=debug', 'KEEP=1', 'HOME=/data'], "the device's env wins over the image's");
  t.same(spec.linux.resources.memory, { limit: 64 * 1024 * 1024 });
  t.same(spec.linux.resources.pids, { limit: 50 });

  const plain = runtimeSpec(image, { containerId: 'box', network: 'none', accounts: {} });
  t.notOk('memory' in plain.linux.resources || 'pids' in plain.linux.resources, 'no limits unless configured');
  t.equal(plain.mounts.length, spec.mounts.length - 2);
});

/** The limit runc put on the container's process, read from the host's cgroup file system (v1 or v2). */
async function cgroupLimit(pid: number, controller: 'memory' | 'pids'): Promise<string> {
  const lines = (await readFile(`/proc/${pid}/cgroup`, 'utf8')).trim().split('\n').map((line) => line.split(':'));
  const v1 = lines.find(([, controllers]) => controllers.split(',').includes(controller));
  if (v1) return (await readFile(join('/sys/fs/cgroup', controller, v1[2], controller === 'memory' ? 'memory.limit_in_bytes' : 'pids.max'), 'utf8')).trim();
  const v2 = lines.find(([id]) => id === '0')!;
  return (await readFile(join('/sys/fs/cgroup', v2[2], `${controller}.max`), 'utf8')).trim();
}

t.test('runc honours the device config: env, bind mounts, limits, network', { skip }, async (t) => {
  const store = await containerStore(t, [
    {
      Cmd: [
        'sh',
        '-c',
        'echo "$LOG_LEVEL $FROM_DEVICE"; cat /data/in /key; echo written > /data/out; echo x > /key || echo key is read-only; ls /sys/class/net | wc -l; echo ready; trap "exit 0" TERM; while true; do sleep 0.1; done',
      ],
      Env: ['LOG_LEVEL=info'],
    },
  ]);
  const host = t.testdir({ data: { in: 'from the device\n' }, key: 'secret\n' });
  const config = join(host, 'device.json');
  await writeFile(
    config,
    JSON.stringify({
      mounts: [
        { source: join(host, 'data'), destination: '/data' },
        { source: join(host, 'key'), destination: '/key', readOnly: true },
      ],
      env: { LOG_LEVEL: 'debug', FROM_DEVICE: 'yes' },
      network: 'host',
      memoryLimit: '64M',
      pidsLimit: 42,
    }),
  );
  const applier = startApplier(['run', '--store', store.root, '--name', store.name, '--config', config, '--health-seconds', '0']);
  await applier.printed('ready');
  const pid = (JSON.parse((await runProcess('runc', ['state', store.name])).stdout) as { pid: number }).pid;
  t.equal(await cgroupLimit(pid, 'memory'), String(64 * 1024 * 1024), 'memory limit');
  t.equal(await cgroupLimit(pid, 'pids'), '42', 'pids limit');
  process.kill(applier.pid, 'SIGTERM');
  const result = await applier.done;
  t.equal(result.code, 0, result.stderr);
  const lines = result.stdout.split('\n');
  t.same(lines.slice(0, 4), ['debug yes', 'from the device', 'secret', 'key is read-only']);
  t.ok(Number(lines[4]) > 1, 'network host from the device config: more than loopback');
  t.equal(await readFile(join(host, 'data/out'), 'utf8'), 'written\n', 'the rw mount reaches the device');
  t.equal(await readFile(join(host, 'key'), 'utf8'), 'secret\n');

  const overridden = startApplier(['run', '--store', store.root, '--name', store.name, '--config', config, '--health-seconds', '0', '--network', 'none']);
  await overridden.printed('ready');
  process.kill(overridden.pid, 'SIGTERM');
  t.equal((await overridden.done).stdout.split('\n')[4], '1', '--network none overrides the device config: loopback only');
});

t.test('a bad device config stops the run before anything is built', { skip }, async (t) => {
  const store = await containerStore(t, [{ Cmd: ['true'] }]);
  const config = join(t.testdir(), 'device.json');
  await writeFile(config, JSON.stringify({ memory: '64M' }));
  const result = await startApplier(['run', '--store', store.root, '--name', store.name, '--config', config]).done;
  t.equal(result.code, APPLIER_EXIT_CODES.E_BAD_INPUT);
  t.match(result.stderr, /E_BAD_INPUT: device config .*device.json: unknown key "memory"/);
});
