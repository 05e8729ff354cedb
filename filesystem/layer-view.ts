import { createReadStream, type Dirent, type Stats } from 'node:fs';
import { lstat, readdir } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { readCapped } from '../shared/capped-read.js';
import { PrtiqlError } from '../shared/errors.js';
import { isValidWhiteoutName, OPAQUE_WHITEOUT, WHITEOUT_PREFIX } from '../shared/tar/whiteout.js';

/*
 * Committed layer directories keep OCI whiteouts literally (shared/tar/whiteout.ts). Entries
 * of the same layer are never hidden by its own whiteouts.
 */

export interface LayerDirectory {
  /** Names this directory hides in the layers below. */
  whiteouts: string[];
  /** True when the layers below contribute nothing to this directory. */
  opaque: boolean;
  /** Real entries, whiteout markers left out. */
  entries: Dirent[];
}

export async function readLayerDirectory(path: string): Promise<LayerDirectory> {
  const all = await readdir(path, { withFileTypes: true });
  const directory: LayerDirectory = { whiteouts: [], opaque: false, entries: [] };
  for (const entry of all) {
    if (!entry.name.startsWith(WHITEOUT_PREFIX)) {
      directory.entries.push(entry);
      continue;
    }
    await checkMarker(join(path, entry.name));
    if (entry.name === OPAQUE_WHITEOUT) directory.opaque = true;
    else directory.whiteouts.push(entry.name.slice(WHITEOUT_PREFIX.length));
  }
  return directory;
}

/**
 * Extraction lets only valid, empty whiteout files through, but a store written before a
 * rule existed may still hold other `.wh.` entries: a marker hiding `.` or `..`, a
 * directory so named with entries below it. No root filesystem is built from such a layer.
 */
async function checkMarker(path: string): Promise<void> {
  const refuse = (reason: string): never => {
    throw new PrtiqlError('E_UNSAFE_ENTRY', `layer entry ${path}: ${reason}; no root filesystem is assembled from it`);
  };
  if (!isValidWhiteoutName(basename(path))) refuse('not a valid whiteout name');
  const stats = await lstat(path);
  if (!stats.isFile() || stats.size !== 0) refuse('a whiteout must be an empty regular file');
}

export interface LayerWhiteouts {
  /** Paths (relative, '/'-separated) of the names the layer hides below it. */
  hidden: string[];
  /** Directories of the layer that are opaque. */
  opaqueDirs: string[];
  /** Paths of the literal marker files themselves. */
  markers: string[];
}

/** Finds every whiteout marker in one layer directory. */
export async function scanWhiteouts(layerDir: string): Promise<LayerWhiteouts> {
  const found: LayerWhiteouts = { hidden: [], opaqueDirs: [], markers: [] };
  const visit = async (relative: string): Promise<void> => {
    const directory = await readLayerDirectory(join(layerDir, relative));
    if (directory.opaque) {
      found.opaqueDirs.push(relative);
      found.markers.push(joinRelative(relative, OPAQUE_WHITEOUT));
    }
    for (const name of directory.whiteouts) {
      found.hidden.push(joinRelative(relative, name));
      found.markers.push(joinRelative(relative, WHITEOUT_PREFIX + name));
    }
    for (const entry of directory.entries) {
      if (entry.isDirectory()) await visit(joinRelative(relative, entry.name));
    }
  };
  await visit('');
  return found;
}

export function hasWhiteouts(whiteouts: LayerWhiteouts): boolean {
  return whiteouts.markers.length > 0;
}

export function joinRelative(directory: string, name: string): string {
  return directory === '' ? name : `${directory}/${name}`;
}

/**
 * Reads one regular file of the image as the union of its layers would show it, without
 * mounting anything: the topmost layer that has it wins, unless a whiteout, an opaque
 * directory or a non-directory on the way hides it first. Symlinks are never followed, so
 * nothing outside the layers can be read; a path that is not a regular file reads as absent.
 */
export async function readImageFile(layersTopDown: string[], path: string, limit: number): Promise<Buffer | undefined> {
  const components = path.split('/');
  for (const layer of layersTopDown) {
    const outcome = await lookUp(layer, components);
    if (outcome === 'hidden') return undefined;
    if (outcome === 'absent') continue;
    if (!outcome.isFile()) return undefined;
    return readCapped(createReadStream(join(layer, ...components)), limit, `/${path} of the image`);
  }
  return undefined;
}

async function lookUp(layer: string, components: string[]): Promise<Stats | 'absent' | 'hidden'> {
  let directory = layer;
  let hidesBelow = false;
  for (let depth = 0; depth < components.length; depth++) {
    const name = components[depth];
    hidesBelow ||=
      (await lstatIfExists(join(directory, WHITEOUT_PREFIX + name))) !== undefined ||
      (await lstatIfExists(join(directory, OPAQUE_WHITEOUT))) !== undefined;
    const stats = await lstatIfExists(join(directory, name));
    if (!stats) return hidesBelow ? 'hidden' : 'absent';
    if (depth === components.length - 1) return stats;
    if (!stats.isDirectory()) return 'hidden';
    directory = join(directory, name);
  }
  return 'absent';
}

export async function lstatIfExists(path: string): Promise<Stats | undefined> {
  try {
    return await lstat(path);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT' || (error as NodeJS.ErrnoException).code === 'ENOTDIR') return undefined;
    throw error;
  }
}
