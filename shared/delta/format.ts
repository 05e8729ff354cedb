/**
 * The delta blob format, versions 1 to 3: constants, limits and the in-memory shapes that the
 * writer takes and the decoder returns. docs/delta-format.md is the byte-level contract;
 * every number here is quoted there.
 */
import type { DeflateParams } from '../deflate/params.js';
import type { Digest } from '../digest.js';
import { PrtiqlError } from '../errors.js';
import type { ReferencePrediction } from './reference-prediction.js';

/** Bytes 0-6 of every delta blob; byte 7 is the format version. */
export const DELTA_MAGIC = Buffer.from('PRTQDLT', 'latin1');
/** The version writers emit; decoders read every version of DELTA_READABLE_VERSIONS. */
export const DELTA_FORMAT_VERSION = 3;
export const DELTA_READABLE_VERSIONS: readonly number[] = [1, 2, 3];
/** The first version with deflate members (opcode 0x05, basis kind 0x04). */
export const DEFLATE_MEMBERS_VERSION = 2;
/** The first version with tar header operations (opcode 0x06) and literal lengths in their own channel. */
export const TAR_HEADER_VERSION = 3;
/** The first version whose header leaves out the target diffID and the layer digests: the release's delta record holds them. */
export const RECORD_IDENTITY_VERSION = 3;
export const DELTA_PREFIX_LENGTH = DELTA_MAGIC.length + 1;

export const OPCODE = { end: 0x00, literal: 0x01, copy: 0x02, patch: 0x03, xpatch: 0x04, deflate: 0x05, tarHeader: 0x06 } as const;
/** Codes 0x01 and 0x02 are not kinds: early drafts specified file and skeleton bases that no writer ever produced. */
export const BASIS_KIND_CODE = { tar: 0x03, inflated: 0x04 } as const;

/**
 * Version 2 sends each field of an operation in one of these channels: a block holds one
 * section per channel, in this order, so that numbers of a kind and bytes of a kind are
 * compressed next to each other. Version 1 sends every field in one stream, in the same order.
 * Version 3 gives literal lengths their own channel, last: they are distributed unlike copy
 * lengths, which they shared the lengths channel with in version 2.
 */
export const CHANNEL = { control: 0, lengths: 1, offsets: 2, triples: 3, diffs: 4, extras: 5, literals: 6, literalLengths: 7 } as const;
export type Channel = (typeof CHANNEL)[keyof typeof CHANNEL];
export const CHANNEL_NAMES = Object.keys(CHANNEL) as readonly string[];

/** The section of a block each channel is read from and written to, by format version (2 or later). */
export function channelSections(version: number): readonly number[] {
  return version >= TAR_HEADER_VERSION ? Object.values(CHANNEL) : [...Object.values(CHANNEL).slice(0, -1), CHANNEL.lengths];
}
/** The sections of one version-2 block hold at most this many bytes together: the decoder holds one block. */
export const MAX_BLOCK_BYTES = 1024 * 1024;
/**
 * What the writer puts in a block: a quarter of the limit keeps 0.75 MiB off the device's
 * peak memory for 0.1-0.5 % more bytes (channels are cut into more, shorter sections).
 */
export const WRITTEN_BLOCK_BYTES = 256 * 1024;

/** Every encoded number (size, offset, length, zigzagged seek) is at most 2^53 - 1: exact in a double. */
export const MAX_VARINT_VALUE = Number.MAX_SAFE_INTEGER;
/** 8 LEB128 bytes hold 56 bits, enough for MAX_VARINT_VALUE; longer encodings are malformed. */
export const MAX_VARINT_BYTES = 8;
export const MAX_LAYERS = 1024;
export const MAX_BASES = 65_536;
export const MAX_WINDOW_REGIONS = 4096;
/** The decoder yields output in pieces of at most this many bytes and asks basis readers for no more at a time. */
export const DECODE_PIECE_BYTES = 256 * 1024;

/**
 * Brotli settings of the writer. The window is the decoder's ring buffer, resident on the
 * device for any op stream longer than it: 2^20 = 1 MiB keeps a delta apply within 64 MiB.
 * The op stream's long-range repeats are COPY operations already: on the corpus pairs a
 * 4 MiB window saved at most 1.2 % (node18-runtime) and cost the device 3 MiB. Decoders accept
 * any standard window.
 */
