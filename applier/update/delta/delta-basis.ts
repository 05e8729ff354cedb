import { closeSync, constants, fstatSync, openSync, realpathSync } from 'node:fs';
import { dirname, join, sep } from 'node:path';
import { PrtiqlError } from '../../../shared/errors.js';
import { readAllSync } from '../../../filesystem/durable.js';
import type { BasisReader } from '../../../shared/delta/decoder.js';
import type { BasisEntry, DeltaHeader } from '../../../shared/delta/format.js';
import { InflatedMembers } from '../../../shared/delta/inflated-basis.js';
import { safeEntryPath } from '../../../shared/tar/entry-path.js';
import { GarbagePacer } from '../garbage-pacer.js';
import { openLayerMetaFile, type OpenLayerMeta } from '../../device-store/layer-meta-file.js';
import { TarLayout } from './tar-layout.js';
import type { DeviceStore } from '../../device-store/device-store.js';

/** Open basis files kept at once; more are closed least recently used first. */
export const MAX_OPEN_FILES = 64;
/**
 * Short basis reads go through a cache of small aligned blocks: decoding asks for many short
 * ranges (a patch's triples are often a few dozen bytes, anywhere in an old executable), and
 * one read per range would cost a system call each. The blocks are small because those ranges
 * are scattered: a bigger block copies more bytes that are never used (with 64 KiB blocks, an
 * executable's patch copied 250 times the bytes it asked for). Reads of a block or more go
 * straight to the file.
 * Memory: BLOCK_BYTES * CACHED_BLOCKS, read into in place: a fresh buffer per block read would
 * pile up garbage between collections.
 */
export const BLOCK_BYTES = 4 * 1024;
export const CACHED_BLOCKS = 128;

function unusable(message: string): never {
  throw new PrtiqlError('E_NOT_FOUND', `delta basis: ${message}`);
}

/**
 * Random access to the bases a delta names, read from the committed layers on this device:
 * a whole tar from the files under layers/<hex>/ (never through a symlink, never outside the
 * layer) and the skeleton in layers/<hex>.meta, an inflated member by inflating a range of that tar (held while in use, see InflatedMembers). Anything missing or not matching
 * the declared sizes makes the delta unusable (the caller falls back to the full layer).
 * One read at a time, as the decoder asks: blocks are reused in place. Reads block: the
 * files are local, and a thread-pool round trip per read would cost more than the read.
 */
export class StoreBasisReader implements BasisReader {
  private readonly files = new Map<string, number>();
  /** Each layer's directory and the directories in it already checked to be inside it, by their realpath. */
  private readonly roots = new Map<string, string>();
  private readonly checkedDirectories = new Set<string>();
  private readonly metas = new Map<string, OpenLayerMeta>();
  private readonly layouts = new Map<string, TarLayout>();
  /** Cached blocks by block number × number of bases + basis index, least recently used first. */
  private readonly blocks = new Map<number, Buffer>();
  private readonly inflated = new InflatedMembers(async (basis) => {
    const compressed = Buffer.allocUnsafe(basis.compressedSize);
    this.readTarInto(basis.layer, basis.offset, compressed);
    this.pacer.account(basis.compressedSize + basis.size);
    return compressed;
  });
  /**
   * The output paces collections, but a delta reads more than it writes (a deflate member
   * inflates its basis and writes its few compressed bytes): the buffers of reads pile up too.
   * Inflated members (up to 4 MiB) live long enough to be promoted, so a full collection
   * comes sooner here: past 2 MiB of live buffers.
   */
  private readonly pacer = new GarbagePacer(1024 * 1024, 2 * 1024 * 1024);

  private constructor(
    private readonly store: DeviceStore,
    private readonly bases: BasisEntry[],
  ) {}

  static async open(store: DeviceStore, header: DeltaHeader): Promise<StoreBasisReader> {
    const reader = new StoreBasisReader(store, header.bases);
    try {
      for (const basis of header.bases) {
        if (!(await store.hasLayer(basis.layer))) unusable(`layer ${basis.layer} is not on this device`);
        if (basis.kind === 'inflated') {
          const { meta } = await reader.meta(basis.layer);
          if (basis.offset + basis.compressedSize > meta.size) unusable(`layer ${basis.layer} ends before the deflate stream at ${basis.offset}`);
        } else {
          const { meta } = await reader.meta(basis.layer);
          if (meta.size !== basis.size) unusable(`layer ${basis.layer} tar has ${meta.size} bytes, the delta expects ${basis.size}`);
        }
      }
      return reader;
    } catch (error) {
      await reader.close();
      throw error;
    }
  }

