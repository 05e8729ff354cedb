import { randomBytes } from 'node:crypto';
import { open, rename, rm } from 'node:fs/promises';
import { dirname } from 'node:path';

/** A name beside `path` that no other writer picks, for write-then-rename. */
export function temporaryPathFor(path: string): string {
  return `${path}.tmp-${randomBytes(8).toString('hex')}`;
}

/** Flushes a directory entry change (create, rename, link) to disk. */
export async function fsyncDirectory(path: string): Promise<void> {
  const handle = await open(path, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/**
 * Replaces `path` with `data` so that after a crash it holds either the old or the new
 * content: write a temporary file, fsync it, rename it over `path`, fsync the directory.
 */
export async function replaceFileDurably(path: string, data: Uint8Array, mode = 0o644): Promise<void> {
  const temp = temporaryPathFor(path);
  try {
    const handle = await open(temp, 'wx', mode);
    try {
      await handle.writeFile(data);
      await handle.sync();
    } finally {
      await handle.close();
    }
    await rename(temp, path);
  } catch (error) {
    await rm(temp, { force: true });
    throw error;
  }
  await fsyncDirectory(dirname(path));
}
