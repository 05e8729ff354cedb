import { PrtiqlError } from '../errors.js';
import { BlockSource } from './block-source.js';
import { ByteSource } from './byte-source.js';
import { applyDeflateMember, refuseMembersBefore } from './deflate-member.js';
import { CHANNEL, DECODE_PIECE_BYTES, DEFLATE_MEMBERS_VERSION, OPCODE, deltaMalformed, type BasisRange, type Channel, type DeltaHeader } from './format.js';
import { parseHeader } from './header.js';
import { inflateDelta } from './inflate.js';
import { OpRules } from './op-rules.js';
import { SingleStreamSource, type OpSource } from './op-source.js';
import { ReferencePredictor } from './reference-prediction.js';
import type { PatchWindow } from './window.js';
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
 * streaming the rest. Stops pulling from `source` as soon as the header is read.
 */
export async function readDeltaHeader(source: AsyncIterable<Uint8Array>): Promise<DeltaHeader> {
  const { version, body } = await inflateDelta(source);
  try {
    return refuseMembersBefore(version, await parseHeader(new ByteSource(body)));
  } finally {
    await body.return(undefined);
  }
}

/**
 * Rebuilds the target tar from a delta blob, yielding it in pieces of at most
 * DECODE_PIECE_BYTES. `openBasis` sees the header before any output and may refuse it by
 * throwing. Memory stays bounded whatever the sizes in the delta: one decompressed chunk,
 * one block (version 2, at most MAX_BLOCK_BYTES), one output piece and one basis read are in
 * flight at a time. Anything wrong with the delta
 * bytes raises PrtiqlError E_DELTA_MALFORMED; the caller checks the output's sha256 against
 * `header.target.diffID`, which the decoder does not do.
 */
export async function* decodeDelta(source: AsyncIterable<Uint8Array>, openBasis: OpenBasis): AsyncGenerator<Buffer> {
  const { version, body } = await inflateDelta(source);
  try {
    const stream = new ByteSource(body);
    const header = refuseMembersBefore(version, await parseHeader(stream));
    const reader = await openBasis(header);
    try {
      const input = version === 1 ? new SingleStreamSource(stream) : new BlockSource(stream);
      yield* applyUntilEnd(header, input, reader, new OpRules(header, deltaMalformed), version >= DEFLATE_MEMBERS_VERSION);
      if (!(await input.atEnd())) deltaMalformed('bytes follow the end operation');
    } finally {
      await reader.close?.();
    }
  } finally {
    await body.return(undefined);
  }
}

/**
 * Operations up to and including END. `membersAllowed` says whether DEFLATE and XPATCH may
 * appear: only at the top level of a version-2 delta, never inside a member.
 */
async function* applyUntilEnd(header: DeltaHeader, input: OpSource, reader: BasisReader, rules: OpRules, membersAllowed: boolean): AsyncGenerator<Buffer> {
  const readRange = async (): Promise<BasisRange> => {
    const basis = await input.varint(CHANNEL.control);
    const offset = rules.cursor(basis) + (await input.signedVarint(CHANNEL.offsets));
    return { basis, offset, length: await input.varint(CHANNEL.lengths) };
  };

  for (;;) {
    const opcode = await input.byte(CHANNEL.control);
    switch (opcode) {
      case OPCODE.end:
        rules.end();
        return;
      case OPCODE.literal: {
        const length = await input.varint(CHANNEL.lengths);
        rules.literal(length);
        yield* passThrough(input, CHANNEL.literals, length);
        break;
      }
      case OPCODE.copy: {
        const range = await readRange();
        rules.copy(range);
        yield* readBasisRange(reader, header, range);
        break;
      }
      case OPCODE.patch:
        yield* applyPatch(input, reader, header, rules, readRange, false);
        break;
      case OPCODE.xpatch:
        if (!membersAllowed) deltaMalformed('an xpatch inside a deflate member or in a version-1 delta');
        yield* applyPatch(input, reader, header, rules, readRange, true);
        break;
      case OPCODE.deflate:
        if (!membersAllowed) deltaMalformed('a deflate member inside a deflate member or in a version-1 delta');
        yield* applyDeflateMember(input, header, rules, (memberRules) => applyUntilEnd(header, input, reader, memberRules, false));
        break;
      default:
        deltaMalformed(`unknown operation code 0x${opcode.toString(16)}`);
    }
  }
}

