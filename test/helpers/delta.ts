import fc, { type GeneratorValue } from 'fast-check';
import { deflateRaw } from '../../shared/deflate/deflater.js';
import type { BasisReader, OpenBasis } from '../../shared/delta/decoder.js';
import { CHANNEL, CHANNEL_NAMES, DELTA_FORMAT_VERSION, channelSections, type BasisEntry, type BasisRange, type DeltaHeader, type DeltaIdentity, type DeltaOp, type PatchTriple } from '../../shared/delta/format.js';
import { basisLayers } from '../../shared/delta/header.js';
import { ReferencePredictor, type ReferencePrediction, type ShiftBreakpoint } from '../../shared/delta/reference-prediction.js';
import { encodeVarint } from '../../shared/delta/varint.js';
import { sha256Digest } from '../../shared/digest.js';
import { octalSize, withTarSize } from '../../shared/tar/header-size.js';

/** Shared by the delta tests: in-memory bases, a reference interpreter of operations, stream helpers. */

export async function collect(source: AsyncIterable<Uint8Array>): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const chunk of source) parts.push(Buffer.from(chunk));
  return Buffer.concat(parts);
}

/** Varints (numbers) and raw bytes (Buffers) in order: a hand-made op stream. */
export function body(...parts: (number | Buffer)[]): Buffer {
  return Buffer.concat(
    parts.map((part) => {
      if (Buffer.isBuffer(part)) return part;
      const out: number[] = [];
      encodeVarint(part, out);
      return Buffer.from(out);
    }),
  );
}

export type Sections = Partial<Record<keyof typeof CHANNEL, (number | Buffer)[]>>;

/**
 * One block of `version` (2 by default): the section lengths (as given, or the true ones), then
 * the sections in channel order. A version-2 block has no literalLengths section.
 */
export function block(sections: Sections, lengths?: number[], version = 2): Buffer {
  const names = CHANNEL_NAMES.slice(0, Math.max(...channelSections(version)) + 1);
  const parts = names.map((name) => body(...(sections[name as keyof typeof CHANNEL] ?? [])));
  return Buffer.concat([body(...(lengths ?? parts.map((part) => part.length))), ...parts]);
}

/** Re-chunks bytes the way a network might deliver them. */
export async function* pieces(data: Uint8Array, size: number): AsyncGenerator<Uint8Array> {
  for (let i = 0; i < data.length; i += size) yield data.subarray(i, i + size);
}

export interface ReadLog {
  largestRead: number;
  reads: number;
}

/**
 * Bases held in memory. A read outside a basis throws a plain Error, never a PrtiqlError:
 * the decoder must check ranges itself, so such a read fails any test that expects typed errors.
 */
export function memoryBases(contents: readonly Uint8Array[], log: ReadLog = { largestRead: 0, reads: 0 }): OpenBasis {
  const reader: BasisReader = {
    async read(index, position, length) {
      const basis = contents[index];
      if (basis === undefined || position < 0 || length < 1 || position + length > basis.length) {
        throw new Error(`test reader: out-of-range read ${index}:${position}+${length}`);
      }
      log.reads++;
      log.largestRead = Math.max(log.largestRead, length);
      return basis.subarray(position, position + length);
    },
  };
  return async () => reader;
}

/** One tar basis per buffer: each buffer stands for a base layer's tar, its sha256 the layer's diffID. */
export function tarBases(contents: readonly Uint8Array[]): BasisEntry[] {
  return contents.map((content) => ({ kind: 'tar', layer: sha256Digest(content), size: content.length }));
}

export function headerFor(target: Uint8Array, bases: BasisEntry[]): DeltaHeader {
  return { target: { diffID: sha256Digest(target), size: target.length }, bases };
}

/** What a release's delta record would say of a delta with `header`: from version 3 the decoder needs it. */
export function identityOf(header: DeltaHeader): DeltaIdentity {
  return { target: header.target.diffID, basisLayers: basisLayers(header) };
}

