import { isDigest, type Digest } from './digest.js';
import { PrtiqlError } from './errors.js';
import type { TarEntryKind } from './tar/split.js';

/**
 * Layer metadata, tar-split style: everything of a layer's tar that is not regular-file
 * content (the skeleton), indexed per entry, so that the tar can be rebuilt byte for byte
 * from the extracted files. Binary form: 'PRTQMETA', u32BE version, u32BE index length,
 * the JSON index, then the skeleton bytes.
 */
export const LAYER_META_MAGIC = 'PRTQMETA';
export const LAYER_META_VERSION = 1;
/** Magic, version and index length. */
export const LAYER_META_PREFIX_BYTES = 16;
export const MAX_LAYER_META_INDEX_BYTES = 64 * 1024 * 1024;

export interface SkeletonSegment {
  segmentOffset: number;
  segmentLength: number;
}

/** One tar entry: its skeleton segment comes right before its `size` content bytes. */
export interface LayerMetaEntry extends SkeletonSegment {
  /** Normalised relative path inside the layer ('.' for the root). */
  path: string;
  type: TarEntryKind;
  size: number;
}

export interface LayerMeta {
  diffID: Digest;
  /** Size of the tar: skeleton plus all content. */
  size: number;
  skeletonSize: number;
  entries: LayerMetaEntry[];
  tail: SkeletonSegment;
}

const ENTRY_KINDS: ReadonlySet<string> = new Set<TarEntryKind>(['file', 'hardlink', 'symlink', 'directory', 'char', 'block', 'fifo']);

function malformed(message: string): never {
  throw new PrtiqlError('E_BAD_INPUT', `layer metadata: ${message}`);
}

/** Records segment offsets as split parts go by; the caller keeps the skeleton bytes. */
export class LayerMetaBuilder {
  private readonly entries: LayerMetaEntry[] = [];
  private skeletonSize = 0;
  private contentSize = 0;
  private tail?: SkeletonSegment;

  addEntry(path: string, type: TarEntryKind, size: number, segmentLength: number): void {
    this.entries.push({ path: path === '' ? '.' : path, type, size, segmentOffset: this.skeletonSize, segmentLength });
    this.skeletonSize += segmentLength;
    this.contentSize += size;
  }

  addTail(segmentLength: number): void {
    this.tail = { segmentOffset: this.skeletonSize, segmentLength };
    this.skeletonSize += segmentLength;
  }

  finish(diffID: Digest): LayerMeta {
    if (!this.tail) malformed('the archive has no tail');
    return {
      diffID,
      size: this.skeletonSize + this.contentSize,
      skeletonSize: this.skeletonSize,
      entries: this.entries,
      tail: this.tail,
    };
  }
}

/** Entries per piece of the index text. */
const INDEX_PIECE_ENTRIES = 256;

/**
 * The JSON index as pieces of text, entries last: a layer of many files never has its whole
 * index as one string and buffer (a device writes it at the end of an install, when memory
 * peaks).
 */
export function* layerMetaIndexText(meta: LayerMeta): Generator<string> {
  const { entries, ...fields } = meta;
  yield `${JSON.stringify(fields).slice(0, -1)},"entries":[`;
  for (let at = 0; at < entries.length; at += INDEX_PIECE_ENTRIES) {
    const piece = entries.slice(at, at + INDEX_PIECE_ENTRIES).map((entry) => JSON.stringify(entry)).join(',');
    yield at === 0 ? piece : `,${piece}`;
  }
  yield ']}';
}

/** The binary prefix of a metadata file whose JSON index has `indexLength` bytes. */
export function layerMetaPrefix(indexLength: number): Buffer {
  const prefix = Buffer.alloc(LAYER_META_PREFIX_BYTES);
  prefix.write(LAYER_META_MAGIC, 0, 'latin1');
  prefix.writeUInt32BE(LAYER_META_VERSION, 8);
  prefix.writeUInt32BE(indexLength, 12);
  return prefix;
}

/** Checks magic and version and returns the length of the JSON index that follows. */
export function layerMetaIndexLength(prefix: Uint8Array): number {
  const bytes = Buffer.from(prefix.buffer, prefix.byteOffset, prefix.byteLength);
  if (bytes.length < LAYER_META_PREFIX_BYTES || bytes.toString('latin1', 0, 8) !== LAYER_META_MAGIC) malformed('bad magic');
  const version = bytes.readUInt32BE(8);
  if (version !== LAYER_META_VERSION) malformed(`unsupported version ${version}`);
  const length = bytes.readUInt32BE(12);
  if (length > MAX_LAYER_META_INDEX_BYTES) malformed(`index of ${length} bytes exceeds the limit`);
  return length;
}

function isSize(value: unknown): value is number {
  return Number.isSafeInteger(value) && (value as number) >= 0;
}

/** Parses and checks the JSON index: segments are contiguous and add up to the tar size. */
export function parseLayerMetaIndex(json: Uint8Array): LayerMeta {
  let meta: LayerMeta;
  try {
    meta = JSON.parse(Buffer.from(json.buffer, json.byteOffset, json.byteLength).toString('utf8')) as LayerMeta;
  } catch {
    return malformed('index is not valid JSON');
  }
  if (!meta || typeof meta !== 'object' || !isDigest(meta.diffID) || !isSize(meta.size) || !isSize(meta.skeletonSize)) {
    malformed('index is malformed');
  }
  if (!Array.isArray(meta.entries) || !meta.tail) malformed('index has no entries or tail');
  let offset = 0;
  let content = 0;
  for (const entry of meta.entries) {
    const ok =
      entry &&
      typeof entry.path === 'string' &&
      ENTRY_KINDS.has(entry.type) &&
      isSize(entry.size) &&
      (entry.type === 'file' || entry.size === 0) &&
      entry.segmentOffset === offset &&
      isSize(entry.segmentLength);
    if (!ok) malformed(`entry ${JSON.stringify(entry?.path)} is malformed`);
    offset += entry.segmentLength;
    content += entry.size;
  }
  if (meta.tail.segmentOffset !== offset || !isSize(meta.tail.segmentLength)) malformed('tail is malformed');
  if (offset + meta.tail.segmentLength !== meta.skeletonSize) malformed('segments do not add up to the skeleton size');
  if (meta.skeletonSize + content !== meta.size) malformed('skeleton and content do not add up to the tar size');
  return meta;
}
