import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { promisify } from 'node:util';
import { brotliCompress, constants, createBrotliCompress } from 'node:zlib';
import { PrtiqlError } from '../errors.js';
import { BlockBuilder } from './block-builder.js';
import { ByteBuilder } from './byte-builder.js';
import { writeMemberHead } from './deflate-member.js';
import {
  BROTLI_DISTANCE_PARAMS,
  BROTLI_QUALITY,
  BROTLI_WINDOW_BITS,
  CHANNEL,
  DEFLATE_MEMBERS_VERSION,
  DELTA_FORMAT_VERSION,
  DELTA_MAGIC,
  DELTA_READABLE_VERSIONS,
  MAX_VARINT_VALUE,
  OPCODE,
  TAR_HEADER_VERSION,
  type BasisRange,
  type DeltaHeader,
  type DeltaOp,
  type PatchOp,
  type XPatchOp,
} from './format.js';
import { checkHeader, encodeHeader } from './header.js';
import { OpRules } from './op-rules.js';
import type { OpSink } from './op-sink.js';
import { zigzag } from './varint.js';
import { checkPrediction, writePrediction } from './xpatch.js';
import { MAX_OCTAL_SIZE } from '../tar/header-size.js';
import { TAR_BLOCK_SIZE } from '../tar/split.js';

const COMPRESS_CHUNK_BYTES = 64 * 1024;
/** Brotli's size hint is an unsigned 32-bit number. */
const MAX_SIZE_HINT = 2 ** 32 - 1;

function invalid(message: string): never {
  throw new PrtiqlError('E_INTERNAL', `delta writer: ${message}`);
}

function signed(value: number): number {
  const encoded = zigzag(value);
  if (!Number.isSafeInteger(value) || encoded > MAX_VARINT_VALUE) invalid(`${value} is outside the signed number range`);
  return encoded;
}

function writeRange(out: OpSink, rules: OpRules, range: BasisRange): void {
  out.varint(CHANNEL.control, range.basis);
  out.varint(CHANNEL.offsets, signed(range.offset - rules.cursor(range.basis)));
  out.varint(CHANNEL.lengths, range.length);
}

/**
 * Zero diff bytes between changed ones that stay in the changed part: sending up to three
 * zeros costs less than ending the run and starting another (executables' diffs are full of
 * such gaps, between the changed bytes of relocated addresses). Against two: node18-runtime
 * -1.7 %, untuned-esbuild -0.9 %, os-base and go-binary-patch -0.3 %, untuned-libvips +0.1 %,
 * native-large +0.06 %; four was better still on node18-runtime but worse on the other large
 * executables.
 */
const ZERO_GAP_KEPT = 3;

/** A diff as runs: bytes equal to the window's (a zero diff), then bytes that differ; 0, 0 ends it early. */
function writeDiff(out: OpSink, rules: OpRules, diff: Uint8Array): void {
  for (let at = 0; at < diff.length; ) {
    let changedAt = at;
    while (changedAt < diff.length && diff[changedAt] === 0) changedAt++;
    let end = changedAt;
    for (;;) {
      while (end < diff.length && diff[end] !== 0) end++;
      let gapEnd = end;
      while (gapEnd < diff.length && diff[gapEnd] === 0 && gapEnd - end < ZERO_GAP_KEPT) gapEnd++;
      if (gapEnd === end || gapEnd === diff.length || diff[gapEnd] === 0) break;
      end = gapEnd;
    }
    const [unchanged, changed] = end === changedAt ? [0, 0] : [changedAt - at, end - changedAt];
    rules.diffRun(unchanged, changed);
    out.varint(CHANNEL.diffs, unchanged);
    out.varint(CHANNEL.diffs, changed);
    out.bytes(CHANNEL.diffs, diff.subarray(changedAt, end));
    at = end;
  }
}

