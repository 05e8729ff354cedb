import { mkdtemp, rm, statfs } from 'node:fs/promises';
import { join } from 'node:path';
import type { Test } from 'tap';

const MEMORY_ROOT = '/dev/shm';
const TMPFS_MAGIC = 0x01021994;
/** Room the crash tests' stores and disk images need, with a wide margin. */
const ROOM_NEEDED = 1024 * 1024 * 1024;

/**
 * A fresh directory in memory (tmpfs), removed when the test ends, for tests whose subject is
 * not what reaches a disk: there the applier's fsync and syncfs calls cost nothing, where on a
 * shared disk each waits for its write-back (syncfs for every program's writes). A kill -9
 * and a loop device's view are the same in memory. Where the machine has no tmpfs with room
 * to spare, the test's own directory.
 */
export async function memoryTestDir(t: Test): Promise<string> {
  const memory = await statfs(MEMORY_ROOT).catch(() => undefined);
  if (memory?.type !== TMPFS_MAGIC || memory.bavail * memory.bsize < ROOM_NEEDED) return t.testdir();
  const dir = await mkdtemp(join(MEMORY_ROOT, 'prtiql-test-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  return dir;
}
