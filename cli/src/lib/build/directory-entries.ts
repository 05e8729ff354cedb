import { createReadStream, type Stats } from 'node:fs';
import { lstat, readdir, readlink, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { PrtiqlError } from '../../../../shared/errors.js';
import type { TarEntrySource } from '../../../../shared/tar/deterministic-writer.js';
import { hardLinkGroup } from './hard-links.js';

export interface Owner {
  uid: number;
  gid: number;
}

function kindOf(stats: Stats): string {
  if (stats.isSocket()) return 'a socket';
  if (stats.isFIFO()) return 'a named pipe';
  if (stats.isBlockDevice()) return 'a block device';
  if (stats.isCharacterDevice()) return 'a character device';
  return 'of an unsupported file type';
}

/** Checks that `path` exists and is a directory: E_NOT_FOUND or E_BAD_INPUT otherwise. */
export async function checkDirectory(path: string, what: string): Promise<void> {
  let stats: Stats;
  try {
    stats = await stat(path);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') throw new PrtiqlError('E_NOT_FOUND', `${what} ${path} does not exist`);
    throw error;
  }
  if (!stats.isDirectory()) throw new PrtiqlError('E_BAD_INPUT', `${what} ${path} is not a directory`);
}

/**
 * Lists a directory tree as layer entries, the directory itself excluded: files, directories
 * and symlinks with their permission bits, owned by `owner` (or by their owners on disk with
 * 'keep'); files sharing an inode become tar hard links. Sockets, pipes and devices are refused.
 */
export async function directoryEntries(root: string, owner: Owner | 'keep' = { uid: 0, gid: 0 }): Promise<TarEntrySource[]> {
  await checkDirectory(root, 'build context');
  const entries: TarEntrySource[] = [];
  const sharedInodes = new Map<string, { content: TarEntrySource; paths: string[] }>();

  const walk = async (directory: string, prefix: string): Promise<void> => {
    for (const name of await readdir(directory)) {
      const full = join(directory, name);
      const path = prefix ? `${prefix}/${name}` : name;
      const stats = await lstat(full);
      const { uid, gid } = owner === 'keep' ? stats : owner;
      const base = { path, mode: stats.mode & 0o7777, uid, gid };
      if (stats.isDirectory()) {
        entries.push({ ...base, type: 'directory' });
        await walk(full, path);
      } else if (stats.isSymbolicLink()) {
        entries.push({ ...base, type: 'symlink', linkname: await readlink(full) });
      } else if (stats.isFile()) {
        const entry: TarEntrySource = { ...base, type: 'file', size: stats.size, open: () => createReadStream(full) };
        if (stats.nlink > 1) {
          const key = `${stats.dev}:${stats.ino}`;
          const group = sharedInodes.get(key);
          if (group) group.paths.push(path);
          else sharedInodes.set(key, { content: entry, paths: [path] });
        } else {
          entries.push(entry);
        }
      } else {
        throw new PrtiqlError('E_BAD_INPUT', `${full} is ${kindOf(stats)}; layers hold only files, directories and symlinks`);
      }
    }
  };

  await walk(root, '');
  for (const { content, paths } of sharedInodes.values()) entries.push(...hardLinkGroup(content, paths));
  return entries;
}
