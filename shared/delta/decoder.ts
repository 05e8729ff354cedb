import { PrtiqlError } from '../errors.js';
import { BlockSource } from './block-source.js';
import { ByteSource } from './byte-source.js';
import { applyDeflateMember, MemberDeflaters, refuseMembersBefore } from './deflate-member.js';
import { MAX_OCTAL_SIZE, octalSize, withTarSize } from '../tar/header-size.js';
import { TAR_BLOCK_SIZE } from '../tar/split.js';
import { CHANNEL, DECODE_PIECE_BYTES, DEFLATE_MEMBERS_VERSION, OPCODE, TAR_HEADER_VERSION, deltaMalformed, type BasisRange, type Channel, type DeltaHeader, type DeltaIdentity } from './format.js';
import { parseHeader } from './header.js';
import { inflateDelta } from './inflate.js';
import { OpRules } from './op-rules.js';
import { SingleStreamSource, type OpSource } from './op-source.js';
import { OutputPieces } from './output-pieces.js';
import { ReferencePredictor } from './reference-prediction.js';
import type { PatchWindow } from './window.js';
import { WindowChunks, type WindowLoader } from './window-chunks.js';
import { unzigzag } from './varint.js';
import { readPrediction } from './xpatch.js';

/** Random access to the bases of one delta, opened by the caller once the header is known. */
export interface BasisReader {
  /**
   * Exactly `length` bytes of basis `index` (an index into `header.bases`) at `position`.
   * The decoder asks only for ranges inside the basis's declared size, at most
   * DECODE_PIECE_BYTES at a time.
   */
  read(index: number, position: number, length: number): Promise<Uint8Array>;
  close?(): Promise<void>;
}

export type OpenBasis = (header: DeltaHeader) => Promise<BasisReader>;

/**
 * Reads only the header of a delta: enough to check that every basis layer is present before
 * streaming the rest. Stops pulling from `source` as soon as the header is read. `identity`:
 * what the release's delta record says of the delta (required from version 3, see parseHeader).
 */
export async function readDeltaHeader(source: AsyncIterable<Uint8Array>, identity?: DeltaIdentity): Promise<DeltaHeader> {
  const { version, body } = await inflateDelta(source);
  try {
    return refuseMembersBefore(version, await parseHeader(new ByteSource(body), version, identity));
  } finally {
    await body.return(undefined);
  }
}

/**
 * Rebuilds the target tar from a delta blob, yielding it in pieces of at most
 * DECODE_PIECE_BYTES. `openBasis` sees the header before any output and may refuse it by
 * throwing. `identity`: what the release's delta record says of the delta (required from
 * version 3, checked against the header before). Memory stays bounded whatever the sizes in the delta: one decompressed chunk,
 * one block (version 2, at most MAX_BLOCK_BYTES), one output piece, one window chunk and one
 * basis read are in flight at a time. Anything wrong with the delta
 * bytes raises PrtiqlError E_DELTA_MALFORMED; the caller checks the output's sha256 against
 * `header.target.diffID`, which the decoder does not do.
 */
export async function* decodeDelta(source: AsyncIterable<Uint8Array>, openBasis: OpenBasis, identity?: DeltaIdentity): AsyncGenerator<Buffer> {
  const { version, body } = await inflateDelta(source);
  try {
    const stream = new ByteSource(body);
    const header = refuseMembersBefore(version, await parseHeader(stream, version, identity));
    const reader = await openBasis(header);
    try {
      const input = version === 1 ? new SingleStreamSource(stream) : new BlockSource(stream, version);
      const decoding: Decoding = { header, input, reader, deflaters: new MemberDeflaters(), tarHeadersAllowed: version >= TAR_HEADER_VERSION };
      yield* applyUntilEnd(decoding, new OpRules(header, deltaMalformed), version >= DEFLATE_MEMBERS_VERSION, new OutputPieces(DECODE_PIECE_BYTES));
      if (!(await input.atEnd())) deltaMalformed('bytes follow the end operation');
    } finally {
      await reader.close?.();
    }
  } finally {
    await body.return(undefined);
  }
}

/** What every operation of one delta reads from. */
interface Decoding {
  header: DeltaHeader;
  input: OpSource;
  reader: BasisReader;
  deflaters: MemberDeflaters;
  tarHeadersAllowed: boolean;
}

/** Window bytes a patch loads at once: its runs are served from them. */
const WINDOW_CHUNK_BYTES = 64 * 1024;

/**
 * Operations up to and including END, written to `out`; every piece that fills is yielded, and
 * what is left at END. `membersAllowed` says whether DEFLATE and XPATCH may appear: only at
 * the top level of a version-2 delta, never inside a member.
 */
