import { spawn, type ChildProcessByStdio } from 'node:child_process';
import type { Readable, Writable } from 'node:stream';
import { resolve as resolvePath } from 'node:path';
import { createInterface } from 'node:readline';
import { PrtiqlError } from '../shared/errors.js';

/**
 * One shell that runs `sync -f <path>` (coreutils or busybox) for each path written to its
 * input and answers `0`, or `1 <message>`. Node has no syncfs(2); forking the applier itself
 * for every flush costs milliseconds of blocked event loop, forking a shell costs almost nothing.
 */
const SCRIPT = `while IFS= read -r path; do
  if message=$(sync -f "$path" 2>&1); then echo 0; else echo "1 $(printf %s "$message" | tr '\\n' ' ')"; fi
done`;

interface Pending {
  resolve: (synced: boolean) => void;
  reject: (error: Error) => void;
  path: string;
}

type Shell = ChildProcessByStdio<Writable, Readable, null>;

class SyncShell {
  private readonly pending: Pending[] = [];
  private alive = true;

  constructor(
    private readonly child: Shell,
    private readonly onStop: () => void,
  ) {
    child.once('error', () => this.stop());
    child.once('exit', () => this.stop());
    child.stdin.on('error', () => this.stop());
    createInterface({ input: child.stdout }).on('line', (line) => this.answer(line));
    this.holdProcess(false);
  }

  /** The shell keeps the applier's process alive only while a sync is awaited. */
  private holdProcess(hold: boolean): void {
    const handles = [this.child, this.child.stdin, this.child.stdout] as unknown as { ref(): void; unref(): void }[];
    for (const handle of handles) {
      if (hold) handle.ref();
      else handle.unref();
    }
  }

  /** True once the file system was synced; false where `sync -f` is missing or refuses; E_DISK on a write-back error. */
  sync(path: string): Promise<boolean> {
    if (!this.alive) return Promise.resolve(false);
    return new Promise((resolve, reject) => {
      if (this.pending.length === 0) this.holdProcess(true);
      this.pending.push({ resolve, reject, path });
      this.child.stdin.write(`${path}\n`);
    });
  }

  private answer(line: string): void {
    const waiting = this.pending.shift();
    if (!waiting) return;
    if (this.pending.length === 0) this.holdProcess(false);
    if (line === '0') return waiting.resolve(true);
    const message = line.slice(2).trim();
    if (/error syncing|Input\/output error|No space left/i.test(message)) {
      waiting.reject(new PrtiqlError('E_DISK', `syncfs on ${waiting.path} failed: ${message}`));
    } else waiting.resolve(false);
  }

  private stop(): void {
    if (!this.alive) return;
    this.alive = false;
    this.onStop();
    this.holdProcess(false);
    for (const waiting of this.pending.splice(0)) waiting.resolve(false);
  }
}

let shell: SyncShell | undefined;

/** syncfs(2) on the file system holding `path`: true when it worked, false where `sync -f` is unavailable. A shell that died is started again for the next call. */
export function syncfs(path: string): Promise<boolean> {
  const absolute = resolvePath(path);
  if (absolute.includes('\n')) return Promise.resolve(false);
  if (!shell) {
    const started: SyncShell = new SyncShell(spawn('sh', ['-c', SCRIPT], { stdio: ['pipe', 'pipe', 'ignore'] }), () => {
      if (shell === started) shell = undefined;
    });
    shell = started;
  }
  return shell.sync(absolute);
}
