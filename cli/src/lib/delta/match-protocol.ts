import type { ErrorCode } from '../../../../shared/errors.js';
import type { EncodedPatch } from './content-choice.js';
import type { MatchPiece } from './lz-match.js';
import type { MatchShape } from './match-memory.js';
import type { SavedRange } from './tar-files.js';

/** One changed file to match: its candidates (concatenated, the old input) and its new content. */
export interface MatchJob {
  old: SavedRange[];
  next: SavedRange;
  shape: MatchShape;
}

/** From the pool to a worker: a job, or "the writer took one more part". */
export type PoolRequest = { type: 'job'; job: MatchJob } | { type: 'ack' };

/**
 * From a worker, in new-file order: patch parts (steps over the old input's bytes
 * [windowStart, windowStart + windowLength), each an XPATCH over exactly that window if it
 * has a prediction), or the file's other encoding; then done or error.
 */
export type MatchMessage =
  | ({ type: 'part'; windowStart: number; windowLength: number } & EncodedPatch)
  | { type: 'matches'; pieces: MatchPiece[] }
  | { type: 'literal' }
  | { type: 'done' }
  | { type: 'error'; message: string; code: ErrorCode | undefined };
