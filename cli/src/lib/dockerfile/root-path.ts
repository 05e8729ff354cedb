import { readFile, readlink } from 'node:fs/promises';
import { join } from 'node:path';
import { lstatIfExists } from '../../../../filesystem/layer-view.js';
import { PrtiqlError } from '../../../../shared/errors.js';

const MAX_SYMLINK_HOPS = 40;

function components(path: string): string[] {
  return path.split('/').filter((part) => part !== '' && part !== '.');
}

/**
 * Resolves an absolute container path inside the root filesystem `root` the way a process
 * chrooted there would see it: symlinks are followed, but absolute targets and `..` never
 * leave `root`. Returns the path relative to `root` ('' for the root itself); components
 * that do not exist are kept as written.
 */
export async function resolveInRoot(root: string, path: string): Promise<string> {
  const resolved: string[] = [];
  let pending = components(path);
  let hops = 0;
  while (pending.length > 0) {
    const [part, ...rest] = pending;
    pending = rest;
    if (part === '..') {
      resolved.pop();
      continue;
    }
    const stats = await lstatIfExists(join(root, ...resolved, part));
    if (!stats?.isSymbolicLink()) {
      resolved.push(part);
      continue;
    }
    if (++hops > MAX_SYMLINK_HOPS) throw new PrtiqlError('E_BAD_INPUT', `too many levels of symbolic links in ${path}`);
    const target = await readlink(join(root, ...resolved, part));
    if (target.startsWith('/')) resolved.length = 0;
    pending = [...components(target), ...pending];
  }
  return resolved.join('/');
}

/** A small regular file of a root filesystem (e.g. /etc/passwd), read through resolveInRoot; undefined if absent. */
export async function readRootFile(root: string, path: string, limit: number): Promise<string | undefined> {
  const full = join(root, await resolveInRoot(root, path));
  const stats = await lstatIfExists(full);
  if (!stats?.isFile()) return undefined;
  if (stats.size > limit) throw new PrtiqlError('E_TOO_LARGE', `${path} of the image is larger than ${limit} bytes`);
  return readFile(full, 'utf8');
}