/** What the operations mean, written as plainly as possible: the model the decoder is checked against. */
export function applyInMemory(bases: readonly Uint8Array[], ops: readonly DeltaOp[]): Buffer {
  const out: number[] = [];
  for (const op of ops) {
    if (op.type === 'literal') out.push(...op.bytes);
    else if (op.type === 'copy') out.push(...bases[op.basis]!.subarray(op.offset, op.offset + op.length));
    else if (op.type === 'deflate') out.push(...deflateRaw(applyInMemory(bases, op.ops), op.params));
    else if (op.type === 'tarHeader') {
      const old = bases[op.basis]!.subarray(op.offset, op.offset + 512);
      out.push(...withTarSize(old, octalSize(old)! + op.sizeChange));
    }
    else {
      const window = Buffer.concat(op.window.map((r) => bases[r.basis]!.subarray(r.offset, r.offset + r.length)));
      // an XPATCH's diff bytes are added to the window predicted as a whole, never in pieces
      const predictor = op.type === 'xpatch' ? new ReferencePredictor(op.prediction, window.length) : undefined;
      let position = op.start;
      let produced = 0;
      for (const triple of op.triples) {
        const end = position + triple.diff.length;
        const old = predictor ? predictor.predict(window, 0, position, end, produced - position) : window.subarray(position, end);
        triple.diff.forEach((d, i) => out.push((d + old[i]!) & 0xff));
        out.push(...triple.extra);
        produced += triple.diff.length + triple.extra.length;
        position = end + triple.seek;
      }
    }
  }
  return Buffer.from(out);
}

/** fast-check runs: the default keeps the suite quick; PRTIQL_FUZZ_RUNS asks for a long run. */
export function fuzzRuns(quick: number): number {
  const asked = Number(process.env.PRTIQL_FUZZ_RUNS);
  return Number.isSafeInteger(asked) && asked > 0 ? asked : quick;
}

export interface DeltaCase {
  bases: Uint8Array[];
  header: DeltaHeader;
  ops: DeltaOp[];
  target: Buffer;
}

// fc.gen() remembers every distinct (builder, arguments) pair it is called with, and gets slower
// as that list grows; drawing only from these fixed arbitraries keeps long runs fast.
const NAT = fc.nat();
const BYTES = fc.uint8Array({ maxLength: 3000 });

export function int(g: GeneratorValue, min: number, max: number): number {
  return min + (g(() => NAT) % (max - min + 1));
}

export function bytesOf(g: GeneratorValue, length: number): Buffer {
  const source = g(() => BYTES);
  const out = Buffer.alloc(length);
  if (source.length > 0) for (let i = 0; i < length; i++) out[i] = source[i % source.length]! ^ (i >> 8);
  return out;
}

function drawRange(g: GeneratorValue, bases: readonly Uint8Array[]): BasisRange | undefined {
  const usable = bases.flatMap((basis, index) => (basis.length > 0 ? [index] : []));
  if (usable.length === 0) return undefined;
  const basis = usable[int(g, 0, usable.length - 1)]!;
  const size = bases[basis]!.length;
  const offset = int(g, 0, size - 1);
  return { basis, offset, length: int(g, 1, size - offset) };
}

function drawTriples(g: GeneratorValue, windowLength: number, start: number): PatchTriple[] {
  const triples: PatchTriple[] = [];
  let position = start;
  for (let i = int(g, 1, 6); i > 0; i--) {
    const diff = bytesOf(g, int(g, 0, windowLength - position));
    const extra = bytesOf(g, int(g, diff.length === 0 ? 1 : 0, 300));
    const after = position + diff.length;
    const seek = int(g, -after, windowLength - after);
    triples.push({ diff, extra, seek });
    position = after + seek;
  }
  return triples;
}

/**
 * Writes references into `bytes` at random places: x86-64 calls (E8 rel32) and aarch64 BL
 * words whose targets lie inside the bytes, so that XPATCH windows drawn over them have sites.
 */
function withReferences(g: GeneratorValue, bytes: Uint8Array): Uint8Array {
  const out = Buffer.from(bytes);
  for (let i = out.length >= 16 ? int(g, 0, out.length >> 4) : 0; i > 0; i--) {
    const at = int(g, 0, out.length - 5);
    const target = int(g, 0, out.length - 1);
    if (int(g, 0, 1) === 0) {
      out[at] = 0xe8;
      out.writeInt32LE(target - (at + 5), at + 1);
    } else {
      const word = at & ~3;
      out.writeUInt32LE((0x94000000 + ((((target - word) >> 2) % 2 ** 26) + 2 ** 26) % 2 ** 26) >>> 0, word);
    }
  }
  return out;
}

