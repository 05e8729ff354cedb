import type { Dispatcher } from 'undici';
import { PrtiqlError, type ErrorCode } from '../../../../shared/errors.js';
import { parseRetryAfter } from '../../../../shared/backoff.js';
import { errorCodeForStatus } from '../../../../shared/http-status.js';
import { attemptsNote, RETRYABLE_STATUSES } from '../network/retry-policy.js';
import type { SentResponse } from './registry-http.js';

const MAX_ERROR_BODY_BYTES = 64 * 1024;

/** The distribution API's error codes that mean "does not exist". */
const NOT_FOUND_CODES: ReadonlySet<string> = new Set(['BLOB_UNKNOWN', 'MANIFEST_UNKNOWN', 'NAME_UNKNOWN', 'BLOB_UPLOAD_UNKNOWN']);

function codeForStatus(status: number, registryCode: string | undefined): ErrorCode {
  const code = errorCodeForStatus(status);
  return code !== 'E_UNAUTHORIZED' && registryCode !== undefined && NOT_FOUND_CODES.has(registryCode) ? 'E_NOT_FOUND' : code;
}

async function readErrorBody(body: Dispatcher.ResponseData['body']): Promise<string> {
  let text = '';
  for await (const chunk of body as AsyncIterable<Buffer>) {
    if (text.length < MAX_ERROR_BODY_BYTES) text += chunk.toString('utf8');
  }
  return text.slice(0, MAX_ERROR_BODY_BYTES);
}

/** The first {code, message} of a distribution API error body, if it has one. */
function registryErrorOf(text: string): { code?: string; message?: string } {
  try {
    const parsed = JSON.parse(text) as { errors?: { code?: unknown; message?: unknown }[] };
    const first = parsed.errors?.[0];
    return {
      ...(typeof first?.code === 'string' && { code: first.code }),
      ...(typeof first?.message === 'string' && { message: first.message }),
    };
  } catch {
    return {};
  }
}

export interface RegistryErrorOptions {
  /** A transient failure of a request that could not be sent again as it was: the caller may retry it from the start. */
  retryable?: boolean;
  /** The wait the registry asked for (Retry-After), in ms. */
  retryAfterMs?: number;
  cause?: unknown;
}

/** A registry refused a request; `registryCode` is the distribution API's code (e.g. MANIFEST_UNKNOWN), if it sent one. */
export class RegistryError extends PrtiqlError {
  readonly retryable: boolean;
  readonly retryAfterMs: number | undefined;

  constructor(
    code: ErrorCode,
    message: string,
    readonly registryCode: string | undefined,
    options: RegistryErrorOptions = {},
  ) {
    super(code, message, options.cause === undefined ? undefined : { cause: options.cause });
    this.retryable = options.retryable ?? false;
    this.retryAfterMs = options.retryAfterMs;
  }
}

/**
 * A typed error for a registry response that was not the expected one: the code its status
 * has (shared/http-status.ts), except that an answer naming a *_UNKNOWN code is E_NOT_FOUND
 * unless it is a refusal (401/403).
 * The message names what was attempted, the registry's reason, the Retry-After it sent and
 * the attempts made.
 */
export async function responseError(response: Dispatcher.ResponseData & Partial<Pick<SentResponse, 'attempts' | 'replayable'>>, what: string): Promise<RegistryError> {
  const { code, message } = registryErrorOf(await readErrorBody(response.body));
  const retryAfter = response.headers['retry-after'];
  const reason = [String(response.statusCode), code, message].filter(Boolean).join(' ');
  const asked = retryAfter === undefined ? '' : ` (Retry-After: ${String(retryAfter)})`;
  const transient = RETRYABLE_STATUSES.has(response.statusCode);
  return new RegistryError(codeForStatus(response.statusCode, code), `${what}: the registry answered ${reason}${asked}${attemptsNote(response.attempts ?? 1)}`, code, {
    retryable: transient && response.replayable === false,
    retryAfterMs: parseRetryAfter(Array.isArray(retryAfter) ? retryAfter[0] : retryAfter),
  });
}
