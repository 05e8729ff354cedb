import { readdir } from 'node:fs/promises';
import { PrtiqlError } from './errors.js';

/**
 * The names in directory `path`, which a command is about to use as a directory of its own
 * (`what`: 'an applier store', 'a key directory'): null when nothing is there yet. Anything else than a
 * missing path, an empty directory or a directory whose every name `isOwn` accepts is
 * E_USAGE, raised before the command changes anything, so a mistyped path (`/etc`, `/tmp`)
 * is never chmodded or littered.
 */
export async function ownDirectoryEntries(path: string, isOwn: (name: string) => boolean, what: string): Promise<string[] | null> {
  let entries: string[];
  try {
    entries = await readdir(path);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return null;
    if (code === 'ENOTDIR') throw new PrtiqlError('E_USAGE', `${path} is not a directory: refusing to use it as ${what}`);
    throw error;
  }
  const foreign = entries.find((name) => !isOwn(name));
  if (foreign !== undefined) {
    throw new PrtiqlError('E_USAGE', `${path} is neither ${what} nor an empty directory (it holds ${JSON.stringify(foreign)}): refusing to use it`);
  }
  return entries;
}
