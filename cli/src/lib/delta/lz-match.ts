import type { MatchPiece } from './block-match.js';

/** Bytes hashed to find match candidates: the shortest match found through the hash table. */
const HASH_BYTES = 8;
/** Shortest copy at a new offset; a copy that continues the previous displacement may be shorter. */
const MIN_COPY_BYTES = 16;
const MIN_REPEAT_COPY_BYTES = 4;
/** Candidates tried per position: more finds longer matches, at the cost of time. */
const MAX_CHAIN = 128;
/** A copy this long sets the main displacement, tried again after short copies elsewhere. */
const LONG_COPY_BYTES = 64;
/** A copy must be this much longer than what its offset costs. */
const MIN_SCORE = 4;
/**
 * Match length one more byte of offset is worth. Copies far from where the last one ended
 * cost several poorly compressible offset bytes, and usually a jump back after them; a
 * literal instead compresses with the rest of the new text.
 */
const OFFSET_WEIGHT = 16;

/** Roughly what a copy's offset, relative to the cursor, costs in bytes of match length. */
function offsetCost(delta: number): number {
  const encoded = delta >= 0 ? delta * 2 : -delta * 2 - 1;
  return encoded < 0x80 ? 0 : OFFSET_WEIGHT * Math.ceil(Math.log2(encoded + 1) / 7);
}

/** A match this long is taken without looking further. */
const GOOD_ENOUGH_BYTES = 1024;

function hashAt(bytes: Buffer, at: number, shift: number): number {
  const low = Math.imul(bytes.readUInt32LE(at), 0x9e3779b1);
  const high = Math.imul(bytes.readUInt32LE(at + 4) ^ (low >>> 15), 0x85ebca77);
  return (high ^ (high >>> 13)) >>> shift;
}

function matchLength(old: Buffer, oldAt: number, next: Buffer, nextAt: number): number {
  const limit = Math.min(old.length - oldAt, next.length - nextAt);
  let length = 0;
  while (length < limit && old[oldAt + length] === next[nextAt + length]) length++;
  return length;
}

/**
 * LZ77 against an old input, the way zstd --patch-from and xdelta work: every position of the
 * old input is indexed by a hash of its next 8 bytes (chains bounded to MAX_CHAIN candidates),
 * the new input is scanned greedily for the longest match, extended backwards over pending
 * literal bytes, with the previous match's displacement tried first (an edit inside copied
 * text costs a short literal and a copy whose offset continues where the last one ended).
 * Matched bytes become copies, the rest literal. Memory: 4 bytes per old byte plus the table.
 */
export function lzMatch(old: Buffer, next: Buffer): MatchPiece[] {
  const pieces: MatchPiece[] = [];
  const bits = Math.min(24, Math.max(12, Math.ceil(Math.log2(old.length + 1)) + 1));
  const shift = 32 - bits;
  const head = new Int32Array(1 << bits).fill(-1);
  const chain = new Int32Array(Math.max(0, old.length - HASH_BYTES + 1));
  for (let at = 0; at + HASH_BYTES <= old.length; at++) {
    const hash = hashAt(old, at, shift);
    chain[at] = head[hash]!;
    head[hash] = at;
  }

  let literalStart = 0;
  /** new offset minus old offset of the last copy, and of the last long copy */
  let displacement = 0;
  let mainDisplacement = 0;
  /** where the last copy ended in the old input: the writer sends offsets relative to it */
  let cursor = 0;
  let position = 0;
  while (position + HASH_BYTES <= next.length) {
    let bestLength = 0;
    let bestOld = -1;
    let bestScore = 0;
    for (const repeat of [position - displacement, position - mainDisplacement]) {
      if (repeat < 0 || repeat >= old.length) continue;
      const length = matchLength(old, repeat, next, position);
      if (length >= MIN_REPEAT_COPY_BYTES && length - offsetCost(repeat - cursor) > bestScore) {
        bestLength = length;
        bestOld = repeat;
        bestScore = length - offsetCost(repeat - cursor);
      }
    }
    if (bestLength < GOOD_ENOUGH_BYTES) {
      let candidate = head[hashAt(next, position, shift)]!;
      for (let tries = 0; candidate >= 0 && tries < MAX_CHAIN; tries++, candidate = chain[candidate]!) {
        if (old[candidate + bestLength] !== next[position + bestLength] && bestLength > 0) {
          // cannot be longer; it may still be closer
          if (offsetCost(candidate - cursor) >= offsetCost(bestOld - cursor)) continue;
        }
        const length = matchLength(old, candidate, next, position);
        const score = length - offsetCost(candidate - cursor);
        if (length >= MIN_COPY_BYTES && score > bestScore) {
          bestLength = length;
          bestOld = candidate;
          bestScore = score;
          if (length >= GOOD_ENOUGH_BYTES) break;
        }
      }
    }
    if (bestOld < 0 || bestScore < MIN_SCORE) {
      position++;
      continue;
    }
    let start = position;
    let oldStart = bestOld;
    while (start > literalStart && oldStart > 0 && old[oldStart - 1] === next[start - 1]) {
      start--;
      oldStart--;
    }
    if (start > literalStart) pieces.push({ kind: 'literal', newOffset: literalStart, length: start - literalStart });
    const length = bestLength + position - start;
    pieces.push({ kind: 'copy', oldOffset: oldStart, length });
    displacement = start - oldStart;
    if (length >= LONG_COPY_BYTES) mainDisplacement = displacement;
    position = start + length;
    cursor = oldStart + length;
    literalStart = position;
  }
  if (next.length > literalStart) pieces.push({ kind: 'literal', newOffset: literalStart, length: next.length - literalStart });
  return pieces;
}
