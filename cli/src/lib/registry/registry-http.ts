import { setTimeout as sleep } from 'node:timers/promises';
import { request, type Dispatcher } from 'undici';
import { parseRetryAfter } from '../../../../shared/backoff.js';
import { PrtiqlError } from '../../../../shared/errors.js';
import { proxyDispatcher } from '../network/proxy-dispatcher.js';
import { attemptsNote, delayBeforeRetry, isRetryableConnectionError, RETRYABLE_STATUSES, type RetryPolicy } from '../network/retry-policy.js';
import { RegistryError } from './registry-errors.js';

export const USER_AGENT = 'prtiql';

export type RequestOptions = Omit<Dispatcher.RequestOptions, 'origin' | 'path'>;

/** A response, with how many attempts it took and whether the request could have been sent again. */
export type SentResponse = Dispatcher.ResponseData & { attempts: number; replayable: boolean };

function reason(error: unknown): string {
  const cause = (error as { cause?: { code?: string; message?: string } }).cause;
  const message = error instanceof Error ? error.message : String(error);
  return cause?.message && cause.message !== message ? `${message} (${cause.message})` : message;
}

function retryAfterOf(response: Dispatcher.ResponseData): number | undefined {
  const value = response.headers['retry-after'];
  return parseRetryAfter(Array.isArray(value) ? value[0] : value);
}

/**
 * One HTTP exchange with undici, through the proxy the environment names for the URL.
 * Requests whose body can be sent again (none, a string, bytes) are retried as `retry`
 * says after a broken connection or a 408/429/5xx answer, honouring Retry-After; the last
 * answer is returned whatever its status. Failures to connect or transfer become
 * E_NETWORK naming the server (retryable by the caller when this request could not be
 * sent again), with a hint when TLS met a plain-HTTP server; typed errors (e.g. from a
 * verifying request body) pass through unchanged.
 */
export async function send(url: URL, options: RequestOptions, retry: RetryPolicy): Promise<SentResponse> {
  const replayable = options.body === undefined || options.body === null || typeof options.body === 'string' || options.body instanceof Uint8Array;
  const dispatcher = proxyDispatcher(url);
  for (let attempt = 1; ; attempt++) {
    let response: Dispatcher.ResponseData;
    try {
      response = await request(url, { ...options, ...(dispatcher && { dispatcher }), headers: { 'user-agent': USER_AGENT, ...(options.headers as Record<string, string>) } });
    } catch (error) {
      if (error instanceof PrtiqlError) throw error;
      const transient = isRetryableConnectionError(error);
      const delay = transient && replayable ? delayBeforeRetry(retry, attempt) : undefined;
      if (delay !== undefined) {
        await sleep(delay);
        continue;
      }
      const text = reason(error);
      const hint = url.protocol === 'https:' && /wrong version number|EPROTO|packet length too long/i.test(text) ? ' (the server may speak plain HTTP: try --insecure)' : '';
      throw new RegistryError('E_NETWORK', `cannot reach ${url.origin}: ${text}${hint}${attemptsNote(attempt)}`, undefined, { retryable: transient && !replayable, cause: error });
    }
    if (replayable && RETRYABLE_STATUSES.has(response.statusCode)) {
      const delay = delayBeforeRetry(retry, attempt, retryAfterOf(response));
      if (delay !== undefined) {
        await response.body.dump();
        await sleep(delay);
        continue;
      }
    }
    return Object.assign(response, { attempts: attempt, replayable });
  }
}
