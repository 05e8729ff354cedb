import { open, stat } from 'node:fs/promises';
import { createServer, type Server } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { isPrtiqlError, PrtiqlError } from '../../shared/errors.js';

export interface StoreLock {
  release(): Promise<void>;
}

/**
 * Takes the store's exclusive lock. Node has no flock(2), and pid files go stale (a crash
 * or power loss leaves them behind, pids are reused after a reboot). So the lock is held by
 * the kernel instead: the holder binds a Linux abstract unix socket whose name is derived
 * from the device and inode of the store's `lock` file. Binding is exclusive, and the
 * kernel frees the name the moment the holder exits, however it exits. A second applier
 * gets E_BUSY. The lock file is created once and never written again.
 */
export async function acquireStoreLock(lockPath: string): Promise<StoreLock> {
  await open(lockPath, 'a', 0o600).then((handle) => handle.close());
  const { dev, ino } = await stat(lockPath);
  const server = createServer();
  await new Promise<void>((resolve, reject) => {
    server.once('error', (error: NodeJS.ErrnoException) => {
      reject(
        error.code === 'EADDRINUSE'
          ? new PrtiqlError('E_BUSY', `another applier holds the store lock ${lockPath}`)
          : new PrtiqlError('E_INTERNAL', `cannot take the store lock ${lockPath}: ${error.message}`),
      );
    });
    server.listen({ path: `\0prtiql-store-lock:${dev}:${ino}` }, resolve);
  });
  server.unref();
  return { release: () => closeServer(server) };
}

/**
 * Takes the store lock, retrying while another applier holds it, for up to `waitMs`; then
 * E_BUSY. For short writes by `run`, which must not fail because an update is running.
 */
export async function acquireStoreLockWaiting(lockPath: string, waitMs: number): Promise<StoreLock> {
  const deadline = Date.now() + waitMs;
  for (;;) {
    try {
      return await acquireStoreLock(lockPath);
    } catch (error) {
      if (!isPrtiqlError(error, 'E_BUSY') || Date.now() >= deadline) throw error;
      await sleep(250);
    }
  }
}

/** Runs `task` holding the store lock (waiting for it as above). */
export async function withStoreLock<T>(lockPath: string, waitMs: number, task: () => Promise<T>): Promise<T> {
  const lock = await acquireStoreLockWaiting(lockPath, waitMs);
  try {
    return await task();
  } finally {
    await lock.release();
  }
}

function closeServer(server: Server): Promise<void> {
  return new Promise((resolve) => server.close(() => resolve()));
}
