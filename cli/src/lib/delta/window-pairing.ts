import { seedHash } from './seed-index.js';

/** Reads `length` bytes at `offset` of one input. */
export type ReadSync = (offset: number, length: number) => Uint8Array;

/** A part of the new input and the old window it is matched against. */
export interface WindowPair {
  newStart: number;
  newLength: number;
  oldStart: number;
  oldLength: number;
}

const SCAN_PIECE_BYTES = 4 * 1024 * 1024;
/** At most about this many anchors are sampled per input: the table stays a few tens of MiB. */
const MAX_ANCHORS = 1 << 20;
const MIN_ANCHOR_BITS = 10;

/** A gear table: 256 fixed pseudo-random 32-bit numbers, so that anchors are the same in every run. */
const GEAR = (() => {
  const table = new Int32Array(256);
  let state = 0x2545f491;
  for (let i = 0; i < 256; i++) {
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    table[i] = state;
  }
  return table;
})();

/**
 * Content-defined anchors of an input: positions where a gear hash of the preceding 32 bytes
 * has its top `bits` bits zero (about one in 2^bits positions, the same places wherever the
 * content moved), each keyed by that hash and the next 8 bytes.
 */
function forEachAnchor(read: ReadSync, size: number, bits: number, visit: (key: number, position: number) => void): void {
  const shift = 32 - bits;
  let hash = 0;
  for (let start = 0; start < size; start += SCAN_PIECE_BYTES) {
    const bytes = read(start, Math.min(SCAN_PIECE_BYTES + 8, size - start));
    const end = Math.min(SCAN_PIECE_BYTES, bytes.length - 8);
    for (let at = 0; at < end; at++) {
      hash = ((hash << 1) + GEAR[bytes[at]!]!) | 0;
      if (hash >>> shift === 0 && start + at >= 32) visit(seedHash(bytes, at + 1, 0) ^ hash, start + at);
    }
  }
}

function anchorBits(size: number): number {
  return Math.max(MIN_ANCHOR_BITS, Math.ceil(Math.log2(size / MAX_ANCHORS + 1)));
}

/** The window start that contains the most of `starts` (where the part would begin in the old input, by each anchor). */
function bestWindowStart(starts: number[], slack: number, fallback: number): number {
  if (starts.length === 0) return fallback;
  starts.sort((a, b) => a - b);
  let best = { count: 0, first: 0, last: 0 };
  for (let first = 0, last = 0; first < starts.length; first++) {
    while (last + 1 < starts.length && starts[last + 1]! - starts[first]! <= slack) last++;
    if (last - first + 1 > best.count) best = { count: last - first + 1, first, last };
  }
  return starts[best.first]! - Math.floor((slack - (starts[best.last]! - starts[best.first]!)) / 2);
}

/**
 * Splits the new input into parts of `partBytes` and gives each the old window of
 * `windowBytes` that holds most of its content: both inputs are scanned once for
 * content-defined anchors, each anchor of the part that also occurs (once) in the old input
 * votes for where the part begins there, and the window covers the largest group of votes
 * that fits. A part without votes gets the window at the same relative place. Memory: the
 * anchor table of the old input (at most about 2^20 anchors) and the votes of one input.
 */
export function pairWindows(readOld: ReadSync, oldSize: number, readNew: ReadSync, newSize: number, partBytes: number, windowBytes: number): WindowPair[] {
  const bits = anchorBits(Math.max(oldSize, newSize));
  const oldAnchors = new Map<number, number>();
  forEachAnchor(readOld, oldSize, bits, (key, position) => oldAnchors.set(key, oldAnchors.has(key) ? -1 : position));
  const parts = Math.max(1, Math.ceil(newSize / partBytes));
  const votes: number[][] = Array.from({ length: parts }, () => []);
  forEachAnchor(readNew, newSize, bits, (key, position) => {
    const old = oldAnchors.get(key);
    const part = Math.floor(position / partBytes);
    if (old !== undefined && old >= 0) votes[part]!.push(old - (position - part * partBytes));
  });
  oldAnchors.clear();
  const oldLength = Math.min(windowBytes, oldSize);
  return votes.map((starts, part) => {
    const newStart = part * partBytes;
    const newLength = Math.min(partBytes, newSize - newStart);
    const slack = Math.max(0, oldLength - newLength);
    const fallback = Math.floor((newStart / Math.max(1, newSize)) * oldSize) - Math.floor(slack / 2);
    const start = bestWindowStart(starts, slack, fallback);
    return { newStart, newLength, oldStart: Math.min(Math.max(0, start), oldSize - oldLength), oldLength };
  });
}
