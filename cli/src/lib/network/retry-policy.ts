import { backoffDelayMs } from '../../../../shared/backoff.js';
import { PrtiqlError } from '../../../../shared/errors.js';

/** How the registry client and the S3 store retry transient failures (docs/artifact-store.md). */
export interface RetryPolicy {
  /** Attempts of one request in all, the first included. */
  attempts: number;
  /** Backoff with full jitter: a random wait up to min(maxDelayMs, baseDelayMs * 2^(n-1)) before retry n. */
  baseDelayMs: number;
  maxDelayMs: number;
  /** The longest Retry-After honoured; a server asking for a longer wait fails the request at once. */
  maxRetryAfterMs: number;
}

export const DEFAULT_RETRY_POLICY: RetryPolicy = { attempts: 5, baseDelayMs: 500, maxDelayMs: 20_000, maxRetryAfterMs: 60_000 };

/** Answers another attempt may not meet: timeout, throttling, and the server errors that mean "not now". */
export const RETRYABLE_STATUSES: ReadonlySet<number> = new Set([408, 429, 500, 502, 503, 504]);

/**
 * Connections that broke or timed out on the way (Node's, undici's and the AWS SDK's names).
 * Refused connections and unknown hosts are not among them: a wrong address fails at once.
 */
const RETRYABLE_CONNECTION_ERRORS: ReadonlySet<string> = new Set([
  'ECONNRESET',
  'ECONNABORTED',
  'EPIPE',
  'ETIMEDOUT',
  'UND_ERR_SOCKET',
  'UND_ERR_CONNECT_TIMEOUT',
  'UND_ERR_HEADERS_TIMEOUT',
  'UND_ERR_BODY_TIMEOUT',
  'TimeoutError',
]);

/** Whether `error` (or its cause) is a connection that broke or timed out. */
export function isRetryableConnectionError(error: unknown): boolean {
  for (let current = error, depth = 0; typeof current === 'object' && current !== null && depth < 5; depth++) {
    const { code, name } = current as { code?: unknown; name?: unknown };
    if ((typeof code === 'string' && RETRYABLE_CONNECTION_ERRORS.has(code)) || (typeof name === 'string' && RETRYABLE_CONNECTION_ERRORS.has(name))) return true;
    current = (current as { cause?: unknown }).cause;
  }
  return false;
}

function positiveInteger(env: NodeJS.ProcessEnv, name: string, fallback: number, minimum: number): number {
  const text = env[name];
  if (text === undefined || text === '') return fallback;
  if (!/^[0-9]+$/.test(text) || Number(text) < minimum) throw new PrtiqlError('E_USAGE', `${name}=${JSON.stringify(text)} is not a whole number of at least ${minimum}`);
  return Number(text);
}

/** The default policy, with PRTIQL_RETRY_ATTEMPTS and PRTIQL_RETRY_BASE_MS when they are set. */
export function retryPolicyFromEnv(env: NodeJS.ProcessEnv): RetryPolicy {
  return {
    ...DEFAULT_RETRY_POLICY,
    attempts: positiveInteger(env, 'PRTIQL_RETRY_ATTEMPTS', DEFAULT_RETRY_POLICY.attempts, 1),
    baseDelayMs: positiveInteger(env, 'PRTIQL_RETRY_BASE_MS', DEFAULT_RETRY_POLICY.baseDelayMs, 0),
  };
}

/**
 * The wait before another attempt after failed attempt number `attempt`: the backoff, or the
 * server's Retry-After when that is longer. Undefined when there is to be no other attempt:
 * the attempts are used up, or the server asked for a wait longer than the policy allows.
 */
export function delayBeforeRetry(policy: RetryPolicy, attempt: number, retryAfterMs?: number, random?: () => number): number | undefined {
  if (attempt >= policy.attempts) return undefined;
  if (retryAfterMs !== undefined && retryAfterMs > policy.maxRetryAfterMs) return undefined;
  return Math.max(backoffDelayMs(attempt, policy.baseDelayMs, policy.maxDelayMs, random), retryAfterMs ?? 0);
}

/** " (after 5 attempts)" for messages, when there was more than one. */
export function attemptsNote(attempts: number): string {
  return attempts > 1 ? ` (after ${attempts} attempts)` : '';
}
