import { PrtiqlError, type ErrorCode } from './errors.js';

/**
 * The error code of an HTTP answer that is not the one asked for, the same for the publisher
 * and the device: 401/403 E_UNAUTHORIZED, 404 E_NOT_FOUND, 408, 429 and 5xx E_NETWORK (the
 * server may answer otherwise later: transient, retried), anything else E_BAD_INPUT (the
 * request will never work as sent: final).
 */
export function errorCodeForStatus(status: number): ErrorCode {
  if (status === 401 || status === 403) return 'E_UNAUTHORIZED';
  if (status === 404) return 'E_NOT_FOUND';
  if (status === 408 || status === 429 || status >= 500) return 'E_NETWORK';
  return 'E_BAD_INPUT';
}

/** The error for an unexpected answer `status` to the request for `what`. */
export function statusError(status: number, what: string): PrtiqlError {
  const code = errorCodeForStatus(status);
  return new PrtiqlError(code, code === 'E_NOT_FOUND' ? `${what} does not exist (HTTP ${status})` : `${what}: HTTP ${status}`);
}
