import type { RetryErrorInfo, RetryStrategyV2, RetryToken } from '@smithy/types';
import { parseRetryAfter } from '../../../../shared/backoff.js';
import { delayBeforeRetry, isRetryableConnectionError, RETRYABLE_STATUSES, type RetryPolicy } from '../network/retry-policy.js';

interface SdkFailure {
  name?: string;
  $metadata?: { httpStatusCode?: number };
  $response?: { headers?: Record<string, string | undefined> };
}

function retryToken(retries: number, delayMs: number): RetryToken {
  return { getRetryCount: () => retries, getRetryDelay: () => delayMs };
}

/** A failure another attempt may not meet: a 408/429/5xx answer (S3's RequestTimeout is a 400), a broken or timed-out connection. */
function isTransient(error: SdkFailure | undefined): boolean {
  if (!error) return false;
  const status = error.$metadata?.httpStatusCode;
  return (status !== undefined && RETRYABLE_STATUSES.has(status)) || error.name === 'RequestTimeout' || isRetryableConnectionError(error);
}

/**
 * The S3 client's retries, on the same policy as the registry client's: the SDK's standard
 * strategy waits at most 5 s beyond its own backoff whatever Retry-After says, and leaves 408
 * alone. Request bodies the store sends are bytes (lib-storage buffers each part), so the
 * SDK can send them again.
 */
export class S3RetryStrategy implements RetryStrategyV2 {
  constructor(private readonly policy: RetryPolicy) {}

  async acquireInitialRetryToken(): Promise<RetryToken> {
    return retryToken(0, 0);
  }

  async refreshRetryTokenForRetry(token: RetryToken, errorInfo: RetryErrorInfo): Promise<RetryToken> {
    const error = errorInfo.error as SdkFailure | undefined;
    const attempt = token.getRetryCount() + 1;
    const delay = isTransient(error) ? delayBeforeRetry(this.policy, attempt, parseRetryAfter(error?.$response?.headers?.['retry-after'])) : undefined;
    if (delay === undefined) throw errorInfo.error ?? new Error('no retry');
    return retryToken(attempt, delay);
  }

  recordSuccess(): void {}
}
