import type { Architecture } from '../../../../shared/delta/reference-prediction.js';
import type { ErrorCode } from '../../../../shared/errors.js';
import type { MatchPiece } from './lz-match.js';
import type { MatchShape } from './match-memory.js';
import type { PatchSteps } from './patch-builder.js';
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
 * [windowStart, windowStart + windowLength)), each sent as an XPATCH predicting the references
 * of `predict` if set, or the file's other encoding; then done or error.
 */
export type MatchMessage =
  | { type: 'part'; windowStart: number; windowLength: number; steps: PatchSteps; predict?: Architecture }
  | { type: 'matches'; pieces: MatchPiece[] }
  | { type: 'literal' }
  | { type: 'done' }
  | { type: 'error'; message: string; code: ErrorCode | undefined };
