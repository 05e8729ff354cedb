import { setTimeout as sleep } from 'node:timers/promises';
import { backoffDelayMs } from '../../../shared/backoff.js';
import { isPrtiqlError, PrtiqlError } from '../../../shared/errors.js';

/** How the applier retries transient network failures (E_NETWORK); every other failure is final. */
export interface RetryPolicy {
  /** Retries after failures in a row that made no progress; progress (a verified chunk) starts the count again. */
  retries: number;
  /** Exponential backoff with full jitter: a random wait up to min(maxDelayMs, baseDelayMs * 2^(n-1)). */
  baseDelayMs: number;
  maxDelayMs: number;
  /** Epoch ms by which every download must be done; no retry waits past it. */
  deadline: number;
  /** Told about each retry before its wait, for the log. */
  onRetry?: (event: { what: string; attempt: number; delayMs: number; error: PrtiqlError }) => void;
}

export const DEFAULT_RETRY_POLICY: Omit<RetryPolicy, 'deadline'> = { retries: 5, baseDelayMs: 1000, maxDelayMs: 30_000 };

/** The overall time an update's downloads may take by default: an hour. */
export const DEFAULT_DEADLINE_SECONDS = 3600;

export function isTransient(error: unknown): error is PrtiqlError {
  return isPrtiqlError(error, 'E_NETWORK');
}

export function deadlinePassed(deadline: number): PrtiqlError {
  return new PrtiqlError('E_NETWORK', `the downloads did not finish by their deadline (${new Date(deadline).toISOString()})`);
}

/**
 * Waits before retry number `attempt` (1-based) after `error`, or rethrows `error` when it is
 * not transient, the retries are used up, or the wait would pass the deadline.
 */
export async function waitToRetry(policy: RetryPolicy, what: string, attempt: number, error: unknown): Promise<void> {
  if (!isTransient(error) || attempt > policy.retries) throw error;
  const delayMs = backoffDelayMs(attempt, policy.baseDelayMs, policy.maxDelayMs);
  if (Date.now() + delayMs >= policy.deadline) throw error;
  policy.onRetry?.({ what, attempt, delayMs, error });
  await sleep(delayMs);
}

/** Runs `task` until it succeeds, retrying transient failures as `policy` allows. */
export async function retrying<T>(policy: RetryPolicy, what: string, task: () => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await task();
    } catch (error) {
      await waitToRetry(policy, what, attempt, error);
    }
  }
}