async function* applyUntilEnd(decoding: Decoding, rules: OpRules, membersAllowed: boolean, out: OutputPieces): AsyncGenerator<Buffer> {
  const { header, input, reader } = decoding;
  const readRange = async (): Promise<BasisRange> => {
    const basis = input.tryVarint(CHANNEL.control) ?? (await input.varint(CHANNEL.control));
    const offset = rules.cursor(basis) + (await signedVarint(input, CHANNEL.offsets));
    return { basis, offset, length: input.tryVarint(CHANNEL.lengths) ?? (await input.varint(CHANNEL.lengths)) };
  };

  for (;;) {
    const opcode = input.tryByte(CHANNEL.control) ?? (await input.byte(CHANNEL.control));
    switch (opcode) {
      case OPCODE.end:
        rules.end();
        if (!out.empty) yield out.take();
        return;
      case OPCODE.literal: {
        const length = input.tryVarint(CHANNEL.literalLengths) ?? (await input.varint(CHANNEL.literalLengths));
        rules.literal(length);
        yield* passThrough(input, CHANNEL.literals, length, out);
        break;
      }
      case OPCODE.copy: {
        const range = await readRange();
        rules.copy(range);
        yield* copyBasisRange(reader, header, range, out);
        break;
      }
      case OPCODE.tarHeader: {
        if (!decoding.tarHeadersAllowed) deltaMalformed('a tar header operation in a delta older than version 3');
        const basis = await input.varint(CHANNEL.control);
        const range = { basis, offset: rules.cursor(basis) + (await signedVarint(input, CHANNEL.offsets)), length: TAR_BLOCK_SIZE };
        const sizeChange = await signedVarint(input, CHANNEL.lengths);
        rules.copy(range);
        const old = await readExactly(reader, header, range);
        const oldSize = octalSize(old) ?? deltaMalformed(`the tar header at ${range.offset} of basis ${basis} has no octal size field`);
        const size = oldSize + sizeChange;
        if (size < 0 || size > MAX_OCTAL_SIZE) deltaMalformed(`tar header size ${oldSize} ${sizeChange < 0 ? '-' : '+'} ${Math.abs(sizeChange)} does not fit an octal size field`);
        yield* out.append(withTarSize(old, size));
        break;
      }
      case OPCODE.patch:
        yield* applyPatch(input, reader, header, rules, readRange, false, out);
        break;
      case OPCODE.xpatch:
        if (!membersAllowed) deltaMalformed('an xpatch inside a deflate member or in a version-1 delta');
        yield* applyPatch(input, reader, header, rules, readRange, true, out);
        break;
      case OPCODE.deflate:
        if (!membersAllowed) deltaMalformed('a deflate member inside a deflate member or in a version-1 delta');
        const nested = (memberRules: OpRules, inflatedSize: number) => applyUntilEnd(decoding, memberRules, false, new OutputPieces(Math.max(1, Math.min(inflatedSize, DECODE_PIECE_BYTES))));
        for await (const part of applyDeflateMember(input, header, rules, nested, decoding.deflaters)) {
          yield* out.append(part);
        }
        break;
      default:
        deltaMalformed(`unknown operation code 0x${opcode.toString(16)}`);
    }
  }
}

async function signedVarint(input: OpSource, channel: Channel): Promise<number> {
  const value = input.tryVarint(channel);
  return value === undefined ? input.signedVarint(channel) : unzigzag(value);
}

