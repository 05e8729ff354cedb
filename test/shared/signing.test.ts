import { createPublicKey, generateKeyPairSync, type KeyObject } from 'node:crypto';
import t from 'tap';
import { openEnvelope, preAuthEncoding, signEnvelope, keyIdOf } from '../../shared/dsse.js';
import { MediaType } from '../../shared/oci.js';
import { loadTrustRoot, trustRootPayload } from '../../shared/trust-root.js';

const newKey = () => generateKeyPairSync('ed25519').privateKey;

function rootBytes(signers: KeyObject[], members: KeyObject[], threshold: number): Buffer {
  const payload = Buffer.from(JSON.stringify(trustRootPayload(members.map((k) => createPublicKey(k)), threshold, 1)));
  return Buffer.from(JSON.stringify(signEnvelope(MediaType.trustRoot, payload, signers)));
}

t.test('pre-authentication encoding follows DSSE v1', async (t) => {
  t.equal(preAuthEncoding('http://example.com/HelloWorld', Buffer.from('hello world')).toString(), 'DSSEv1 29 http://example.com/HelloWorld 11 hello world');
});

t.test('an envelope opens with its key and only with it', async (t) => {
  const key = newKey();
  const other = newKey();
  const envelope = signEnvelope('text/plain', Buffer.from('payload'), [key]);
  const trusted = new Map([[keyIdOf(createPublicKey(key)), createPublicKey(key)]]);
  t.equal(openEnvelope(envelope, 'text/plain', trusted, 1, 'doc').toString(), 'payload');

  const tampered = { ...envelope, payload: Buffer.from('pay1oad').toString('base64') };
  t.throws(() => openEnvelope(tampered, 'text/plain', trusted, 1, 'doc'), { code: 'E_BAD_SIGNATURE' });

  const byOther = signEnvelope('text/plain', Buffer.from('payload'), [other]);
  t.throws(() => openEnvelope(byOther, 'text/plain', trusted, 1, 'doc'), { code: 'E_UNTRUSTED_KEY' });

  t.throws(() => openEnvelope(envelope, 'application/json', trusted, 1, 'doc'), { code: 'E_BAD_INPUT' });
});

t.test('one key never counts twice toward the threshold: two signatures with one key id are refused', async (t) => {
  const a = newKey();
  const b = newKey();
  const trusted = new Map([a, b].map((k) => [keyIdOf(createPublicKey(k)), createPublicKey(k)] as const));
  const twice = signEnvelope('text/plain', Buffer.from('x'), [a, a]);
  t.throws(() => openEnvelope(twice, 'text/plain', trusted, 2, 'doc'), { code: 'E_DUPLICATE_SIGNATURE' });
  t.throws(() => openEnvelope(twice, 'text/plain', trusted, 1, 'doc'), { code: 'E_DUPLICATE_SIGNATURE' }, 'even where one would do');
  const both = signEnvelope('text/plain', Buffer.from('x'), [a, b]);
  t.equal(openEnvelope(both, 'text/plain', trusted, 2, 'doc').toString(), 'x');
  t.throws(() => openEnvelope(signEnvelope('text/plain', Buffer.from('x'), [a]), 'text/plain', trusted, 2, 'doc'), { code: 'E_THRESHOLD' });
});

t.test('a trust root must be signed by its own keys up to its threshold', async (t) => {
  const a = newKey();
  const b = newKey();
  const loaded = loadTrustRoot(rootBytes([a], [a], 1));
  t.equal(loaded.root.threshold, 1);
  t.ok(loaded.keys.has(keyIdOf(createPublicKey(a))));
  t.throws(() => loadTrustRoot(rootBytes([b], [a], 1)), { code: 'E_UNTRUSTED_KEY' });
  t.throws(() => loadTrustRoot(rootBytes([a], [a, b], 2)), { code: 'E_THRESHOLD' });
  t.throws(() => loadTrustRoot(Buffer.from('not json')), { code: 'E_BAD_INPUT' });
  t.throws(() => trustRootPayload([createPublicKey(a)], 2, 1), { code: 'E_BAD_INPUT' });
});
