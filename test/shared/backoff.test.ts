import t from 'tap';
import { backoffDelayMs, parseRetryAfter } from '../../shared/backoff.js';

t.test('backoff doubles up to its cap, with full jitter', async (t) => {
  t.equal(backoffDelayMs(1, 100, 1000, () => 0.999), 99);
  t.equal(backoffDelayMs(3, 100, 1000, () => 0.999), 399);
  t.equal(backoffDelayMs(10, 100, 1000, () => 0.999), 999, 'capped');
  t.equal(backoffDelayMs(3, 100, 1000, () => 0), 0, 'a random share of the window');
});

t.test('Retry-After: delay-seconds or an HTTP-date', async (t) => {
  const now = Date.parse('2026-01-02T03:04:05Z');
  t.equal(parseRetryAfter('120', now), 120_000);
  t.equal(parseRetryAfter(' 0 ', now), 0);
  t.equal(parseRetryAfter('Fri, 02 Jan 2026 03:04:35 GMT', now), 30_000);
  t.equal(parseRetryAfter('Fri, 02 Jan 2026 03:00:00 GMT', now), 0, 'a date in the past: no wait');
  t.equal(parseRetryAfter(undefined, now), undefined);
  t.equal(parseRetryAfter('soon', now), undefined);
  t.equal(parseRetryAfter('-5', now), undefined);
  t.equal(parseRetryAfter('1.5', now), undefined);
});
