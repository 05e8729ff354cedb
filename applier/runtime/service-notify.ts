import { spawn } from 'node:child_process';
import type { Logger } from '../log.js';

/**
 * systemd's notification socket (set for a `Type=notify` unit), taken out of the environment
 * as the applier starts so that no child inherits it: runc acts on NOTIFY_SOCKET itself (a
 * foreground `runc run` then relays no signal until the container sends READY=1, and hands
 * systemd the container's PID as the main PID), and the container must not see it either.
 */
const notifySocket = process.env.NOTIFY_SOCKET;
delete process.env.NOTIFY_SOCKET;

/**
 * Tells systemd that the service is up: `READY=1` on its notification socket. Node has no unix
 * datagram sockets, so `systemd-notify` (Debian package systemd) sends it. As the applier's
 * child it sends with the applier's PID as sender (systemd 252), which is the unit's main
 * process, so `NotifyAccess=main` accepts it; `--no-block` leaves out the second message a
 * synchronous notification sends from systemd-notify's own PID. Without NOTIFY_SOCKET this
 * does nothing. A failure is logged, not thrown: the container runs either way, and systemd
 * reports the start as timed out.
 */
export async function notifyServiceReady(log: Logger): Promise<void> {
  if (notifySocket === undefined) return;
  const failure = await new Promise<string | undefined>((resolve) => {
    const child = spawn('systemd-notify', ['--ready', '--no-block'], { env: { ...process.env, NOTIFY_SOCKET: notifySocket }, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    child.once('error', (error: NodeJS.ErrnoException) => resolve(error.code === 'ENOENT' ? 'systemd-notify is not installed (Debian package systemd)' : error.message));
    child.once('close', (code) => resolve(code === 0 ? undefined : `systemd-notify exited with status ${code}: ${stderr.trim()}`));
  });
  if (failure === undefined) log.info('service.ready', { socket: notifySocket });
  else log.warn('service.notify-failed', { socket: notifySocket, reason: failure });
}
