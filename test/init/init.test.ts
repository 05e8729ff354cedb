import { access, chmod, mkdir, mkdtemp, readdir, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { createServer, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { pathToFileURL } from 'node:url';
import t, { type Test } from 'tap';
import { APPLIER_EXIT_CODES } from '../../shared/errors.js';
import { releaseRootfs } from '../../filesystem/rootfs.js';
import { SERVICE_CREDENTIALS } from '../../applier/update/fetch/service-credentials.js';
import { APPLIER_BUNDLE, ensureApplierBundle } from '../helpers/applier-bundle.js';
import { REPO_ROOT, runProcess } from '../helpers/run.js';
import { publishRunnableRelease } from '../helpers/runnable-release.js';
import { startProcess } from '../helpers/running-applier.js';
import { newSigner, trustRootJson } from '../helpers/signed-artifact-store.js';
import { missingCommand, missingPath, RUNC_NEEDS_ROOT, skipUnlessAvailable } from '../helpers/required-features.js';

const INIT = join(REPO_ROOT, 'init');
const APP_UNIT = join(INIT, 'prtiql.service');
const UPDATE_UNIT = join(INIT, 'prtiql-update.service');
const UPDATE_TIMER = join(INIT, 'prtiql-update.timer');
const SCRIPT = join(INIT, 'prtiql.busybox');
const APP_STATE = join(INIT, 'prtiql-app-state');
const ENV_EXAMPLE = join(INIT, 'applier.env');
const BUSYBOX = '/usr/bin/busybox';
const exists = (path: string) => access(path).then(() => true, () => false);

const analyzeSkip = skipUnlessAvailable(await missingCommand('systemd-analyze', ['--version'], 'systemd-analyze is not installed (Debian package systemd)'));
const noBusybox = skipUnlessAvailable(await missingPath(BUSYBOX, 'busybox is not installed (Debian package busybox-static)'));
const busyboxSkip = skipUnlessAvailable(RUNC_NEEDS_ROOT) || noBusybox;

/** The values of `key` in a unit file, in order. */
function settings(text: string, key: string): string[] {
  return [...text.matchAll(new RegExp(`^${key}=(.*)$`, 'gm'))].map((match) => match[1]);
}
const setting = (text: string, key: string) => settings(text, key).at(-1);

/** Polls until `condition` holds; after two minutes it fails, with `context()` for the diagnosis. */
async function until(condition: () => Promise<boolean>, context: () => Promise<string>): Promise<void> {
  for (let polls = 0; !(await condition()); polls++) {
    if (polls === 1200) throw new Error(`gave up waiting: ${await context()}`);
    await sleep(100);
  }
}

t.test('every shipped unit passes systemd-analyze verify without a warning', { skip: analyzeSkip }, async (t) => {
  const dir = t.testdir();
  for (const unit of [APP_UNIT, UPDATE_UNIT, UPDATE_TIMER]) {
    let text = await readFile(unit, 'utf8');
    // verify checks that the executable exists: use this machine's node where it lives elsewhere
    if (!(await exists('/usr/bin/node'))) text = text.replaceAll('/usr/bin/node ', `${process.execPath} `);
    await writeFile(join(dir, unit.slice(INIT.length + 1)), text);
  }
  const verified = await runProcess('systemd-analyze', ['verify', 'prtiql.service', 'prtiql-update.service', 'prtiql-update.timer'], { cwd: dir });
  t.equal(verified.code, 0, verified.stderr);
  t.equal(verified.stderr, '', 'no warnings');
});

t.test('the app unit runs the installed release at once and is ready once run judges it healthy', async (t) => {
  const text = await readFile(APP_UNIT, 'utf8');
  t.equal(setting(text, 'ExecStartPre'), undefined, 'nothing runs before the app');
  t.notMatch(text, /network-online/, 'the app does not wait for the network');
  t.match(setting(text, 'ExecStart'), /^\/usr\/bin\/node \/usr\/lib\/prtiql\/applier.js run --store %S\/prtiql /);
  t.equal(setting(text, 'StateDirectory'), 'prtiql', 'the store is /var/lib/prtiql');
  t.equal(setting(text, 'Type'), 'notify');
  t.equal(setting(text, 'NotifyAccess'), 'main', 'run sends READY=1 with its own PID');
  t.equal(setting(text, 'TimeoutStartSec'), 'infinity', 'a health check is never cut short');
  t.equal(setting(text, 'RestartPreventExitStatus'), `${APPLIER_EXIT_CODES.E_USAGE} ${APPLIER_EXIT_CODES.E_BAD_INPUT}`);
  t.equal(setting(text, 'Restart'), 'on-failure');
  t.equal(setting(text, 'KillMode'), 'mixed', 'only the applier gets SIGTERM; it relays it');
  t.ok(Number(setting(text, 'TimeoutStopSec')) > Number(/PRTIQL_STOP_TIMEOUT=(\d+)/.exec(text)?.[1]), 'systemd waits longer than the stop timeout');
  t.equal(setting(text, 'Also'), 'prtiql-update.timer');
});

t.test('the update unit gets its secrets as credentials and runs from a randomized, persistent timer', async (t) => {
  const text = await readFile(UPDATE_UNIT, 'utf8');
  t.equal(setting(text, 'Type'), 'oneshot');
  t.match(setting(text, 'After'), /network-online.target/);
  t.match(setting(text, 'ExecStart'), /^\/usr\/bin\/node \/usr\/lib\/prtiql\/applier.js update .*--store %S\/prtiql --trust %d\/root.json$/);
  t.equal(setting(text, 'StateDirectory'), 'prtiql');
  t.same(
    settings(text, 'LoadCredential').map((value) => value.split(':')[0]),
    ['root.json', SERVICE_CREDENTIALS.registryUsername, SERVICE_CREDENTIALS.registryPassword, SERVICE_CREDENTIALS.sourceAuthorization],
    'the names the applier looks for',
  );
  t.notMatch(await readFile(ENV_EXAMPLE, 'utf8'), /^#?PRTIQL_REGISTRY_PASSWORD=/m, 'no secrets in the environment file');

  const timer = await readFile(UPDATE_TIMER, 'utf8');
  t.equal(setting(timer, 'Persistent'), 'true');
  t.ok(setting(timer, 'RandomizedDelaySec'), 'a fleet does not ask at once');
  t.ok(setting(timer, 'OnCalendar') && setting(timer, 'OnBootSec'));
});

t.test("the update unit's ExecStartPost restarts the app exactly when it runs an older image", async (t) => {
  const text = await readFile(UPDATE_UNIT, 'utf8');
  const dir = t.testdir();
  const store = join(dir, 'state', 'prtiql');
  await mkdir(join(store, 'containers', 'app'), { recursive: true });
  // systemctl is not usable without systemd as PID 1: this one records what it was asked
  await mkdir(join(dir, 'bin'));
  await writeFile(join(dir, 'bin', 'systemctl'), `#!/bin/sh\necho "$*" >>${join(dir, 'systemctl.calls')}\n`);
  await chmod(join(dir, 'bin', 'systemctl'), 0o755);
  // what systemd does to the line: specifiers, then $$ -> $
  const script = /^\/bin\/sh -c '(.*)'$/
    .exec(setting(text, 'ExecStartPost')!)![1]
    .replaceAll('%S', join(dir, 'state'))
    .replaceAll('/usr/lib/prtiql/app-state', APP_STATE)
    .replaceAll('$$', '$');
  const calls = async () => (await readFile(join(dir, 'systemctl.calls'), 'utf8').catch(() => '')).split('\n').filter(Boolean);
  const post = () => runProcess('/bin/sh', ['-c', script], { env: { ...process.env, PATH: `${join(dir, 'bin')}:${process.env.PATH}`, PRTIQL_NAME: 'app' } });

  t.equal((await post()).code, 0, 'nothing installed');
  await symlink(`images/${'a'.repeat(64)}`, join(store, 'current'));
  t.equal((await post()).code, 0, 'no container runs');
  await writeFile(join(store, 'containers', 'app', 'image'), `sha256:${'a'.repeat(64)}\n`);
  t.equal((await post()).code, 0, 'it runs the installed image');
  t.same(await calls(), []);
  await writeFile(join(store, 'containers', 'app', 'image'), `sha256:${'b'.repeat(64)}\n`);
  t.equal((await post()).code, 0);
  t.same(await calls(), ['--no-block try-restart prtiql.service'], 'it runs another image');
});

t.test('the init scripts and the env file are valid sh', async (t) => {
  for (const file of [SCRIPT, APP_STATE, ENV_EXAMPLE]) {
    const checked = await runProcess('sh', ['-n', file]);
    t.equal(checked.code, 0, `sh -n ${file}: ${checked.stderr}`);
    if (!noBusybox) t.equal((await runProcess(BUSYBOX, ['sh', '-n', file])).code, 0, `busybox sh -n ${file}`);
  }
  const usage = await runProcess('sh', [SCRIPT, 'bogus'], { env: { ...process.env, PRTIQL_ENV_FILE: '/nonexistent' } });
  t.equal(usage.code, 2);
  t.match(usage.stderr, /usage: .* \{start\|stop\|restart\|status\|update\|foreground\|update-loop\}/);
  t.equal((await runProcess('sh', [APP_STATE])).code, 2);
});

/** A server that accepts connections and never answers: a source the network cannot reach. */
async function unansweringServer(t: Test): Promise<string> {
  const sockets: Socket[] = [];
  const server = createServer((socket) => sockets.push(socket));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => {
    for (const socket of sockets) socket.destroy();
    server.close();
  });
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}/releases`;
}

/** The command lines of the live (not zombie) processes of a process group. */
async function processGroup(pgid: number): Promise<string[]> {
  const members: string[] = [];
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const stat = await readFile(`/proc/${entry}/stat`, 'utf8').catch(() => '');
    const [state, , group] = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    if (Number(group) !== pgid || state === 'Z') continue;
    members.push((await readFile(`/proc/${entry}/cmdline`, 'utf8').catch(() => '')).replaceAll('\0', ' '));
  }
  return members;
}

/** Sends `signal` to a process group that may be gone already. */
function killGroup(pgid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pgid, signal);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ESRCH') throw error;
  }
}

t.test('the busybox init script starts at once, updates in a loop, switches to new releases and stops', { skip: busyboxSkip }, async (t) => {
  await ensureApplierBundle();
  const work = await mkdtemp(join(tmpdir(), 'prtiql-init-'));
  const name = `prtiql-test-${process.pid}-init`;
  const store = join(work, 'device');
  const pidFile = join(work, 'update.pid');
  const updateLog = join(work, 'update.log');
  const loops: number[] = [];
  t.teardown(async () => {
    for (const pid of loops) killGroup(pid, 'SIGKILL');
    await runProcess('runc', ['delete', '--force', name]);
    await releaseRootfs(join(store, 'containers', name));
    await rm(work, { recursive: true, force: true });
  });
  const signer = newSigner();
  await writeFile(join(work, 'root.json'), trustRootJson([signer]));
  const artifacts = join(work, 'artifacts');
  const publish = (version: number) =>
    publishRunnableRelease(artifacts, signer, version, {
      Cmd: ['sh', '-c', `trap "echo stopping; exit 0" TERM; echo v${version} up; while true; do sleep 0.1; done`],
    });
  const envFile = join(work, 'applier.env');
  const writeEnv = (source: string) =>
    writeFile(
      envFile,
      [
        `PRTIQL_SOURCE=${source}`,
        'PRTIQL_CHANNEL=stable',
        `PRTIQL_STORE=${store}`,
        `PRTIQL_TRUST=${join(work, 'root.json')}`,
        `PRTIQL_NAME=${name}`,
        'PRTIQL_STOP_TIMEOUT=2',
        'PRTIQL_RUN_OPTIONS="--health-seconds 1 --rootfs overlay"',
        'PRTIQL_UPDATE_INTERVAL=1',
        'PRTIQL_UPDATE_SPREAD=0',
        `PRTIQL_UPDATE_LOG=${updateLog}`,
        `PRTIQL_UPDATE_PID_FILE=${pidFile}`,
        '',
      ].join('\n'),
    );
  const env = { ...process.env, PRTIQL_ENV_FILE: envFile, NODE: process.execPath, PRTIQL_APPLIER: APPLIER_BUNDLE, PRTIQL_APP_STATE: APP_STATE };
  const script = (action: string) => runProcess(BUSYBOX, ['sh', SCRIPT, action], { env });
  const runcStatus = async () => (JSON.parse((await runProcess('runc', ['state', name])).stdout || '{}') as { status?: string }).status;
  const containerLog = () => readFile(join(store, 'containers', `${name}.log`), 'utf8').catch(() => '');
  const loopPid = async () => Number(await readFile(pidFile, 'utf8'));
  const loopLog = () => readFile(updateLog, 'utf8').catch(() => 'no update log');

  // first boot: nothing installed yet; the update loop installs v1 and starts it
  await publish(1);
  await writeEnv(pathToFileURL(artifacts).href);
  const firstBoot = await script('start');
  t.equal(firstBoot.code, 0, firstBoot.stderr);
  t.match(firstBoot.stderr, `prtiql: the installed version did not start (exit status ${APPLIER_EXIT_CODES.E_NOT_FOUND})`);
  loops.push(await loopPid());
  await until(async () => (await containerLog()).includes('v1 up\n'), loopLog);
  t.equal(await runcStatus(), 'running');

  // a new release: the loop installs it and restarts the container into it
  await publish(2);
  await until(async () => (await containerLog()).includes('v2 up\n'), loopLog);
  t.match(await containerLog(), /v1 up\nstopping\n[^]*v2 up\n/);
  // the container prints before its first start has lasted the health window
  const healthyStatus = async () => /installed: version 2 .*\n[^]*health: {4}healthy/.test((await script('status')).stdout);
  await until(healthyStatus, async () => (await script('status')).stdout);
  t.pass('status shows version 2 installed and healthy');
  t.match(await loopLog(), /"event":"update.committed"[^]*prtiql: switching container/);

  const stopped = await script('stop');
  t.equal(stopped.code, 0, stopped.stderr);
  t.equal(await runcStatus(), undefined, 'the container is gone');
  t.same(await processGroup(loops[0]), [], 'and the update loop');
  t.notOk(await exists(pidFile));

  // the network does not answer: the installed version starts anyway, at once
  await writeEnv(await unansweringServer(t));
  const offline = await script('start');
  t.equal(offline.code, 0, offline.stderr);
  t.equal(await runcStatus(), 'running', 'the installed version started');
  loops.push(await loopPid());
  await until(async () => (await processGroup(loops[1])).some((command) => command.includes(`${APPLIER_BUNDLE} update `)), loopLog);
  t.equal((await script('stop')).code, 0);
  t.same(await processGroup(loops[1]), [], 'stop ends the loop and the update it was waiting on');
  t.equal(await runcStatus(), undefined);

  // inittab: the app in the foreground and the update loop beside it; an update stops the app,
  // and init starts it again on the new release
  await writeEnv(pathToFileURL(artifacts).href);
  const foreground = () => startProcess(BUSYBOX, ['sh', SCRIPT, 'foreground'], env);
  const supervised = foreground();
  await supervised.printed('v2 up\n');
  const loop = startProcess('setsid', [BUSYBOX, 'sh', SCRIPT, 'update-loop'], env);
  loops.push(loop.pid);
  await publish(3);
  const switched = await supervised.done;
  t.equal(switched.code, 0, `exec'd into the applier, which the update stopped: ${switched.stderr}`);
  t.equal(switched.stdout, 'v2 up\nstopping\n');
  const respawned = foreground();
  await respawned.printed('v3 up\n');
  killGroup(loop.pid, 'SIGTERM');
  process.kill(respawned.pid, 'SIGTERM');
  const result = await respawned.done;
  t.equal(result.code, 0, `the applier relayed SIGTERM: ${result.stderr}`);
  t.equal(result.stdout, 'v3 up\nstopping\n');
});