export const BROTLI_QUALITY = 11;
export const BROTLI_WINDOW_BITS = 20;
/**
 * Brotli's distance-code parameters (NPOSTFIX, NDIRECT) the writer tries on a short op stream,
 * brotli's default first: the best differs from delta to delta (on the corpus pairs from -1 %
 * to +0.3 % of the blob against the default), and trying costs a few compressions of a small
 * stream. Decoders need not know them: any standard brotli decoder reads every setting.
 */
export const BROTLI_DISTANCE_PARAMS: readonly (readonly [number, number])[] = [
  [0, 0],
  [1, 0],
  [2, 0],
  [3, 0],
  [1, 8],
  [2, 8],
];

/** A base layer's whole uncompressed tar: its sha256 is the layer's diffID. */
export interface TarBasis {
  kind: 'tar';
  layer: Digest;
  size: number;
}

/**
 * The inflated content of a raw deflate stream lying at `offset` in a base layer's tar (e.g.
 * the body of a .gz file): `size` is the inflated size, `compressedSize` the stream's.
 */
export interface InflatedBasis {
  kind: 'inflated';
  layer: Digest;
  offset: number;
  compressedSize: number;
  size: number;
}

export type BasisEntry = TarBasis | InflatedBasis;
export type BasisKind = BasisEntry['kind'];

/**
 * What a release's (signed) delta record says of a delta: the diffID of the layer it rebuilds
 * and the layers it reads, in the order of its layer table.
 */
export interface DeltaIdentity {
  target: Digest;
  basisLayers: readonly Digest[];
}

export interface DeltaHeader {
  /** diffID and size of the tar the delta rebuilds. */
  target: { diffID: Digest; size: number };
  /** Indexed by the `basis` field of operations. */
  bases: BasisEntry[];
}

/** `length` bytes of basis `basis` starting at `offset`. */
export interface BasisRange {
  basis: number;
  offset: number;
  length: number;
}

/**
 * One bsdiff control step: `diff.length` bytes made by adding `diff` to the window bytes at
 * the current position, then `extra` written as is, then the position moves by `seek`.
 */
export interface PatchTriple {
  diff: Uint8Array;
  extra: Uint8Array;
  seek: number;
}

export interface LiteralOp {
  type: 'literal';
  bytes: Uint8Array;
}

export interface CopyOp extends BasisRange {
  type: 'copy';
}

/**
 * A bsdiff patch whose old input is the window: the concatenation of its ranges, which may
 * come from several bases. Positions are offsets in that concatenation; `start` is the first.
 */
export interface PatchOp {
  type: 'patch';
  window: BasisRange[];
  start: number;
  triples: PatchTriple[];
}

/**
 * A tar header block made from the 512 bytes of a base at `offset` (an old header): its size
 * field set to the old size plus `sizeChange` and its checksum recomputed. A changed file's
 * header usually differs from the old one in exactly these two fields.
 */
export interface TarHeaderOp {
  type: 'tarHeader';
  basis: number;
  offset: number;
  sizeChange: number;
}

/** An operation that may appear inside a deflate member. */
export type MemberOp = LiteralOp | CopyOp | PatchOp;

/**
 * A raw deflate stream of `compressedSize` bytes: `ops` produce its `inflatedSize` inflated
 * bytes, which the decoder deflates with `params`.
 */
export interface DeflateOp {
  type: 'deflate';
  params: DeflateParams;
  inflatedSize: number;
  compressedSize: number;
  ops: MemberOp[];
}

/**
 * A patch whose diff bytes are added to predicted window bytes: the window with every
 * machine-code reference corrected for where its target moved (docs/delta-format.md, XPATCH).
 * Only at the top level of a version-2 delta.
 */
export interface XPatchOp extends Omit<PatchOp, 'type'> {
  type: 'xpatch';
  prediction: ReferencePrediction;
}

export type DeltaOp = MemberOp | DeflateOp | XPatchOp | TarHeaderOp;

/** The one error the decoder raises for anything wrong with the delta bytes themselves. */
export function deltaMalformed(message: string): never {
  throw new PrtiqlError('E_DELTA_MALFORMED', `delta: ${message}`);
}
