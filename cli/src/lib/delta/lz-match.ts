/** A piece of the new input: a copy of old bytes, or literal new bytes. */
export type MatchPiece = { kind: 'copy'; oldOffset: number; length: number } | { kind: 'literal'; newOffset: number; length: number };

/** Bytes hashed to find match candidates: the shortest match found through the hash table. */
const HASH_BYTES = 8;
/** Shortest copy at a new offset; a copy that continues the previous displacement may be shorter. */
const MIN_COPY_BYTES = 16;
const MIN_REPEAT_COPY_BYTES = 8;
/** Candidates tried per position: more finds longer matches, at the cost of time. */
const MAX_CHAIN = 128;
/**
 * Bytes compared per new byte, on average, before chains shrink to SHORT_CHAIN: inputs whose
 * candidates all match almost long enough would otherwise take MAX_CHAIN x MIN_COPY_BYTES
 * comparisons per byte.
 */
const WORK_PER_BYTE = 256;
const SHORT_CHAIN = 4;
/** A copy this long sets the main displacement, tried again after short copies elsewhere. */
const LONG_COPY_BYTES = 64;
/**
 * A copy must be this much longer than what its offset costs. With control numbers in their
 * own channels (format version 2), a copy's length and opcode cost little, so any copy that
 * outweighs its offset is kept.
 */
const MIN_SCORE = 1;
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

/** How much better (in score) a copy one byte on must be to be preferred to the copy here. */
const LAZY_MARGIN = 4;

interface Match {
  old: number;
  length: number;
  /** length minus what the offset costs */
  score: number;
}

/** A match this long is taken without looking further. */
const GOOD_ENOUGH_BYTES = 1024;

/** Hash table bits for an old input of `oldSize` bytes: about two buckets per position, 2^12 ... 2^24 buckets. */
function lzTableBits(oldSize: number): number {
  return Math.min(24, Math.max(12, Math.ceil(Math.log2(oldSize + 1)) + 1));
}

/** Bytes lzMatch holds for its index of an old input of `oldSize` bytes: the chains and the table. */
export function lzIndexBytes(oldSize: number): number {
  return 4 * oldSize + 4 * 2 ** lzTableBits(oldSize);
}

function hashAt(bytes: Buffer, at: number, shift: number): number {
  const low = Math.imul(bytes.readUInt32LE(at), 0x9e3779b1);
  const high = Math.imul(bytes.readUInt32LE(at + 4) ^ (low >>> 15), 0x85ebca77);
  return (high ^ (high >>> 13)) >>> shift;
}

/** How many bytes of `old` from `oldAt` equal those of `next` from `nextAt`. */
export function matchLength(old: Uint8Array, oldAt: number, next: Uint8Array, nextAt: number): number {
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
  const bits = lzTableBits(old.length);
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

  let work = 0;
  const workBudget = WORK_PER_BYTE * next.length + (1 << 20);

  /** The best copy at `position`, by length minus what its offset costs. */
  const bestAt = (position: number): Match | undefined => {
    let best: Match | undefined;
    for (const repeat of [position - displacement, position - mainDisplacement]) {
      if (repeat < 0 || repeat >= old.length) continue;
      const length = matchLength(old, repeat, next, position);
      const score = length - offsetCost(repeat - cursor);
      if (length >= MIN_REPEAT_COPY_BYTES && score > (best?.score ?? 0)) best = { old: repeat, length, score };
    }
    if ((best?.length ?? 0) >= GOOD_ENOUGH_BYTES) return best;
    let candidate = head[hashAt(next, position, shift)]!;
    const chainLimit = work > workBudget ? SHORT_CHAIN : MAX_CHAIN;
    for (let tries = 0; candidate >= 0 && tries < chainLimit; tries++, candidate = chain[candidate]!) {
      const cost = offsetCost(candidate - cursor);
      // a candidate that cannot be longer is only worth measuring when its offset is cheaper
      if (best && old[candidate + best.length] !== next[position + best.length] && cost >= offsetCost(best.old - cursor)) continue;
      const length = matchLength(old, candidate, next, position);
      work += length + 1;
      if (length >= MIN_COPY_BYTES && length - cost > (best?.score ?? 0)) {
        best = { old: candidate, length, score: length - cost };
        if (length >= GOOD_ENOUGH_BYTES) break;
      }
    }
    return best;
  };

  let position = 0;
  let pending: Match | undefined;
  while (position + HASH_BYTES <= next.length) {
    const match = pending ?? bestAt(position);
    pending = undefined;
    if (match === undefined || match.score < MIN_SCORE) {
      position++;
      continue;
    }
    // lazy matching: a clearly better copy one byte on is worth a literal byte
    if (position + 1 + HASH_BYTES <= next.length) {
      const later = bestAt(position + 1);
      if (later && later.score > match.score + LAZY_MARGIN) {
        pending = later;
        position++;
        continue;
      }
    }
    let start = position;
    let oldStart = match.old;
    while (start > literalStart && oldStart > 0 && old[oldStart - 1] === next[start - 1]) {
      start--;
      oldStart--;
    }
    if (start > literalStart) pieces.push({ kind: 'literal', newOffset: literalStart, length: start - literalStart });
    const length = match.length + position - start;
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