  /** A copy: cached blocks are reused for later reads while the caller may still hold what it got. */
  async read(index: number, position: number, length: number): Promise<Uint8Array> {
    this.pacer.account(length);
    const out = Buffer.allocUnsafe(length);
    const basis = this.bases[index];
    if (length >= BLOCK_BYTES && basis.kind === 'tar') {
      this.readTarInto(basis.layer, position, out);
      return out;
    }
    const first = Math.floor(position / BLOCK_BYTES);
    const last = Math.floor((position + length - 1) / BLOCK_BYTES);
    for (let number = first; number <= last; number++) {
      const block = await this.block(index, number);
      const blockStart = number * BLOCK_BYTES;
      const from = Math.max(position, blockStart);
      const to = Math.min(position + length, blockStart + block.length);
      out.set(block.subarray(from - blockStart, to - blockStart), from - position);
    }
    return out;
  }

  private async block(index: number, number: number): Promise<Buffer> {
    const key = number * this.bases.length + index;
    let block = this.blocks.get(key);
    if (block) {
      this.blocks.delete(key);
    } else {
      const start = number * BLOCK_BYTES;
      block = this.freeBlockBuffer().subarray(0, Math.min(BLOCK_BYTES, this.bases[index].size - start));
      await this.readInto(index, start, block);
    }
    this.blocks.set(key, block);
    return block;
  }

  /** A new block buffer until CACHED_BLOCKS exist, then the least recently used one's. */
  private freeBlockBuffer(): Buffer {
    if (this.blocks.size < CACHED_BLOCKS) return Buffer.alloc(BLOCK_BYTES);
    const [oldestKey, oldest] = this.blocks.entries().next().value as [number, Buffer];
    this.blocks.delete(oldestKey);
    return Buffer.from(oldest.buffer, oldest.byteOffset, BLOCK_BYTES);
  }

  private async readInto(index: number, position: number, target: Buffer): Promise<void> {
    const basis = this.bases[index];
    switch (basis.kind) {
      case 'tar':
        return this.readTarInto(basis.layer, position, target);
      case 'inflated':
        target.set(await this.inflated.read(index, basis, position, target.length));
    }
  }

  async close(): Promise<void> {
    for (const fd of this.files.values()) closeSync(fd);
    for (const meta of this.metas.values()) meta.close();
    this.files.clear();
    this.metas.clear();
    this.blocks.clear();
    this.inflated.clear();
  }

  private async meta(layer: BasisEntry['layer']): Promise<OpenLayerMeta> {
    let meta = this.metas.get(layer);
    if (!meta) {
      meta = await openLayerMetaFile(this.store.layerMetaPath(layer));
      this.metas.set(layer, meta);
    }
    return meta;
  }

  private readTarInto(layer: BasisEntry['layer'], position: number, target: Buffer): void {
    const meta = this.metas.get(layer) as OpenLayerMeta;
    let layout = this.layouts.get(layer);
    if (!layout) {
      layout = new TarLayout(meta.meta);
      this.layouts.set(layer, layout);
    }
    for (let filled = 0; filled < target.length; ) {
      const stretch = layout.stretchAt(position + filled);
      const part = target.subarray(filled, filled + Math.min(stretch.length, target.length - filled));
      if ('skeletonOffset' in stretch) meta.readSkeletonInto(part, stretch.skeletonOffset);
      else this.readFileInto(layer, stretch.path, stretch.size, stretch.offset, part);
      filled += part.length;
    }
  }

  private readFileInto(layer: BasisEntry['layer'], path: string, size: number, position: number, target: Buffer): void {
    const key = `${layer}\0${path}`;
    let fd = this.files.get(key);
    if (fd !== undefined) {
      this.files.delete(key);
    } else {
      fd = this.openFile(layer, path, size);
      if (this.files.size >= MAX_OPEN_FILES) {
        const [oldestKey, oldest] = this.files.entries().next().value as [string, number];
        this.files.delete(oldestKey);
        closeSync(oldest);
      }
    }
    this.files.set(key, fd);
    if (readAllSync(fd, target, position) !== target.length) unusable(`${path} in layer ${layer} is shorter than the delta expects`);
  }

  private openFile(layer: BasisEntry['layer'], rawPath: string, size: number): number {
    let root = this.roots.get(layer);
    if (root === undefined) {
      root = realpathSync(this.store.layerDir(layer));
      this.roots.set(layer, root);
    }
    const path = safeEntryPath(rawPath, undefined, 'delta basis path');
    const full = join(root, path);
    const directory = dirname(full);
    if (!this.checkedDirectories.has(directory)) {
      let parent: string;
      try {
        parent = realpathSync(directory);
      } catch {
        unusable(`${path} is not in layer ${layer}`);
      }
      if (parent !== root && !parent.startsWith(root + sep)) unusable(`${path} leaves layer ${layer} through a symlink`);
      if (parent === directory) this.checkedDirectories.add(directory);
    }
    let fd: number;
    try {
      fd = openSync(full, constants.O_RDONLY | constants.O_NOFOLLOW);
    } catch {
      unusable(`${path} is not in layer ${layer}`);
    }
    const info = fstatSync(fd);
    if (!info.isFile() || info.size !== size) {
      closeSync(fd);
      unusable(`${path} in layer ${layer} is not the ${size}-byte file the delta expects`);
    }
    return fd;
  }
}
