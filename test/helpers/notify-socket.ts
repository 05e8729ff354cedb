import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import type { Test } from 'tap';

export interface Notification {
  /** The sender's PID, as the kernel reports it (SCM_CREDENTIALS): what systemd matches against the unit. */
  pid: number;
  text: string;
}

export interface NotifySocket {
  path: string;
  /** Every message received so far, in order. */
  messages: Notification[];
  /** Resolves with the `nth` message (from 1) whose text is `text`, once it has arrived. */
  received(text: string, nth?: number): Promise<Notification>;
}

export const PYTHON = '/usr/bin/python3';

// Node has no unix datagram sockets: python binds one as systemd binds its notification socket,
// with SO_PASSCRED, and prints each message and its sender's PID as a JSON line.
const SERVER = `
import json, socket, struct, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)
s.bind(sys.argv[1])
print(json.dumps({"listening": True}), flush=True)
while True:
    data, ancillary, _, _ = s.recvmsg(4096, socket.CMSG_SPACE(12))
    pid = next(struct.unpack("iII", cmsg[:12])[0] for level, kind, cmsg in ancillary if level == socket.SOL_SOCKET and kind == socket.SCM_CREDENTIALS)
    print(json.dumps({"pid": pid, "text": data.decode()}), flush=True)
`;

/** A notification socket as systemd gives a Type=notify service, in a short temporary path (a socket path has at most 107 bytes); removed at teardown. */
export async function listenForNotifications(t: Test): Promise<NotifySocket> {
  const dir = await mkdtemp(join(tmpdir(), 'prtiql-notify-'));
  const path = join(dir, 'notify.sock');
  const server = spawn(PYTHON, ['-c', SERVER, path], { stdio: ['ignore', 'pipe', 'inherit'] });
  t.teardown(async () => {
    server.kill();
    await rm(dir, { recursive: true, force: true });
  });
  const messages: Notification[] = [];
  const waiters: { text: string; nth: number; resolve: (message: Notification) => void }[] = [];
  const nthMessage = (text: string, nth: number) => messages.filter((message) => message.text === text)[nth - 1];
  let listening!: () => void;
  const started = new Promise<void>((resolve, reject) => {
    listening = resolve;
    server.once('error', reject);
    server.once('exit', (code) => reject(new Error(`the notification socket server exited with status ${code}`)));
  });
  createInterface({ input: server.stdout }).on('line', (line) => {
    const parsed = JSON.parse(line) as Notification | { listening: true };
    if ('listening' in parsed) return listening();
    messages.push(parsed);
    for (const waiter of waiters) if (waiter.text === parsed.text && nthMessage(waiter.text, waiter.nth) === parsed) waiter.resolve(parsed);
  });
  await started;
  return {
    path,
    messages,
    received: (text, nth = 1) =>
      new Promise((resolve) => {
        const found = nthMessage(text, nth);
        if (found) resolve(found);
        else waiters.push({ text, nth, resolve });
      }),
  };
}