/** Window bytes [position, position + length) for a triple whose output position minus window position is `outputDelta`. */
type WindowBytes = (position: number, length: number, outputDelta: number) => Promise<Buffer>;

/** PATCH, or with `predicted` XPATCH: its prediction fields follow the window. */
async function* applyPatch(
  input: OpSource,
  reader: BasisReader,
  header: DeltaHeader,
  rules: OpRules,
  readRange: () => Promise<BasisRange>,
  predicted: boolean,
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
  const fields = predicted ? await readPrediction(input, ranges.reduce((sum, range) => sum + range.length, 0)) : undefined;
  const window = rules.beginPatch(ranges, await input.varint(CHANNEL.offsets));
  const plain: WindowBytes = (position, length) => readWindow(reader, header, window, position, length);
  const windowBytes = fields ? predictedWindow(new ReferencePredictor(fields.prediction, fields.predictedLength), plain) : plain;
  let produced = 0;
  for (;;) {
    const addLength = await input.varint(CHANNEL.triples);
    const extraLength = await input.varint(CHANNEL.triples);
    if (addLength === 0 && extraLength === 0) break;
    let position = rules.triple(addLength, extraLength, await input.signedVarint(CHANNEL.offsets));
    const outputDelta = produced - position;
    while (rules.diffLeft > 0) {
      const runUnchanged = await input.varint(CHANNEL.diffs);
      const changed = await input.varint(CHANNEL.diffs);
      const unchanged = rules.diffRun(runUnchanged, changed);
      for (let done = 0; done < unchanged; ) {
        const piece = await windowBytes(position + done, Math.min(unchanged - done, DECODE_PIECE_BYTES), outputDelta);
        done += piece.length;
        yield piece;
      }
      yield* addToWindow(input, windowBytes, position + unchanged, changed, outputDelta);
      position += unchanged + changed;
    }
    yield* passThrough(input, CHANNEL.extras, extraLength);
    produced += addLength + extraLength;
  }
  rules.endPatch();
}

/** Window bytes with every reference predicted: reads a few bytes around the range for the sites that overlap it. */
function predictedWindow(predictor: ReferencePredictor, plain: WindowBytes): WindowBytes {
  return async (position, length, outputDelta) => {
    const { start, end } = predictor.context(position, position + length);
    const bytes = await plain(start, end - start, 0);
    return predictor.predict(bytes, start, position, position + length, outputDelta);
  };
}

async function* passThrough(input: OpSource, channel: Channel, length: number): AsyncGenerator<Buffer> {
  for (let left = length; left > 0; ) {
    const piece = await input.upTo(channel, Math.min(left, DECODE_PIECE_BYTES));
    left -= piece.length;
    yield piece;
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

async function* readBasisRange(reader: BasisReader, header: DeltaHeader, range: BasisRange): AsyncGenerator<Buffer> {
  for (let done = 0; done < range.length; ) {
    const length = Math.min(range.length - done, DECODE_PIECE_BYTES);
    yield await readExactly(reader, header, { basis: range.basis, offset: range.offset + done, length });
    done += length;
  }
}

/** Window bytes as they are, in one buffer (a range rarely spans bases, and is at most a piece and a few bytes long). */
async function readWindow(reader: BasisReader, header: DeltaHeader, window: PatchWindow, position: number, length: number): Promise<Buffer> {
  const parts: Buffer[] = [];
  for (const slice of window.slices(position, length)) for await (const part of readBasisRange(reader, header, slice)) parts.push(part);
  return parts.length === 1 ? parts[0]! : Buffer.concat(parts);
}

/** Diff bytes plus the window bytes under them, modulo 256: bspatch's add step, piece by piece. */
async function* addToWindow(input: OpSource, windowBytes: WindowBytes, position: number, length: number, outputDelta: number): AsyncGenerator<Buffer> {
  for (let done = 0; done < length; ) {
    const diff = await input.upTo(CHANNEL.diffs, Math.min(length - done, DECODE_PIECE_BYTES));
    const old = await windowBytes(position + done, diff.length, outputDelta);
    for (let i = 0; i < diff.length; i++) diff[i] = (diff[i]! + old[i]!) & 0xff;
    done += diff.length;
    yield diff;
  }
}
