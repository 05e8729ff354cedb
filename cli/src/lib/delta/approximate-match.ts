import { matchLength } from './lz-match.js';
import { PatchBuilder, type PatchSteps } from './patch-builder.js';
import { buildSeedIndex, SEED_BYTES, seedHash, type SeedIndex } from './seed-index.js';

/** Seed candidates measured per new position; more finds longer matches in repetitive inputs, at the cost of time. */
const MAX_CANDIDATES = 24;
/** bsdiff's rule: a new alignment is taken when its exact match is this much longer than what the current one matches there. */
const SWITCH_MARGIN = 8;

/**
 * Finds, at each new position, about the longest exact match in the old input: the match the
 * previous position found, one byte on (it is at least one byte shorter, and usually still
 * the longest), the current alignment, and the seed index's candidates. A candidate is
 * measured only if it matches the byte that would make it longer than the best so far.
 */
class LongestMatch {
  length = 0;
  position = 0;
  private lastScan = -2;

  constructor(
    private readonly old: Uint8Array,
    private readonly next: Uint8Array,
    private readonly index: SeedIndex,
  ) {}

  find(scan: number, aligned: number): void {
    const { old, next, index } = this;
    let best = 0;
    let bestAt = 0;
    if (scan === this.lastScan + 1 && this.length > 1) {
      best = this.length - 1;
      bestAt = this.position + 1;
    }
    this.lastScan = scan;
    const tryAt = (candidate: number) => {
      if (candidate === bestAt && best > 0) return;
      if (candidate + best >= old.length || scan + best >= next.length || old[candidate + best] !== next[scan + best]) return;
      const length = matchLength(old, candidate, next, scan);
      if (length > best) {
        best = length;
        bestAt = candidate;
      }
    };
    const alignedMatches = aligned >= 0 && aligned < old.length && old[aligned] === next[scan];
    if (alignedMatches) tryAt(aligned);
    // Where the current alignment holds, a better one is looked for at its next mismatch:
    // the backward extension then recovers the bytes before it.
    else if (scan + SEED_BYTES <= next.length) {
      let slot = index.head[seedHash(next, scan, index.shift)]!;
      for (let tries = 0; slot >= 0 && tries < MAX_CANDIDATES; tries++, slot = index.chain[slot]!) tryAt(slot * index.stride);
    }
    this.length = best;
    this.position = bestAt;
  }
}

/**
 * bsdiff's matching (Colin Percival's scan with approximate extension), with exact matches
 * found through a seed index instead of a suffix array: the new input is scanned for exact
 * matches; when one is more than SWITCH_MARGIN bytes longer than what the current alignment
 * matches at the same place, the current alignment is extended forwards as long as at least
 * half its bytes match (diff bytes), the new one backwards the same way, what lies between is
 * extra bytes, and the new alignment becomes current.
 *
 * The patch over `old` comes in parts, each writing about `partBytes` or more of the new
 * input (one part if that is Infinity), so that a caller can send each part while the next is
 * matched. The parts are a pure function of the two inputs, the stride and `partBytes`.
 * Memory: the inputs, the index (4 bytes per `stride` old bytes plus its table) and one part.
 */
export function* approximateMatch(old: Uint8Array, next: Uint8Array, stride = 1, partBytes = Infinity): Generator<PatchSteps> {
  const index = buildSeedIndex(old, stride);
  const finder = new LongestMatch(old, next, index);
  let builder = new PatchBuilder();
  let partStart = 0;
  const oldSize = old.length;
  const newSize = next.length;
  const matchesAt = (newAt: number, offset: number) => {
    const oldAt = newAt + offset;
    return oldAt >= 0 && oldAt < oldSize && old[oldAt] === next[newAt];
  };

  let scan = 0;
  let length = 0;
  let position = 0;
  let lastScan = 0;
  let lastPosition = 0;
  let lastOffset = 0;

  /** How far the current alignment extends forwards (up to `limit`) while at least half its bytes match. */
  const forwardLength = (limit: number) => {
    let forward = 0;
    for (let i = 0, same = 0, bestScore = 0; lastScan + i < limit && lastPosition + i < oldSize; ) {
      if (old[lastPosition + i] === next[lastScan + i]) same++;
      i++;
      if (same * 2 - i > bestScore * 2 - forward) {
        bestScore = same;
        forward = i;
      }
    }
    return forward;
  };
  /** Sends new bytes up to `end`: the first `forward` as diff bytes over the current alignment, the rest extra. */
  const send = (forward: number, end: number) => {
    const diff = new Uint8Array(forward);
    for (let i = 0; i < forward; i++) diff[i] = (next[lastScan + i]! - old[lastPosition + i]!) & 0xff;
    builder.add(lastPosition, diff);
    builder.extra(next.subarray(lastScan + forward, end));
  };
  const endPart = () => {
    const steps = builder.finish();
    builder = new PatchBuilder();
    partStart = lastScan;
    return steps;
  };

  while (scan < newSize) {
    let oldScore = 0;
    scan += length;
    for (let scored = scan; scan < newSize; scan++) {
      // a part ends after partBytes even inside one alignment, which then goes on in the next part
      if (scan - lastScan >= partBytes) {
        send(forwardLength(scan), scan);
        lastPosition += scan - lastScan;
        lastScan = scan;
        yield endPart();
      }
      finder.find(scan, scan + lastOffset);
      length = finder.length;
      position = finder.position;
      for (; scored < scan + length; scored++) if (matchesAt(scored, lastOffset)) oldScore++;
      if ((length === oldScore && length !== 0) || length > oldScore + SWITCH_MARGIN) break;
      if (matchesAt(scan, lastOffset)) oldScore--;
    }
    if (length === oldScore && scan !== newSize) continue;

    let forward = forwardLength(scan);
    // extend the new alignment backwards the same way
    let backward = 0;
    if (scan < newSize) {
      for (let i = 1, same = 0, bestScore = 0; scan >= lastScan + i && position >= i; i++) {
        if (old[position - i] === next[scan - i]) same++;
        if (same * 2 - i > bestScore * 2 - backward) {
          bestScore = same;
          backward = i;
        }
      }
    }
    // where they overlap, split at the point that keeps the most matching bytes
    if (lastScan + forward > scan - backward) {
      const overlap = lastScan + forward - (scan - backward);
      let split = 0;
      for (let i = 0, score = 0, bestScore = 0; i < overlap; i++) {
        if (next[lastScan + forward - overlap + i] === old[lastPosition + forward - overlap + i]) score++;
        if (next[scan - backward + i] === old[position - backward + i]) score--;
        if (score > bestScore) {
          bestScore = score;
          split = i + 1;
        }
      }
      forward += split - overlap;
      backward -= split;
    }

    send(forward, scan - backward);
    lastScan = scan - backward;
    lastPosition = position - backward;
    lastOffset = position - scan;
    if (lastScan - partStart >= partBytes && lastScan < newSize) yield endPart();
  }
  if (newSize > partStart) yield builder.finish();
}