function writePatch(out: OpSink, rules: OpRules, op: PatchOp | XPatchOp): void {
  rules.windowRanges(op.window.length);
  out.byte(CHANNEL.control, OPCODE[op.type]);
  out.varint(CHANNEL.control, op.window.length);
  const ranges = op.window.slice(0, -1);
  for (const range of ranges) {
    writeRange(out, rules, range);
    rules.range(range);
  }
  // The last range runs to the end of its basis on the wire: it needs no length.
  const last = op.window.at(-1)!;
  out.varint(CHANNEL.control, last.basis);
  out.varint(CHANNEL.offsets, signed(last.offset - rules.cursor(last.basis)));
  ranges.push(rules.openRange(last.basis, last.offset));
  if (op.type === 'xpatch') {
    checkPrediction(op.prediction, invalid);
    writePrediction(out, op.prediction, op.window.reduce((sum, range) => sum + range.length, 0));
  }
  rules.beginPatch(ranges, op.start);
  out.varint(CHANNEL.offsets, op.start);
  for (const triple of op.triples) {
    rules.triple(triple.diff.byteLength, triple.extra.byteLength, triple.seek);
    out.varint(CHANNEL.triples, triple.diff.byteLength);
    out.varint(CHANNEL.triples, triple.extra.byteLength);
    out.varint(CHANNEL.offsets, signed(triple.seek));
    writeDiff(out, rules, triple.diff);
    out.bytes(CHANNEL.extras, triple.extra);
  }
  rules.endPatch();
  out.varint(CHANNEL.triples, 0);
  out.varint(CHANNEL.triples, 0);
}

/**
 * One operation of a delta of format `version`; `membersAllowed`: DEFLATE and XPATCH may
 * appear (top level of a version-2 or later delta).
 */
function writeOp(out: OpSink, rules: OpRules, header: DeltaHeader, op: DeltaOp, version: number, membersAllowed: boolean): void {
  switch (op.type) {
    case 'literal':
      rules.literal(op.bytes.byteLength);
      out.byte(CHANNEL.control, OPCODE.literal);
      out.varint(CHANNEL.literalLengths, op.bytes.byteLength);
      out.bytes(CHANNEL.literals, op.bytes);
      break;
    case 'tarHeader':
      if (version < TAR_HEADER_VERSION) invalid(`a tar header operation in a version-${version} delta`);
      if (Math.abs(op.sizeChange) > MAX_OCTAL_SIZE) invalid(`tar header size change ${op.sizeChange} is larger than an octal size field holds`);
      out.byte(CHANNEL.control, OPCODE.tarHeader);
      out.varint(CHANNEL.control, op.basis);
      out.varint(CHANNEL.offsets, signed(op.offset - rules.cursor(op.basis)));
      out.varint(CHANNEL.lengths, signed(op.sizeChange));
      rules.copy({ basis: op.basis, offset: op.offset, length: TAR_BLOCK_SIZE });
      break;
    case 'copy':
      out.byte(CHANNEL.control, OPCODE.copy);
      writeRange(out, rules, op);
      rules.copy(op);
      break;
    case 'patch':
      writePatch(out, rules, op);
      break;
    case 'xpatch':
      if (!membersAllowed) invalid('an xpatch inside a deflate member or in a version-1 delta');
      writePatch(out, rules, op);
      break;
    case 'deflate': {
      if (!membersAllowed) invalid('a deflate member inside a deflate member or in a version-1 delta');
      out.byte(CHANNEL.control, OPCODE.deflate);
      const memberRules = writeMemberHead(out, rules, header, op, invalid);
      for (const inner of op.ops) writeOp(out, memberRules, header, inner, version, false);
      memberRules.end();
      out.byte(CHANNEL.control, OPCODE.end);
      break;
    }
    default:
      invalid(`unknown operation ${JSON.stringify((op as { type: unknown }).type)}`);
  }
}

/** An op stream up to this size is compressed with each BROTLI_DISTANCE_PARAMS and the smallest kept; a longer one is streamed with the defaults. */
const SEARCHED_STREAM_BYTES = 1024 * 1024;
const brotliCompressAsync = promisify(brotliCompress);

