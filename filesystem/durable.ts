import { randomBytes } from 'node:crypto';
import { constants, fsyncSync, readSync, writeSync } from 'node:fs';
import { lstat, open, readdir, rename, rm, symlink, type FileHandle } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { commitStep } from './crash-point.js';
import { syncfs } from './syncfs.js';

let syncEnabled = true;

/**
 * Turns every fsync and syncfs of the applier into a no-op. Only for the power-cut
 * test's negative control (applier/commands/unsafe-no-fsync.ts); a store written so is not durable.
 */
export function disableSync(): void {
  syncEnabled = false;
}

/** fsync(2): the file's data and metadata, or a directory's entries, reach the device. */
export async function syncHandle(handle: FileHandle): Promise<void> {
  commitStep('fsync', handle);
  if (syncEnabled) await handle.sync();
}

/** fsync(2) of an open descriptor, blocking: for a writer that works with descriptors. */
export function syncDescriptor(fd: number): void {
  commitStep('fsync', fd);
  if (syncEnabled) fsyncSync(fd);
}

async function fsyncOpened(path: string, flags: number): Promise<void> {
  commitStep('fsync', path);
  if (!syncEnabled) return;
  const handle = await open(path, flags);
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/** Flushes a file's data, or a directory's entries, to the device; `path` itself is never followed if it is a symlink. */
export function fsyncPath(path: string): Promise<void> {
  return fsyncOpened(path, constants.O_RDONLY | constants.O_NOFOLLOW);
}

/** Flushes a directory's entries (a create, rename or link in it) to the device, through a symlink if `path` is one. */
export function fsyncDirectory(path: string): Promise<void> {
  return fsyncOpened(path, constants.O_RDONLY | constants.O_DIRECTORY);
}

/**
 * A hidden name beside `path` for write-then-rename that no other writer picks: the pid
 * tells processes apart, the random part writers in one process (and hosts sharing a store).
 */
export function temporarySibling(path: string): string {
  return join(dirname(path), `.${basename(path)}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`);
}

/**
 * Whether a directory entry is a temporary an interrupted durable replacement left behind;
 * appliers before the random part named them `.<name>.tmp-<pid>`, which still counts.
 */
export function isTemporarySibling(name: string): boolean {
  return /^\..+\.tmp-[0-9]+(-[0-9a-f]{8})?$/.test(name);
}

/** Writes all of `bytes`: at `position` when given, else at the file's current offset. */
export async function writeAll(handle: FileHandle, bytes: Uint8Array, position?: number): Promise<void> {
  for (let offset = 0; offset < bytes.byteLength; ) {
    const { bytesWritten } = await handle.write(bytes, offset, bytes.byteLength - offset, position === undefined ? null : position + offset);
    offset += bytesWritten;
  }
}

/** Writes all of `bytes` to a descriptor, blocking: at `position` when given, else at its current offset. */
export function writeAllSync(fd: number, bytes: Uint8Array, position?: number): void {
  for (let offset = 0; offset < bytes.byteLength; ) {
    offset += writeSync(fd, bytes, offset, bytes.byteLength - offset, position === undefined ? null : position + offset);
  }
}

/** Fills `target` from a descriptor at `position`, blocking; fewer bytes only at the end of the file. Returns how many it read. */
export function readAllSync(fd: number, target: Uint8Array, position: number): number {
  let filled = 0;
  while (filled < target.byteLength) {
    const bytesRead = readSync(fd, target, filled, target.byteLength - filled, position + filled);
    if (bytesRead === 0) break;
    filled += bytesRead;
  }
  return filled;
}

/**
 * Replaces `path` so that after a power loss it holds the old or the new bytes, never a
 * mix: temporary file, fsync, rename, fsync of the directory.
 */
export async function replaceFileDurably(path: string, bytes: Uint8Array, mode = 0o600): Promise<void> {
  const temp = temporarySibling(path);
  await removingOnFailure(temp, async () => {
    const handle = await open(temp, 'wx', mode);
    try {
      await writeAll(handle, bytes);
      await syncHandle(handle);
    } finally {
      await handle.close();
    }
  });
  await renameDurably(temp, path);
}

/** Points the symlink `path` at `target` atomically: new link beside it, rename, fsync dir. */
export async function replaceSymlinkDurably(path: string, target: string): Promise<void> {
  const temp = temporarySibling(path);
  commitStep('symlink', temp);
  await symlink(target, temp);
  await renameDurably(temp, path);
}

/** Runs `write`; if it fails, `temp` is removed before the error goes on. */
async function removingOnFailure(temp: string, write: () => Promise<void>): Promise<void> {
  try {
    await write();
  } catch (error) {
    await rm(temp, { force: true });
    throw error;
  }
}

/** Renames the finished `temp` over `path`, then makes the directory entry durable. */
async function renameDurably(temp: string, path: string): Promise<void> {
  await removingOnFailure(temp, async () => {
    commitStep('rename', path);
    await rename(temp, path);
  });
  await fsyncDirectory(dirname(path));
}

/** fsyncs every file and directory below `root` (symlinks live in their directory). */
export async function fsyncTree(root: string): Promise<void> {
  const info = await lstat(root);
  if (info.isSymbolicLink()) return;
  if (info.isDirectory()) {
    for (const name of await readdir(root)) await fsyncTree(join(root, name));
  }
  if (info.isDirectory() || info.isFile()) await fsyncPath(root);
}

/**
 * Writes back what is dirty on the file system holding `path` (syncfs through `sync -f`) to
 * keep the page cache an install dirties small; staged downloads keep what it wrote across a
 * power cut, for resuming. No commit relies on it: where `sync -f` is missing it does nothing.
 */
export async function flushFileSystem(path: string): Promise<void> {
  commitStep('syncfs', path);
  if (syncEnabled) await syncfs(path);
}

/**
 * syncfs(2) on the file system holding `path`, through coreutils or busybox `sync -f`.
 * Where that is missing or refuses `-f`, every file and directory under `path` is fsynced.
 * A write-back error the file system reports is E_DISK.
 */
export async function syncFileSystem(path: string): Promise<void> {
  commitStep('syncfs', path);
  if (!syncEnabled || (await syncfs(path))) return;
  await fsyncTree(path);
}
