import { createPublicKey, generateKeyPairSync, type KeyObject } from 'node:crypto';
import t from 'tap';
import { keyIdOf, signEnvelope } from '../../shared/dsse.js';
import { MAX_ROOT_BYTES } from '../../shared/limits.js';
import { MediaType } from '../../shared/oci.js';
import { loadTrustRoot, trustRootPayload, verifyRootSuccessor } from '../../shared/trust-root.js';

const newKey = () => generateKeyPairSync('ed25519').privateKey;
const signed = (payload: unknown, signers: KeyObject[]) =>
  Buffer.from(JSON.stringify(signEnvelope(MediaType.trustRoot, Buffer.from(JSON.stringify(payload)), signers)));

t.test('a timestamp role has its own keys and threshold, never a release key', async (t) => {
  const [release, stamp] = [newKey(), newKey()];
  const root = trustRootPayload([createPublicKey(release)], 1, 1, { publicKeys: [createPublicKey(stamp)], threshold: 1 });
  const loaded = loadTrustRoot(signed(root, [release]));
  t.same([...(loaded.timestamp?.keys.keys() ?? [])], [keyIdOf(createPublicKey(stamp))]);
  t.notOk(loaded.keys.has(keyIdOf(createPublicKey(stamp))), 'a timestamp key is no release key');
  t.throws(() => trustRootPayload([createPublicKey(release)], 1, 1, { publicKeys: [createPublicKey(release)], threshold: 1 }), {
    code: 'E_BAD_INPUT',
    message: /both as a release key and as a timestamp key/,
  });
  t.throws(() => trustRootPayload([createPublicKey(release)], 1, 1, { publicKeys: [createPublicKey(stamp)], threshold: 2 }), {
    code: 'E_BAD_INPUT',
    message: /fewer timestamp keys than their threshold/,
  });
  t.throws(() => loadTrustRoot(signed(root, [stamp])), { code: 'E_UNTRUSTED_KEY' }, 'the timestamp key cannot sign the root');
});

t.test('root keys must be Ed25519 keys named by their key id; roots have a size limit', async (t) => {
  const key = newKey();
  const rsa = generateKeyPairSync('rsa', { modulusLength: 1024 }).publicKey;
  const rsaEntry = { keytype: 'ed25519', public: rsa.export({ type: 'spki', format: 'der' }).toString('base64') };
  const withRsa = { ...trustRootPayload([createPublicKey(key)], 1, 1), keys: { [keyIdOf(rsa)]: rsaEntry } };
  t.throws(() => loadTrustRoot(signed(withRsa, [key])), { code: 'E_BAD_INPUT', message: /is not an Ed25519 key/ });
  const misnamed = { ...trustRootPayload([createPublicKey(key)], 1, 1), keys: { ['0'.repeat(64)]: Object.values(trustRootPayload([createPublicKey(key)], 1, 1).keys)[0] } };
  t.throws(() => loadTrustRoot(signed(misnamed, [key])), { code: 'E_BAD_INPUT', message: /does not match its key/ });
  t.throws(() => loadTrustRoot(Buffer.alloc(MAX_ROOT_BYTES + 1, ' ')), { code: 'E_TOO_LARGE' });
});

t.test('a successor is the next version, signed by a threshold of the previous keys and of its own', async (t) => {
  const [a, b, c] = [newKey(), newKey(), newKey()];
  const previous = loadTrustRoot(signed(trustRootPayload([a, b].map((k) => createPublicKey(k)), 2, 4), [a, b]));
  const next = (version: number, signers: KeyObject[]) => signed(trustRootPayload([createPublicKey(c)], 1, version), signers);
  t.equal(verifyRootSuccessor(previous, next(5, [a, b, c])).root.version, 5);
  t.throws(() => verifyRootSuccessor(previous, next(5, [a, c])), { code: 'E_THRESHOLD' }, 'one of two previous keys');
  t.throws(() => verifyRootSuccessor(previous, next(5, [c])), { code: 'E_UNTRUSTED_KEY' }, 'only the new key');
  t.throws(() => verifyRootSuccessor(previous, next(5, [a, b])), { code: 'E_UNTRUSTED_KEY' }, 'not by its own key');
  t.throws(() => verifyRootSuccessor(previous, next(5, [a, a, b, c])), { code: 'E_DUPLICATE_SIGNATURE' });
  t.throws(() => verifyRootSuccessor(previous, next(4, [a, b, c])), { code: 'E_ROLLBACK' });
  t.throws(() => verifyRootSuccessor(previous, next(6, [a, b, c])), { code: 'E_BAD_INPUT', message: /does not follow version 4/ });
});
