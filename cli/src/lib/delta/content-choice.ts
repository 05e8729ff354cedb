import { brotliCompressSync, constants } from 'node:zlib';
import type { PatchTriple } from '../../../../shared/delta/format.js';
import { OPCODE } from '../../../../shared/delta/format.js';
import { encodeVarint, zigzag } from '../../../../shared/delta/varint.js';
import { lzMatch, type MatchPiece } from './lz-match.js';

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

/** How one changed file is sent: its patch, copies of old bytes between literals, or all literal. */
export type ContentChoice = { kind: 'patch' } | { kind: 'matches'; pieces: MatchPiece[] } | { kind: 'literal' };

/**
 * Compares the patch of `content` against `old` with LZ77 copies from `old` and with the file
 * sent literally, each estimated with the same quick brotli setting, and returns the smallest:
 * text with moved or edited lines is usually copied, executables usually patched.
 */
export function chooseEncoding(old: Uint8Array, content: Uint8Array, triples: readonly PatchTriple[]): ContentChoice {
  const pieces = lzMatch(Buffer.from(old.buffer, old.byteOffset, old.byteLength), Buffer.from(content.buffer, content.byteOffset, content.byteLength));
  const patchCost = compressedSize(tripleBytes(triples));
  const matchCost = compressedSize(pieceBytes(pieces, content));
  const literalCost = compressedSize([content]);
  if (literalCost <= Math.min(patchCost, matchCost)) return { kind: 'literal' };
  return matchCost < patchCost ? { kind: 'matches', pieces } : { kind: 'patch' };
}
