import { brotliCompressSync, constants } from 'node:zlib';
import { ByteBuilder } from '../../../../shared/delta/byte-builder.js';
import type { PatchOp, PatchTriple } from '../../../../shared/delta/format.js';
import { OPCODE } from '../../../../shared/delta/format.js';
import type { Architecture, ReferencePrediction } from '../../../../shared/delta/reference-prediction.js';
import { encodeVarint, zigzag } from '../../../../shared/delta/varint.js';
import { writePrediction } from '../../../../shared/delta/xpatch.js';
import { lzMatch, type MatchPiece } from './lz-match.js';
import type { PatchSteps } from './patch-builder.js';
import { predictReferences } from './predict-references.js';

/** A fast brotli setting: good enough to compare encodings of the same file. */
const ESTIMATE_PARAMS = { [constants.BROTLI_PARAM_QUALITY]: 5, [constants.BROTLI_PARAM_LGWIN]: 22 };

function compressedSize(parts: Uint8Array[]): number {
  return brotliCompressSync(Buffer.concat(parts), { params: ESTIMATE_PARAMS }).length;
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

/** What copies and literals cost in the op stream, offsets relative to the last copy's end as the writer sends them. */
function pieceBytes(pieces: readonly MatchPiece[], content: Uint8Array): Uint8Array[] {
  let cursor = 0;
  return pieces.flatMap((piece) => {
    const control: number[] = [];
    if (piece.kind === 'literal') {
      control.push(OPCODE.literal);
      encodeVarint(piece.length, control);
      return [Buffer.from(control), content.subarray(piece.newOffset, piece.newOffset + piece.length)];
    }
    control.push(OPCODE.copy, 0);
    encodeVarint(zigzag(piece.oldOffset - cursor), control);
    encodeVarint(piece.length, control);
    cursor = piece.oldOffset + piece.length;
    return [Buffer.from(control)];
  });
}

/** A patch as a worker sends it: over an XPATCH's predicted window bytes if `prediction` is set. */
export interface EncodedPatch {
  steps: PatchSteps;
  prediction?: ReferencePrediction;
}

/** How one changed file is sent: its patch (or XPATCH), copies of old bytes between literals, or all literal. */
export type ContentChoice = { kind: 'patch'; patch: EncodedPatch } | { kind: 'matches'; pieces: MatchPiece[] } | { kind: 'literal' };

/**
 * The patch `op` over the window bytes `window`, or for code of `architecture` the XPATCH of
 * it, whichever the quick brotli estimate finds smaller, with that estimate. The XPATCH is
 * exact only over a window of the same ranges as `op.window` (its offsets fix the aarch64 phase).
 */
export function cheaperPatch(window: Uint8Array, op: PatchOp, architecture: Architecture | undefined): { patch: EncodedPatch; cost: number } {
  const steps = { start: op.start, triples: op.triples };
  const plainCost = compressedSize(tripleBytes(op.triples));
  if (architecture === undefined) return { patch: { steps }, cost: plainCost };
  const predicted = predictReferences(op, window, architecture);
  const fields = new ByteBuilder();
  writePrediction(fields, predicted.prediction, window.length);
  const predictedCost = compressedSize([...fields.take(true), ...tripleBytes(predicted.triples)]);
  if (predictedCost >= plainCost) return { patch: { steps }, cost: plainCost };
  return { patch: { steps: { start: predicted.start, triples: predicted.triples }, prediction: predicted.prediction }, cost: predictedCost };
}

/**
 * Compares the patch `op` of `content` against `old` (an XPATCH of it for code of
 * `architecture`, if smaller) with LZ77 copies from `old` and with the file sent literally,
 * each estimated with the same quick brotli setting, and returns the smallest: text with
 * moved or edited lines is usually copied, executables usually patched.
 */
export function chooseEncoding(old: Uint8Array, content: Uint8Array, op: PatchOp, architecture: Architecture | undefined): ContentChoice {
  const pieces = lzMatch(Buffer.from(old.buffer, old.byteOffset, old.byteLength), Buffer.from(content.buffer, content.byteOffset, content.byteLength));
  const { patch, cost: patchBytes } = cheaperPatch(old, op, architecture);
  const matchCost = compressedSize(pieceBytes(pieces, content));
  const literalCost = compressedSize([content]);
  if (literalCost <= Math.min(patchBytes, matchCost)) return { kind: 'literal' };
  return matchCost < patchBytes ? { kind: 'matches', pieces } : { kind: 'patch', patch };
}
