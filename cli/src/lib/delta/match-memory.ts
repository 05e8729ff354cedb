import { PrtiqlError } from '../../../../shared/errors.js';
import { lzIndexBytes } from './lz-match.js';
import { seedIndexBytes } from './seed-index.js';

/** --max-memory's default: the whole delta command, workers included. */
export const DEFAULT_MAX_MEMORY = 2 * 1024 ** 3;
/**
 * Kept out of the matching budget for everything else the command holds: Node itself and
 * its workers' heaps, the writer's brotli (quality 11, 1 MiB window), the layer indexes,
 * patch parts waiting for the writer, and the garbage of small jobs not collected yet.
 */
export const RESERVED_BYTES = 448 * 1024 ** 2;
export const MIN_MAX_MEMORY = RESERVED_BYTES + 64 * 1024 ** 2;

/** New bytes per PATCH of a large file: the writer compresses one part while the next is matched. */
export const PART_BYTES = 16 * 1024 ** 2;
/**
 * Files up to this size are also LZ77-matched and estimated as copies, patch and literal
 * (text trees); larger ones are patched: that choice needs both files several times over.
 */
export const CHOICE_MAX_BYTES = 32 * 1024 ** 2;
/** Seed index strides tried, densest first: a sparser index finds fewer matches but takes less memory. */
const STRIDES = [1, 2, 4, 8, 16];
/** A windowed match holds an old window, a part of this share of it, and the window's index. */
const PART_OF_WINDOW = 0.5;
const WINDOWED_STRIDE = 4;
const MIN_WINDOW_BYTES = 4 * 1024 ** 2;

/**
 * How one changed file is matched against its candidates:
 * - whole: both in memory, the old input indexed every `stride` bytes;
 * - windowed: the new file in parts of `partBytes`, each against an old window of
 *   `windowBytes` placed where the part's content-defined anchors point (window-pairing.ts),
 *   each patched in parts of PART_BYTES.
 */
export type MatchShape =
  | { kind: 'whole'; stride: number; choose: boolean; memory: number }
  | { kind: 'windowed'; stride: number; windowBytes: number; partBytes: number; memory: number };

/**
 * What the estimate of a part of up to twice `partBytes` (approximate-match.ts) as an XPATCH
 * holds at its peak: its diff bytes predicted, the references found in it, one copy for
 * brotli. Measured at up to 5.5 bytes per byte of a 16 MiB part of a Rust executable.
 */
function partEstimateMemory(partBytes: number): number {
  return 8 * partBytes;
}

/**
 * What matching holds at its peak: the inputs, the seed index, the part being built (diff and
 * extra), and for a choice the LZ77 matcher and estimates, else the estimate of one part.
 */
export function wholeMatchMemory(oldBytes: number, newBytes: number, stride: number, choose: boolean): number {
  const partBytes = Math.min(newBytes, PART_BYTES);
  const matching = oldBytes + newBytes + seedIndexBytes(oldBytes, stride) + 2 * partBytes;
  return choose ? matching + lzIndexBytes(oldBytes) + 3 * newBytes : matching + partEstimateMemory(partBytes);
}

/** The window, the new bytes paired with it, the window's index, the patch being built, and the estimate of one part of it (PART_BYTES of new bytes at most). */
function windowedMemory(windowBytes: number, stride: number): number {
  const partBytes = Math.floor(windowBytes * PART_OF_WINDOW);
  return windowBytes + partBytes + seedIndexBytes(windowBytes, stride) + 2 * partBytes + partEstimateMemory(Math.min(partBytes, PART_BYTES));
}

/** The densest shape of a match of `newBytes` against `oldBytes` that fits in `budget` bytes. */
export function matchShape(oldBytes: number, newBytes: number, budget: number): MatchShape {
  const choose = newBytes <= CHOICE_MAX_BYTES;
  for (const stride of STRIDES) {
    const memory = wholeMatchMemory(oldBytes, newBytes, stride, choose);
    if (memory <= budget) return { kind: 'whole', stride, choose, memory };
  }
  let windowBytes = oldBytes;
  while (windowBytes > MIN_WINDOW_BYTES && windowedMemory(windowBytes, WINDOWED_STRIDE) > budget) windowBytes = Math.floor(windowBytes * 0.9);
  const memory = windowedMemory(windowBytes, WINDOWED_STRIDE);
  if (memory > budget) throw new PrtiqlError('E_USAGE', `--max-memory leaves ${budget} bytes for matching, less than the ${memory} one file needs at least`);
  return { kind: 'windowed', stride: WINDOWED_STRIDE, windowBytes, partBytes: Math.floor(windowBytes * PART_OF_WINDOW), memory };
}

const UNITS: Record<string, number> = { '': 1, K: 1024, M: 1024 ** 2, G: 1024 ** 3, T: 1024 ** 4 };

/** Parses a byte count such as 2G, 512M, 1.5G or 1073741824 (K, M, G, T are powers of 1024; an optional i or B may follow). */
export function parseByteSize(text: string): number {
  const match = /^\s*(\d+(?:\.\d+)?)\s*([kKmMgGtT]?)(?:i?[bB])?\s*$/.exec(text);
  if (!match) throw new PrtiqlError('E_USAGE', `${JSON.stringify(text)} is not a byte size (e.g. 512M, 2G)`);
  const bytes = Math.floor(Number(match[1]) * UNITS[match[2]!.toUpperCase()]!);
  if (!Number.isSafeInteger(bytes)) throw new PrtiqlError('E_USAGE', `${text} is too large`);
  return bytes;
}

/** The matching budget of a command given --max-memory: what the reserve leaves. */
export function matchingBudget(maxMemory: number): number {
  if (maxMemory < MIN_MAX_MEMORY) throw new PrtiqlError('E_USAGE', `--max-memory must be at least ${MIN_MAX_MEMORY / 1024 ** 2}M`);
  return maxMemory - RESERVED_BYTES;
}
