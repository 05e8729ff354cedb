import { posix } from 'node:path';
import { OPAQUE_WHITEOUT, WHITEOUT_PREFIX, isWhiteout } from '../../../../shared/tar/whiteout.js';
import type { IndexedEntry, IndexedLayer } from './layer-index.js';

/** Entry `position` of base layer `layer` (an index into the base layers, bottom first). */
export interface BasisEntryRef {
  layer: number;
  position: number;
  entry: IndexedEntry;
}

/** A similar name is a candidate when its size is within this factor of the new file's. */
const SIMILAR_SIZE_FACTOR = 2;

/**
 * A path with its version numbers blanked, so that a library or directory renamed by a
 * release (libvips-cpp.so.42 -> libvips-cpp.so.8.15.5, python3.11/ -> python3.12/) keeps its key.
 */
function versionlessPath(path: string): string {
  return path.replace(/\d+(?:\.\d+)*/g, '#');
}

/** What whiteouts of higher layers hide from the layers below them. */
class Hidden {
  private readonly removed = new Set<string>();
  private readonly opaque = new Set<string>();

  /** Adds a layer's whiteouts: they hide entries of the layers below it only. */
  addWhiteouts(entries: readonly IndexedEntry[]): void {
    for (const entry of entries) {
      if (!isWhiteout(entry.path)) continue;
      const directory = posix.dirname(entry.path) === '.' ? '' : posix.dirname(entry.path);
      const name = posix.basename(entry.path);
      if (name === OPAQUE_WHITEOUT) this.opaque.add(directory);
      else this.removed.add(directory === '' ? name.slice(WHITEOUT_PREFIX.length) : `${directory}/${name.slice(WHITEOUT_PREFIX.length)}`);
    }
  }

  hides(path: string): boolean {
    if (this.removed.size === 0 && this.opaque.size === 0) return false;
    const parts = path.split('/');
    for (let depth = 0; depth < parts.length; depth++) {
      const ancestor = parts.slice(0, depth).join('/');
      if (this.opaque.has(ancestor) || this.removed.has(parts.slice(0, depth + 1).join('/'))) return true;
    }
    return false;
  }
}

/**
 * Where a target file or header may find its basis in the base image. Regular files deleted
 * by a whiteout of a higher base layer are never content candidates (any header, being tar
 * bytes of its layer, may serve as a header basis); where several layers hold a path, the
 * highest one (the one the image shows) wins.
 */
export class BasisIndex {
  private readonly bySha = new Map<string, BasisEntryRef>();
  private readonly byPath = new Map<string, BasisEntryRef>();
  private readonly filesByPath = new Map<string, BasisEntryRef>();
  private readonly filesByName = new Map<string, BasisEntryRef[]>();
  private readonly filesByVersionlessPath = new Map<string, BasisEntryRef[]>();

  constructor(layers: readonly IndexedLayer[]) {
    const hidden = new Hidden();
    for (let layer = layers.length - 1; layer >= 0; layer--) {
      const { entries } = layers[layer]!;
      for (const [position, entry] of entries.entries()) {
        const ref = { layer, position, entry };
        if (!this.byPath.has(entry.path)) this.byPath.set(entry.path, ref);
        if (entry.type !== 'file' || entry.content.length === 0 || isWhiteout(entry.path) || hidden.hides(entry.path)) continue;
        if (!this.bySha.has(entry.sha256!)) this.bySha.set(entry.sha256!, ref);
        if (!this.filesByPath.has(entry.path)) this.filesByPath.set(entry.path, ref);
        addTo(this.filesByName, posix.basename(entry.path), ref);
        addTo(this.filesByVersionlessPath, versionlessPath(entry.path), ref);
      }
      hidden.addWhiteouts(entries);
    }
  }

  /** A base file with exactly this content. */
  identical(sha256: string): BasisEntryRef | undefined {
    return this.bySha.get(sha256);
  }

  /** The entry (of any kind, hidden or not) at this path: its header is the natural basis of the new header. */
  entryAt(path: string): BasisEntryRef | undefined {
    return this.byPath.get(path);
  }

  /** The visible regular file at this path, if any. */
  fileAt(path: string): BasisEntryRef | undefined {
    return this.filesByPath.get(path);
  }

  /**
   * Files to diff a new file against, best first: the same path, then files of the same
   * name, then files whose path differs only in version numbers, each of those with a size
   * within a factor of two, closest size first.
   */
  candidates(path: string, size: number, limit: number): BasisEntryRef[] {
    const samePath = this.filesByPath.get(path);
    const chosen = samePath ? [samePath] : [];
    for (const group of [this.filesByName.get(posix.basename(path)), this.filesByVersionlessPath.get(versionlessPath(path))]) {
      const similar = (group ?? [])
        .filter((ref) => !chosen.includes(ref) && ref.entry.content.length * SIMILAR_SIZE_FACTOR >= size && ref.entry.content.length <= size * SIMILAR_SIZE_FACTOR)
        .sort((a, b) => Math.abs(a.entry.content.length - size) - Math.abs(b.entry.content.length - size));
      chosen.push(...similar);
    }
    return chosen.slice(0, limit);
  }
}

function addTo(groups: Map<string, BasisEntryRef[]>, key: string, ref: BasisEntryRef): void {
  const group = groups.get(key);
  if (group) group.push(ref);
  else groups.set(key, [ref]);
}
