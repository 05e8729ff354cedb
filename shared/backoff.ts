/**
 * Exponential backoff with full jitter: a random wait of up to min(maxMs, baseMs * 2^(n-1))
 * before retry number `attempt` (1-based), so that many clients failing together do not come
 * back together.
 */
export function backoffDelayMs(attempt: number, baseMs: number, maxMs: number, random: () => number = Math.random): number {
  return Math.floor(random() * Math.min(maxMs, baseMs * 2 ** (attempt - 1)));
}

/**
 * The wait a `Retry-After` header asks for (RFC 9110: delay-seconds, or an HTTP-date), in ms
 * from `now`; a date in the past is 0. Undefined when the header is absent or malformed.
 */
export function parseRetryAfter(value: string | undefined, now: number = Date.now()): number | undefined {
  const text = value?.trim();
  if (!text) return undefined;
  if (/^[0-9]+$/.test(text)) return Number(text) * 1000;
  const date = Date.parse(text);
  return Number.isNaN(date) || !/GMT$/.test(text) ? undefined : Math.max(0, date - now);
}
