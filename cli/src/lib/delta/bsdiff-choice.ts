import { randomUUID } from 'node:crypto';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { brotliCompress, constants } from 'node:zlib';
import { ByteBuilder } from '../../../../shared/delta/byte-builder.js';
import type { BasisRange, CopyOp, LiteralOp, PatchOp, PatchTriple } from '../../../../shared/delta/format.js';
import type { Architecture } from '../../../../shared/delta/reference-prediction.js';
import { encodeVarint, zigzag } from '../../../../shared/delta/varint.js';
import { PatchWindow } from '../../../../shared/delta/window.js';
import { OPCODE } from '../../../../shared/delta/format.js';
import { writePrediction } from '../../../../shared/delta/xpatch.js';
import { bsdiffFiles } from './bsdiff.js';
import { lzMatch } from './lz-match.js';
import { elfArchitecture, predictReferences } from './predict-references.js';
import type { SavedRange, TarFiles } from './tar-files.js';

const compress = promisify(brotliCompress);
/** A fast brotli setting: good enough to compare encodings of the same file. */
const ESTIMATE_PARAMS = { [constants.BROTLI_PARAM_QUALITY]: 5, [constants.BROTLI_PARAM_LGWIN]: 22 };

async function compressedSize(parts: Uint8Array[]): Promise<number> {
  return (await compress(Buffer.concat(parts), { params: ESTIMATE_PARAMS })).length;
}

/** Roughly what the patch's triples cost in the op stream (window ranges aside). */
function tripleBytes(triples: readonly PatchTriple[]): Uint8Array[] {
  return triples.flatMap((triple) => {
    const control: number[] = [];
    encodeVarint(triple.diff.length, control);
    encodeVarint(triple.extra.length, control);
    encodeVarint(zigzag(triple.seek), control);
    return [Buffer.from(control), triple.diff, triple.extra];
  });
}

/** What copies and literals cost in the op stream, offsets relative to each basis's last range as the writer sends them. */
function copyLiteralBytes(ops: readonly (CopyOp | LiteralOp)[], firstCursor: BasisRange): Uint8Array[] {
  const cursors = new Map([[firstCursor.basis, firstCursor.offset]]);
  return ops.flatMap((op) => {
    const control: number[] = [];
    if (op.type === 'literal') {
      control.push(OPCODE.literal);
      encodeVarint(op.bytes.length, control);
      return [Buffer.from(control), op.bytes];
    }
    control.push(OPCODE.copy);
    encodeVarint(op.basis, control);
    encodeVarint(zigzag(op.offset - (cursors.get(op.basis) ?? 0)), control);
    encodeVarint(op.length, control);
    cursors.set(op.basis, op.offset + op.length);
    return [Buffer.from(control)];
  });
}

export interface BsdiffInput {
  /** The old input: candidate files, concatenated, as ranges of the saved base tars ... */
  old: SavedRange[];
  /** ... and as the same ranges of the delta's bases, the PATCH window. */
  window: BasisRange[];
  next: SavedRange;
}

/**
 * How one changed file is sent: a bsdiff PATCH (an XPATCH predicting the references of
 * `predict`, if that is smaller), copies of old bytes between literals, or all literal.
 */
export type ContentEncoding = { kind: 'patch'; op: PatchOp; predict?: Architecture } | { kind: 'matches'; ops: (CopyOp | LiteralOp)[] } | { kind: 'literal' };

/** The patch's estimated cost, and its architecture if predicting its references makes it cheaper. */
async function patchCost(op: PatchOp, old: Buffer, content: Buffer): Promise<{ cost: number; predict?: Architecture }> {
  const architecture = elfArchitecture(content);
  const plain = compressedSize(tripleBytes(op.triples));
  if (architecture === undefined) return { cost: await plain };
  const predicted = predictReferences(op, old, architecture);
  const fields = new ByteBuilder();
  writePrediction(fields, predicted.prediction, old.length);
  const [plainCost, predictedCost] = await Promise.all([plain, compressedSize([...fields.take(true), ...tripleBytes(predicted.triples)])]);
  return predictedCost < plainCost ? { cost: predictedCost, predict: architecture } : { cost: plainCost };
}

/** LZ77 copies from the candidates (mapped back to basis ranges) and literals from the new content. */
function matchOps(old: Buffer, content: Buffer, window: BasisRange[]): (CopyOp | LiteralOp)[] {
  const basisWindow = new PatchWindow(window);
  return lzMatch(old, content).flatMap((piece): (CopyOp | LiteralOp)[] =>
    piece.kind === 'literal'
      ? [{ type: 'literal', bytes: content.subarray(piece.newOffset, piece.newOffset + piece.length) }]
      : basisWindow.slices(piece.oldOffset, piece.length).map((range) => ({ type: 'copy', ...range })),
  );
}

/**
 * Encodes the new file against the concatenated candidates both with bsdiff and with LZ77
 * copies, and returns the smallest of those and the file sent literally (each estimated
 * with the same quick brotli setting).
 */
export async function chooseEncoding(files: TarFiles, input: BsdiffInput, scratchDir: string): Promise<ContentEncoding> {
  const name = randomUUID();
  const oldPath = join(scratchDir, `${name}.old`);
  const newPath = join(scratchDir, `${name}.new`);
  try {
    await files.writeFile(oldPath, input.old);
    await files.writeFile(newPath, [input.next]);
    const { start, triples } = await bsdiffFiles(oldPath, newPath, scratchDir);
    const content = await files.read(input.next.tarPath, input.next.range.offset, input.next.range.length);
    const old = Buffer.concat(await Promise.all(input.old.map(({ tarPath, range }) => files.read(tarPath, range.offset, range.length))));
    const matches = matchOps(old, content, input.window);
    const patch: PatchOp = { type: 'patch', window: input.window, start, triples };
    const [{ cost: patchBytes, predict }, matchCost, literalCost] = await Promise.all([
      patchCost(patch, old, content),
      compressedSize(copyLiteralBytes(matches, input.window[0]!)),
      compressedSize([content]),
    ]);
    if (literalCost <= Math.min(patchBytes, matchCost)) return { kind: 'literal' };
    return matchCost < patchBytes ? { kind: 'matches', ops: matches } : { kind: 'patch', op: patch, predict };
  } finally {
    await Promise.all([rm(oldPath, { force: true }), rm(newPath, { force: true })]);
  }
}
