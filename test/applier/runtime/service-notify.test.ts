import { access, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import t from 'tap';
import { containerStore } from '../../helpers/container-store.js';
import { listenForNotifications, PYTHON } from '../../helpers/notify-socket.js';
import { missingCommand, missingPath, RUNC_NEEDS_ROOT, skipUnlessAvailable } from '../../helpers/required-features.js';
import { startApplier } from '../../helpers/running-applier.js';

const skip =
  skipUnlessAvailable(RUNC_NEEDS_ROOT) ||
  skipUnlessAvailable(await missingPath(PYTHON, 'python3 is not installed (Debian package python3): it stands in for systemd')) ||
  skipUnlessAvailable(await missingCommand('systemd-notify', ['--help'], 'systemd-notify is not installed (Debian package systemd)'));

const SECOND = 1e9;

t.test('run says READY=1 to systemd once the first start is healthy, from its own PID, and hides NOTIFY_SOCKET from runc and the container', { skip }, async (t) => {
  const work = t.testdir();
  const flags = join(work, 'flags');
  await mkdir(flags);
  // every check leaves a mark the test can see; it passes once the test creates `healthy`
  const store = await containerStore(t, [
    {
      Cmd: ['sh', '-c', 'trap "exit 0" TERM; echo "${NOTIFY_SOCKET-unset}" >/flags/notify-socket; echo up; while true; do sleep 0.1; done'],
      Healthcheck: { Test: ['CMD-SHELL', 'touch /flags/checked; test -e /flags/healthy'], Interval: SECOND / 5, Timeout: SECOND, StartPeriod: 600 * SECOND, Retries: 3 },
    },
  ]);
  const config = join(work, 'device.json');
  await writeFile(config, JSON.stringify({ mounts: [{ source: flags, destination: '/flags' }] }));
  const socket = await listenForNotifications(t);
  const run = () => startApplier(['run', '--store', store.root, '--name', store.name, '--config', config], { ...process.env, NOTIFY_SOCKET: socket.path });

  const first = run();
  await first.printed('up\n');
  t.equal(await readFile(join(flags, 'notify-socket'), 'utf8'), 'unset\n', 'the container has no NOTIFY_SOCKET');
  while (!(await access(join(flags, 'checked')).then(() => true, () => false))) await sleep(50);
  t.same(socket.messages, [], 'not ready while the health check fails');
  await writeFile(join(flags, 'healthy'), '');
  const ready = await socket.received('READY=1');
  t.equal(ready.pid, first.pid, "sent with the applier's PID, the unit's main process");
  process.kill(first.pid, 'SIGTERM');
  const stopped = await first.done;
  t.equal(stopped.code, 0, stopped.stderr);
  t.match(stopped.stderr, /"event":"health.passed".*\n.*"event":"service.ready"/);
  t.same(socket.messages, [ready], 'one message: runc never got the socket');

  await rm(join(flags, 'healthy'));
  const again = run();
  const second = await socket.received('READY=1', 2);
  t.equal(second.pid, again.pid, 'an image judged before is ready as soon as it runs');
  await again.printed('up\n');
  process.kill(again.pid, 'SIGTERM');
  const stoppedAgain = await again.done;
  t.equal(stoppedAgain.code, 0, stoppedAgain.stderr);
});