function brotliParams(sizeHint: number, [postfix, direct]: readonly [number, number] = BROTLI_DISTANCE_PARAMS[0]!): Record<number, number> {
  return {
    [constants.BROTLI_PARAM_MODE]: constants.BROTLI_MODE_GENERIC,
    [constants.BROTLI_PARAM_QUALITY]: BROTLI_QUALITY,
    [constants.BROTLI_PARAM_LGWIN]: BROTLI_WINDOW_BITS,
    [constants.BROTLI_PARAM_SIZE_HINT]: sizeHint,
    [constants.BROTLI_PARAM_NPOSTFIX]: postfix,
    [constants.BROTLI_PARAM_NDIRECT]: direct,
  };
}

/** The op stream compressed: a short one in one piece, the smallest of BROTLI_DISTANCE_PARAMS; a longer one as it is read. */
async function* compress(body: AsyncGenerator<Buffer>, sizeHint: number): AsyncGenerator<Buffer> {
  const head: Buffer[] = [];
  let headBytes = 0;
  while (headBytes <= SEARCHED_STREAM_BYTES) {
    const next = await body.next();
    if (next.done) {
      const raw = Buffer.concat(head);
      const candidates = await Promise.all(BROTLI_DISTANCE_PARAMS.map((distance) => brotliCompressAsync(raw, { params: brotliParams(raw.length, distance) })));
      yield candidates.reduce((smallest, candidate) => (candidate.length < smallest.length ? candidate : smallest));
      return;
    }
    head.push(next.value);
    headBytes += next.value.length;
  }
  const compressor = createBrotliCompress({ chunkSize: COMPRESS_CHUNK_BYTES, params: brotliParams(sizeHint) });
  const rest = (async function* () {
    yield* head;
    yield* body;
  })();
  pipeline(Readable.from(rest), compressor).catch(() => {
    // the same error fails the compressor, which is what the reader sees
  });
  yield* compressor;
}

/** The decompressed op stream: header, operations, end. Ops are checked by the decoder's own rules. */
async function* serialize(header: DeltaHeader, ops: Iterable<DeltaOp> | AsyncIterable<DeltaOp>, out: OpSink, version: number): AsyncGenerator<Buffer> {
  const rules = new OpRules(header, invalid);
  yield encodeHeader(header, version);
  for await (const op of ops) {
    writeOp(out, rules, header, op, version, version >= DEFLATE_MEMBERS_VERSION);
    yield* out.take();
  }
  rules.end();
  out.byte(CHANNEL.control, OPCODE.end);
  yield* out.take(true);
}

export interface EncodeOptions {
  /**
   * Format version, DELTA_FORMAT_VERSION by default; 1 for devices whose applier reads only
   * version 1 (it has no channels: every field in one stream).
   */
  version?: number;
}

/**
 * Encodes a delta blob: the 8-byte prefix, then the header and `ops` (in target order) as one
 * brotli stream (BROTLI_QUALITY, BROTLI_WINDOW_BITS). Ops are consumed as the blob is read, so
 * a caller can stream them. A header or op that breaks a format rule
 * raises E_INTERNAL (the header at once, an op when the stream reaches it).
 */
export function encodeDelta(header: DeltaHeader, ops: Iterable<DeltaOp> | AsyncIterable<DeltaOp>, options: EncodeOptions = {}): Readable {
  const version = options.version ?? DELTA_FORMAT_VERSION;
  if (!DELTA_READABLE_VERSIONS.includes(version)) invalid(`format version ${version} is not one this writer knows`);
  checkHeader(header, invalid);
  if (version < DEFLATE_MEMBERS_VERSION && header.bases.some((basis) => basis.kind === 'inflated')) invalid(`version ${version} has no inflated bases`);
  const body = serialize(header, ops, version === 1 ? new ByteBuilder() : new BlockBuilder(version), version);
  const prefix = Buffer.concat([DELTA_MAGIC, Buffer.of(version)]);
  return Readable.from(
    (async function* () {
      yield prefix;
      yield* compress(body, Math.min(header.target.size, MAX_SIZE_HINT));
    })(),
  );
}
