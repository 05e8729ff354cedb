import { createReadStream, type Stats } from 'node:fs';
import { readdir, readlink } from 'node:fs/promises';
import { join, posix } from 'node:path';
import picomatch from 'picomatch';
import { lstatIfExists } from '../../../../filesystem/layer-view.js';
import { PrtiqlError } from '../../../../shared/errors.js';
import type { TarEntrySource } from '../../../../shared/tar/deterministic-writer.js';
import { directoryEntries, type Owner } from '../build/directory-entries.js';
import { DOCKER_GLOB, type ContextFilter } from './dockerignore.js';
import { resolveInRoot } from './root-path.js';

/** Where COPY reads from: the build context (with its .dockerignore) or another stage's or image's root filesystem. */
export interface SourceTree {
  root: string;
  /** How messages name it: "the build context", "stage builder", ... */
  description: string;
  filter: ContextFilter;
  /** Owner of copied entries: fixed (the context: 0:0) or kept from the tree ('keep'). */
  owner: Owner | 'keep';
}

/** One source that a COPY argument named or matched. */
export interface MatchedSource {
  /** Path in the tree, relative and resolved. */
  path: string;
  /** Name it gets in a destination directory. */
  name: string;
  stats: Stats;
}

/** Whether a COPY source is a pattern (`*`, `?`, `[...]`) rather than a path. */
export function isPattern(source: string): boolean {
  return picomatch.scan(cleanSource(source)).isGlob;
}

/** `./a//b/` and `/a/b` both name `a/b` of the tree; '' is its root. */
function cleanSource(pattern: string): string {
  return posix.normalize(`/${pattern}`).slice(1).replace(/\/+$/, '');
}

async function walkPaths(root: string, relative: string, found: string[]): Promise<void> {
  for (const name of await readdir(join(root, relative))) {
    const path = relative === '' ? name : `${relative}/${name}`;
    found.push(path);
    if ((await lstatIfExists(join(root, path)))?.isDirectory()) await walkPaths(root, path, found);
  }
}

/**
 * The sources one COPY/ADD argument names: a path (its own symlinks followed inside the tree)
 * or a pattern with `*`, `?` or `[...]` matched against every path of the tree. Paths the
 * tree's filter excludes do not exist for COPY. None at all is E_NOT_FOUND.
 */
export async function matchSources(tree: SourceTree, pattern: string): Promise<MatchedSource[]> {
  if (pattern.split('/').includes('..')) throw new PrtiqlError('E_BAD_INPUT', `source ${pattern} may not contain ..: it must stay inside ${tree.description}`);
  const cleaned = cleanSource(pattern);
  const scan = picomatch.scan(cleaned);
  if (!scan.isGlob) {
    const path = await resolveInRoot(tree.root, cleaned);
    const stats = await lstatIfExists(join(tree.root, path));
    if (!stats || !tree.filter(cleaned) || (path !== cleaned && !tree.filter(path))) {
      throw new PrtiqlError('E_NOT_FOUND', `${pattern} does not exist in ${tree.description}`);
    }
    return [{ path, name: posix.basename(cleaned), stats }];
  }
  const base = scan.base === '.' ? '' : scan.base;
  const baseStats = await lstatIfExists(join(tree.root, base));
  const candidates: string[] = [];
  if (baseStats?.isDirectory()) await walkPaths(tree.root, base, candidates);
  const isMatch = picomatch(cleaned, DOCKER_GLOB);
  const matched: MatchedSource[] = [];
  for (const path of candidates.sort()) {
    if (!isMatch(path) || !tree.filter(path)) continue;
    matched.push({ path, name: posix.basename(path), stats: (await lstatIfExists(join(tree.root, path)))! });
  }
  if (matched.length === 0) throw new PrtiqlError('E_NOT_FOUND', `no file in ${tree.description} matches ${pattern}`);
  return matched;
}

/**
 * The entries a matched source contributes, relative to where they land: a directory gives
 * its contents (not itself), anything else one entry called `name`.
 */
export async function sourceEntries(tree: SourceTree, source: MatchedSource, name: string): Promise<TarEntrySource[]> {
  const full = join(tree.root, source.path);
  const { stats } = source;
  if (stats.isDirectory()) {
    const entries = await directoryEntries(full, tree.owner);
    return entries.filter((entry) => tree.filter(`${source.path}/${entry.path}`));
  }
  const { uid, gid } = tree.owner === 'keep' ? stats : tree.owner;
  const base = { path: name, mode: stats.mode & 0o7777, uid, gid };
  if (stats.isSymbolicLink()) return [{ ...base, type: 'symlink', linkname: await readlink(full) }];
  if (stats.isFile()) return [{ ...base, type: 'file', size: stats.size, open: () => createReadStream(full) }];
  throw new PrtiqlError('E_BAD_INPUT', `${source.path} in ${tree.description} is not a file, directory or symlink`);
}