function drawPrediction(g: GeneratorValue, windowLength: number): ReferencePrediction {
  const architecture = int(g, 0, 1) === 0 ? 'x86_64' : 'aarch64';
  const shifts: ShiftBreakpoint[] = [];
  let position = -1;
  let shift = 0;
  for (let i = int(g, 0, 4); i > 0; i--) {
    position += int(g, 1, windowLength + 1);
    shift += int(g, 1, 40) * (int(g, 0, 1) === 0 ? -1 : 1);
    shifts.push({ position, shift });
  }
  return { architecture, phase: architecture === 'aarch64' ? int(g, 0, 3) : 0, shifts };
}

/** `bytes` with, half the time when it is long enough, a tar header block written at a random offset. */
function withTarHeader(g: GeneratorValue, bytes: Uint8Array): Uint8Array {
  if (bytes.length < 512 || int(g, 0, 1) === 0) return bytes;
  const out = Buffer.from(bytes);
  tarHeaderBlock('file', int(g, 0, 2 ** 31 - 1)).copy(out, int(g, 0, out.length - 512));
  return out;
}

/** Offsets at which `bytes` holds 512 bytes whose size field is octal: where a TAR HEADER may read. */
function tarHeaderOffsets(bytes: Uint8Array): number[] {
  const offsets: number[] = [];
  for (let offset = 0; offset + 512 <= bytes.length; offset++) if (octalSize(bytes.subarray(offset, offset + 512)) !== undefined) offsets.push(offset);
  return offsets;
}

/** A valid delta drawn at random: tar bases, then literal, copy, patch, (from version 2) xpatch and (from version 3) tar header ops over them. */
export function drawDeltaCase(g: GeneratorValue, version = DELTA_FORMAT_VERSION): DeltaCase {
  const bases = Array.from({ length: int(g, 0, 4) }, () => withTarHeader(g, withReferences(g, bytesOf(g, int(g, 0, 1000)))));
  const entries = tarBases(bases);
  const ops: DeltaOp[] = [];
  for (let i = int(g, 0, 12); i > 0; i--) {
    const type = (['literal', 'copy', 'patch', 'xpatch', 'tarHeader'] as const)[int(g, 0, version >= 3 ? 4 : version >= 2 ? 3 : 2)]!;
    const range = drawRange(g, bases);
    const headers = bases.flatMap((basis, index) => tarHeaderOffsets(basis).map((offset) => ({ basis: index, offset })));
    if (type === 'tarHeader' && headers.length > 0) {
      const { basis, offset } = headers[int(g, 0, headers.length - 1)]!;
      const oldSize = octalSize(bases[basis]!.subarray(offset, offset + 512))!;
      ops.push({ type, basis, offset, sizeChange: int(g, 0, 2 ** 31 - 1) * int(g, 1, 4) - oldSize });
    } else if (type === 'literal' || type === 'tarHeader' || range === undefined) {
      ops.push({ type: 'literal', bytes: bytesOf(g, int(g, 1, 2000)) });
    } else if (type === 'copy') {
      ops.push({ type: 'copy', ...range });
    } else {
      const window = [range, ...Array.from({ length: int(g, 0, 2) }, () => drawRange(g, bases)!)];
      const windowLength = window.reduce((sum, r) => sum + r.length, 0);
      const start = int(g, 0, windowLength);
      const triples = drawTriples(g, windowLength, start);
      ops.push(type === 'patch' ? { type, window, start, triples } : { type, window, start, triples, prediction: drawPrediction(g, windowLength) });
    }
  }
  const target = applyInMemory(bases, ops);
  return { bases, header: headerFor(target, entries), ops, target };
}

/** A ustar header block for a regular file, its fields written as GNU tar writes them. */
export function tarHeaderBlock(name: string, size: number): Buffer {
  const header = Buffer.alloc(512);
  const octal = (value: number, digits: number, at: number) => header.write(`${value.toString(8).padStart(digits, '0')}\0`, at, 'latin1');
  header.write(name, 0, 'utf8');
  octal(0o644, 7, 100);
  octal(0, 7, 108);
  octal(0, 7, 116);
  octal(size, 11, 124);
  octal(0, 11, 136);
  header.write('0', 156, 'latin1');
  header.write('ustar\u000000', 257, 'latin1');
  header.fill(0x20, 148, 156);
  let checksum = 0;
  for (const byte of header) checksum += byte;
  header.write(`${checksum.toString(8).padStart(6, '0')}\0 `, 148, 'latin1');
  return header;
}
