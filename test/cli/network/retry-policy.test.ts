import t from 'tap';
import { DEFAULT_RETRY_POLICY, delayBeforeRetry, isRetryableConnectionError, retryPolicyFromEnv } from '../../../cli/src/lib/network/retry-policy.js';

const policy = { attempts: 3, baseDelayMs: 100, maxDelayMs: 1000, maxRetryAfterMs: 5000 };
const highest = () => 0.999;

t.test('the wait before another attempt: backoff, or a longer Retry-After; none once attempts are used up', async (t) => {
  t.equal(delayBeforeRetry(policy, 1, undefined, highest), 99);
  t.equal(delayBeforeRetry(policy, 2, undefined, highest), 199);
  t.equal(delayBeforeRetry(policy, 3, undefined, highest), undefined, 'three attempts made: no fourth');
  t.equal(delayBeforeRetry(policy, 1, 3000, highest), 3000, 'Retry-After longer than the backoff is honoured');
  t.equal(delayBeforeRetry(policy, 2, 10, highest), 199, 'a shorter one does not shorten the backoff');
  t.equal(delayBeforeRetry(policy, 1, 5001, highest), undefined, 'a wait beyond the policy\'s limit ends the retries at once');
});

t.test('the policy from the environment', async (t) => {
  t.same(retryPolicyFromEnv({}), DEFAULT_RETRY_POLICY);
  t.match(retryPolicyFromEnv({ PRTIQL_RETRY_ATTEMPTS: '2', PRTIQL_RETRY_BASE_MS: '0' }), { attempts: 2, baseDelayMs: 0 });
  t.throws(() => retryPolicyFromEnv({ PRTIQL_RETRY_ATTEMPTS: '0' }), { code: 'E_USAGE', message: /PRTIQL_RETRY_ATTEMPTS="0"/ });
  t.throws(() => retryPolicyFromEnv({ PRTIQL_RETRY_BASE_MS: 'fast' }), { code: 'E_USAGE' });
});

t.test('broken connections are retried, refused ones are not', async (t) => {
  t.ok(isRetryableConnectionError(Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' })));
  t.ok(isRetryableConnectionError(new Error('fetch failed', { cause: Object.assign(new Error('other side closed'), { code: 'UND_ERR_SOCKET' }) })), 'found in the cause');
  t.notOk(isRetryableConnectionError(Object.assign(new Error('refused'), { code: 'ECONNREFUSED' })));
  t.notOk(isRetryableConnectionError(new Error('plain')));
});
