import { createPublicKey, generateKeyPairSync } from 'node:crypto';
import t from 'tap';
import { signEnvelope } from '../../shared/dsse.js';
import { MAX_TIMESTAMP_BYTES } from '../../shared/limits.js';
import { MediaType } from '../../shared/oci.js';
import { checkReleaseMatchesTimestamp, encodeTimestamp, timestampFor, verifyTimestamp } from '../../shared/timestamp.js';
import { loadTrustRoot, trustRootPayload } from '../../shared/trust-root.js';

const [release, stamp] = [generateKeyPairSync('ed25519').privateKey, generateKeyPairSync('ed25519').privateKey];
const rootPayload = trustRootPayload([createPublicKey(release)], 1, 1, { publicKeys: [createPublicKey(stamp)], threshold: 1 });
const trust = loadTrustRoot(Buffer.from(JSON.stringify(signEnvelope(MediaType.trustRoot, Buffer.from(JSON.stringify(rootPayload)), [release]))));
const now = new Date('2026-06-01T00:00:00Z');
const releaseBytes = Buffer.from('{"the":"release"}');
const stamped = (channel: string, expires: Date, key = stamp) =>
  Buffer.from(JSON.stringify(signEnvelope(MediaType.timestamp, encodeTimestamp(timestampFor(channel, releaseBytes, now, expires)), [key])));
const tomorrow = new Date(now.getTime() + 86_400_000);

t.test('a timestamp binds the exact release bytes of one channel until it expires', async (t) => {
  const timestamp = verifyTimestamp(stamped('stable', tomorrow), trust, { channel: 'stable', now });
  t.match(timestamp, { channel: 'stable', release: { size: releaseBytes.length } });
  t.doesNotThrow(() => checkReleaseMatchesTimestamp(releaseBytes, timestamp));
  t.throws(() => checkReleaseMatchesTimestamp(Buffer.from('{"the":"other"}'), timestamp), { code: 'E_MIX_AND_MATCH' });
  t.throws(() => checkReleaseMatchesTimestamp(Buffer.concat([releaseBytes, Buffer.from(' ')]), timestamp), { code: 'E_MIX_AND_MATCH' });

  t.throws(() => verifyTimestamp(stamped('beta', tomorrow), trust, { channel: 'stable', now }), { code: 'E_UNKNOWN_CHANNEL' });
  t.throws(() => verifyTimestamp(stamped('stable', now), trust, { channel: 'stable', now }), { code: 'E_EXPIRED' }, 'expired at its instant');
  t.throws(() => verifyTimestamp(stamped('stable', tomorrow, release), trust, { channel: 'stable', now }), { code: 'E_UNTRUSTED_KEY' }, 'a release key cannot sign it');
  t.throws(() => verifyTimestamp(Buffer.alloc(MAX_TIMESTAMP_BYTES + 1, ' '), trust, { channel: 'stable', now }), { code: 'E_TOO_LARGE' });
  const asRelease = Buffer.from(JSON.stringify(signEnvelope(MediaType.release, encodeTimestamp(timestampFor('stable', releaseBytes, now, tomorrow)), [stamp])));
  t.throws(() => verifyTimestamp(asRelease, trust, { channel: 'stable', now }), { code: 'E_BAD_INPUT', message: /payload type/ }, 'the payload type is bound');
});
