import t from 'tap';
import { parseExpiry, parseReleaseVersion } from '../../../cli/src/lib/release/release-options.js';

const now = new Date('2026-01-01T00:00:00Z');

t.test('versions are positive integers', async (t) => {
  t.equal(parseReleaseVersion('1'), 1);
  t.equal(parseReleaseVersion('42'), 42);
  for (const text of ['0', '-1', '1.5', 'abc', '', '1e3', ' 7', '99999999999999999999']) {
    t.throws(() => parseReleaseVersion(text), { code: 'E_USAGE', message: /is not a positive integer/ }, text);
  }
});

t.test('expiry: durations from now, RFC 3339 times, always in the future', async (t) => {
  t.equal(parseExpiry('90d', now).toISOString(), '2026-04-01T00:00:00.000Z');
  t.equal(parseExpiry('12h', now).toISOString(), '2026-01-01T12:00:00.000Z');
  t.equal(parseExpiry('2w', now).toISOString(), '2026-01-15T00:00:00.000Z');
  t.equal(parseExpiry('30m', now).toISOString(), '2026-01-01T00:30:00.000Z');
  t.equal(parseExpiry('2026-06-01T10:00:00+02:00', now).toISOString(), '2026-06-01T08:00:00.000Z');
  t.throws(() => parseExpiry('2025-12-31T00:00:00Z', now), { code: 'E_USAGE', message: /is not in the future/ });
  t.throws(() => parseExpiry('0d', now), { code: 'E_USAGE', message: /is not in the future/ });
  for (const text of ['90', 'soon', '2026-06-01', '2026-13-01T00:00:00Z', '1y']) {
    t.throws(() => parseExpiry(text, now), { code: 'E_USAGE' }, text);
  }
});
