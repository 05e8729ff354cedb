import { access, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import t from 'tap';
import { APPLIER_EXIT_CODES } from '../../shared/errors.js';
import { releaseRootfs } from '../../filesystem/rootfs.js';
import { APPLIER_BUNDLE, ensureApplierBundle } from '../helpers/applier-bundle.js';
import { REPO_ROOT, runProcess } from '../helpers/run.js';
import { publishRunnableRelease } from '../helpers/runnable-release.js';
import { startProcess } from '../helpers/running-applier.js';
import { newSigner, trustRootJson } from '../helpers/signed-artifact-store.js';
import { missingCommand, missingPath, RUNC_NEEDS_ROOT, skipUnlessAvailable } from '../helpers/required-features.js';
import { logsOnceComplete } from '../helpers/container-logs.js';

const UNIT = join(REPO_ROOT, 'init/prtiql.service');
const SCRIPT = join(REPO_ROOT, 'init/prtiql.busybox');
const ENV_EXAMPLE = join(REPO_ROOT, 'init/applier.env');
const BUSYBOX = '/usr/bin/busybox';
const exists = (path: string) => access(path).then(() => true, () => false);

const analyzeSkip = skipUnlessAvailable(await missingCommand('systemd-analyze', ['--version'], 'systemd-analyze is not installed (Debian package systemd)'));
const noBusybox = skipUnlessAvailable(await missingPath(BUSYBOX, 'busybox is not installed (Debian package busybox-static)'));
const busyboxSkip = skipUnlessAvailable(RUNC_NEEDS_ROOT) || noBusybox;

t.test('the systemd unit passes systemd-analyze verify without a warning', { skip: analyzeSkip }, async (t) => {
  const unit = join(t.testdir(), 'prtiql.service');
  let text = await readFile(UNIT, 'utf8');
  // verify checks that the executable exists: use this machine's node where it lives elsewhere
  if (!(await exists('/usr/bin/node'))) text = text.replaceAll('/usr/bin/node ', `${process.execPath} `);
  await writeFile(unit, text);
  const verified = await runProcess('systemd-analyze', ['verify', unit]);
  t.equal(verified.code, 0, verified.stderr);
  t.equal(verified.stderr, '', 'no warnings');
});

t.test('the unit stops restarting exactly on the documented permanent codes of run', async (t) => {
  const text = await readFile(UNIT, 'utf8');
  const setting = (key: string) => new RegExp(`^${key}=(.*)$`, 'm').exec(text)?.[1];
  t.equal(setting('RestartPreventExitStatus'), `${APPLIER_EXIT_CODES.E_USAGE} ${APPLIER_EXIT_CODES.E_BAD_INPUT}`);
  t.equal(setting('Restart'), 'on-failure');
  t.equal(setting('KillMode'), 'mixed', 'only the applier gets SIGTERM; it relays it');
  t.ok(Number(setting('TimeoutStopSec')) > Number(/PRTIQL_STOP_TIMEOUT=(\d+)/.exec(text)?.[1]), 'systemd waits longer than the stop timeout');
  t.match(setting('ExecStartPre'), /^-\/usr\/bin\/node \/usr\/lib\/prtiql\/applier.js update /, 'a failed update does not stop the start');
  t.match(setting('ExecStart'), /applier.js run --store \$\{PRTIQL_STORE\}/);
});

t.test('the busybox init script and the env file are valid sh', async (t) => {
  for (const file of [SCRIPT, ENV_EXAMPLE]) {
    const checked = await runProcess('sh', ['-n', file]);
    t.equal(checked.code, 0, `sh -n ${file}: ${checked.stderr}`);
    if (!noBusybox) t.equal((await runProcess(BUSYBOX, ['sh', '-n', file])).code, 0, `busybox sh -n ${file}`);
  }
  const usage = await runProcess('sh', [SCRIPT, 'bogus'], { env: { ...process.env, PRTIQL_ENV_FILE: '/nonexistent' } });
  t.equal(usage.code, 2);
  t.match(usage.stderr, /usage: .* \{start\|stop\|restart\|status\|foreground\}/);
});

t.test('the busybox init script starts, stops and supervises a real device store', { skip: busyboxSkip }, async (t) => {
  await ensureApplierBundle();
  const work = await mkdtemp(join(tmpdir(), 'prtiql-init-'));
  const name = `prtiql-test-${process.pid}-init`;
  const store = join(work, 'device');
  t.teardown(async () => {
    await runProcess('runc', ['delete', '--force', name]);
    await releaseRootfs(join(store, 'containers', name));
    await rm(work, { recursive: true, force: true });
  });
  const signer = newSigner();
  await writeFile(join(work, 'root.json'), trustRootJson([signer]));
  await publishRunnableRelease(join(work, 'artifacts'), signer, 1, {
    Cmd: ['sh', '-c', 'trap "echo stopping; exit 0" TERM; echo v1 up; while true; do sleep 0.1; done'],
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
        '',
      ].join('\n'),
    );
  await writeEnv(pathToFileURL(join(work, 'artifacts')).href);
  const env = { ...process.env, PRTIQL_ENV_FILE: envFile, NODE: process.execPath, PRTIQL_APPLIER: APPLIER_BUNDLE };
  const script = (action: string) => runProcess(BUSYBOX, ['sh', SCRIPT, action], { env });
  const runcStatus = async () => (JSON.parse((await runProcess('runc', ['state', name])).stdout || '{}') as { status?: string }).status;

  const started = await script('start');
  t.equal(started.code, 0, started.stderr);
  t.match(started.stderr, /"event":"update.committed".*"event":"container.started".*"event":"health.passed"/s);
  t.equal(await runcStatus(), 'running');
  const status = await script('status');
  t.match(status.stdout, /installed: version 1 .*\n[^]*health: {4}healthy/);

  const stopped = await script('stop');
  t.equal(stopped.code, 0, stopped.stderr);
  t.equal(await runcStatus(), undefined, 'the container is gone');
  t.equal(await logsOnceComplete({ root: store, name }, (text) => text.endsWith('stopping\n')), 'v1 up\nstopping\n');

  await writeEnv(pathToFileURL(join(work, 'nowhere')).href);
  const offline = await script('restart');
  t.equal(offline.code, 0, offline.stderr);
  t.match(offline.stderr, `prtiql: update failed with exit status ${APPLIER_EXIT_CODES.E_UNKNOWN_CHANNEL} (docs/EXIT-CODES.md); the installed version runs`);
  t.equal(await runcStatus(), 'running', 'the installed version started anyway');
  t.equal((await script('stop')).code, 0);

  const supervised = startProcess(BUSYBOX, ['sh', SCRIPT, 'foreground'], env);
  await supervised.printed('v1 up');
  process.kill(supervised.pid, 'SIGTERM');
  const result = await supervised.done;
  t.equal(result.code, 0, `exec'd into the applier, which relayed SIGTERM: ${result.stderr}`);
  t.equal(result.stdout, 'v1 up\nstopping\n');
});