/** PATCH, or with `predicted` XPATCH: its prediction fields follow the window. */
async function* applyPatch(
  input: OpSource,
  reader: BasisReader,
  header: DeltaHeader,
  rules: OpRules,
  readRange: () => Promise<BasisRange>,
  predicted: boolean,
  out: OutputPieces,
): AsyncGenerator<Buffer> {
  const count = await input.varint(CHANNEL.control);
  rules.windowRanges(count);
  const ranges: BasisRange[] = [];
  for (let i = 1; i < count; i++) {
    const range = await readRange();
    rules.range(range);
    ranges.push(range);
  }
  const basis = await input.varint(CHANNEL.control);
  ranges.push(rules.openRange(basis, rules.cursor(basis) + (await input.signedVarint(CHANNEL.offsets))));
  const predictor = predicted ? await readPredictor(input, ranges.reduce((sum, range) => sum + range.length, 0)) : undefined;
  const window = rules.beginPatch(ranges, await input.varint(CHANNEL.offsets));
  const plain: WindowLoader = (position, length) => readWindow(reader, header, window, position, length);
  const chunks = new WindowChunks(predictor ? predictedWindow(predictor, plain) : plain, predicted, WINDOW_CHUNK_BYTES);
  let produced = 0;
  for (;;) {
    const addLength = input.tryVarint(CHANNEL.triples) ?? (await input.varint(CHANNEL.triples));
    const extraLength = input.tryVarint(CHANNEL.triples) ?? (await input.varint(CHANNEL.triples));
    if (addLength === 0 && extraLength === 0) break;
    let position = rules.triple(addLength, extraLength, await signedVarint(input, CHANNEL.offsets));
    const addEnd = position + addLength;
    const outputDelta = produced - position;
    while (rules.diffLeft > 0) {
      const runUnchanged = input.tryVarint(CHANNEL.diffs) ?? (await input.varint(CHANNEL.diffs));
      let changed = input.tryVarint(CHANNEL.diffs) ?? (await input.varint(CHANNEL.diffs));
      let unchanged = rules.diffRun(runUnchanged, changed);
      while (unchanged + changed > 0) {
        if (!chunks.holds(position, outputDelta)) await chunks.fetch(position, addEnd, outputDelta);
        const at = position - chunks.start;
        if (unchanged > 0) {
          const length = Math.min(unchanged, chunks.end - position, out.room);
          out.push(chunks.bytes.subarray(at, at + length));
          unchanged -= length;
          position += length;
        } else {
          const limit = Math.min(changed, chunks.end - position, out.room);
          const diff = input.tryUpTo(CHANNEL.diffs, limit) ?? (await input.upTo(CHANNEL.diffs, limit));
          out.pushSum(diff, chunks.bytes, at);
          changed -= diff.length;
          position += diff.length;
        }
        if (out.full) yield out.take();
      }
    }
    yield* passThrough(input, CHANNEL.extras, extraLength, out);
    produced += addLength + extraLength;
  }
  rules.endPatch();
}

/** An XPATCH's prediction fields, kept only as the predictor they make (its breakpoints in two arrays of numbers). */
async function readPredictor(input: OpSource, windowLength: number): Promise<ReferencePredictor> {
  const { prediction, predictedLength } = await readPrediction(input, windowLength);
  return new ReferencePredictor(prediction, predictedLength);
}

/** Window bytes with every reference predicted: reads a few bytes around the range for the sites that overlap it. */
function predictedWindow(predictor: ReferencePredictor, plain: WindowLoader): WindowLoader {
  return async (position, length, outputDelta) => {
    const { start, end } = predictor.context(position, position + length);
    const bytes = await plain(start, end - start, 0);
    return predictor.predict(bytes, start, position, position + length, outputDelta);
  };
}

/** `length` bytes of a channel to the output: through the current piece, or handed on as they are when a whole piece's worth is at hand. */
async function* passThrough(input: OpSource, channel: Channel, length: number, out: OutputPieces): AsyncGenerator<Buffer> {
  for (let left = length; left > 0; ) {
    const limit = Math.min(left, out.room);
    const bytes = input.tryUpTo(channel, limit) ?? (await input.upTo(channel, limit));
    left -= bytes.length;
    if (out.empty && bytes.length === out.size) {
      yield bytes;
      continue;
    }
    out.push(bytes);
    if (out.full) yield out.take();
  }
}

async function readExactly(reader: BasisReader, header: DeltaHeader, range: BasisRange): Promise<Buffer> {
  const bytes = await reader.read(range.basis, range.offset, range.length);
  if (bytes.byteLength !== range.length) {
    const basis = header.bases[range.basis]!;
    throw new PrtiqlError(
      'E_SIZE_MISMATCH',
      `basis ${range.basis} (${basis.kind} of layer ${basis.layer}) gave ${bytes.byteLength} bytes at ${range.offset}, expected ${range.length}`,
    );
  }
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/** A COPY: short ones into the current piece, whole pieces' worth handed on as the reader gave them. */
async function* copyBasisRange(reader: BasisReader, header: DeltaHeader, range: BasisRange, out: OutputPieces): AsyncGenerator<Buffer> {
  for (let done = 0; done < range.length; ) {
    const left = range.length - done;
    const whole = out.empty && left >= out.size;
    const length = whole ? out.size : Math.min(left, out.room);
    const bytes = await readExactly(reader, header, { basis: range.basis, offset: range.offset + done, length });
    done += length;
    if (whole) {
      yield bytes;
      continue;
    }
    out.push(bytes);
    if (out.full) yield out.take();
  }
}

/** Window bytes as they are, in one buffer (a range rarely spans bases). */
async function readWindow(reader: BasisReader, header: DeltaHeader, window: PatchWindow, position: number, length: number): Promise<Uint8Array> {
  const slices = window.slices(position, length);
  if (slices.length === 1) return readExactly(reader, header, slices[0]!);
  const parts: Buffer[] = [];
  for (const slice of slices) parts.push(await readExactly(reader, header, slice));
  return Buffer.concat(parts);
}
