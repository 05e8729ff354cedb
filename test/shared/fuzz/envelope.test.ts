import { createPublicKey, generateKeyPairSync } from 'node:crypto';
import fc from 'fast-check';
import t from 'tap';
import { keyIdOf, openEnvelope, parseEnvelope, parseEnvelopeBytes, signEnvelope } from '../../../shared/dsse.js';
import { MediaType } from '../../../shared/oci.js';
import { parseTimestamp, timestampFor, verifyTimestamp, encodeTimestamp } from '../../../shared/timestamp.js';
import { loadTrustRoot, trustRootPayload, verifyRootSuccessor } from '../../../shared/trust-root.js';
import { fuzzRuns, mutateBytes, mutateJson, onlyTypedErrors } from '../../helpers/fuzz.js';

const keys = Array.from({ length: 3 }, () => generateKeyPairSync('ed25519').privateKey);
const publicKeys = keys.map((key) => createPublicKey(key));
const trusted = new Map(publicKeys.map((key) => [keyIdOf(key), key]));
const stamper = generateKeyPairSync('ed25519').privateKey;

const signedFile = (type: string, payload: unknown, signers = keys) =>
  Buffer.from(JSON.stringify(signEnvelope(type, Buffer.from(JSON.stringify(payload)), signers)));
const rootPayload = (version: number) => trustRootPayload(publicKeys, 2, version, { publicKeys: [createPublicKey(stamper)], threshold: 1 });
const root1 = signedFile(MediaType.trustRoot, rootPayload(1));
const trust = loadTrustRoot(root1);
const root2 = rootPayload(2);
const now = new Date('2026-01-01T00:00:00Z');
const timestamp = timestampFor('stable', Buffer.from('release bytes'), now, new Date(now.getTime() + 86_400_000));
const timestampFile = Buffer.from(JSON.stringify(signEnvelope(MediaType.timestamp, encodeTimestamp(timestamp), [stamper])));

/** Envelope-shaped JSON: random types, payloads and signature lists with trusted, unknown and repeated key ids. */
const envelopes = fc.record({
  payloadType: fc.oneof(fc.constant('text/plain'), fc.string()),
  payload: fc.oneof(fc.base64String(), fc.string(), fc.uint8Array({ maxLength: 64 }).map((bytes) => Buffer.from(bytes).toString('base64'))),
  signatures: fc.array(
    fc.record({
      keyid: fc.oneof(fc.constantFrom(...trusted.keys()), fc.uint8Array({ minLength: 32, maxLength: 32 }).map((b) => Buffer.from(b).toString('hex')), fc.string()),
      sig: fc.oneof(fc.base64String(), fc.string(), fc.uint8Array({ minLength: 64, maxLength: 64 }).map((b) => Buffer.from(b).toString('base64'))),
    }),
    { maxLength: 5 },
  ),
});

t.test('openEnvelope on any envelope only raises typed errors, and opens only what a threshold of keys really signed', async () => {
  await fc.assert(
    fc.asyncProperty(envelopes, fc.integer({ min: 1, max: 3 }), (envelope, threshold) =>
      onlyTypedErrors(() => {
        openEnvelope(envelope, 'text/plain', trusted, threshold, 'doc');
        throw new Error('a random envelope opened');
      }),
    ),
    { numRuns: fuzzRuns(1500) },
  );
});

t.test('parseEnvelopeBytes on any bytes and parseEnvelope on any JSON only raise typed errors', async () => {
  await fc.assert(
    fc.asyncProperty(fc.uint8Array({ maxLength: 256 }), fc.jsonValue(), async (bytes, json) => {
      await onlyTypedErrors(() => parseEnvelopeBytes(bytes, 'doc'));
      await onlyTypedErrors(() => parseEnvelope(json, 'doc'));
    }),
    { numRuns: fuzzRuns(1500) },
  );
});

t.test('loadTrustRoot on damaged root files only raises typed errors, and accepts only the original root', async () => {
  await fc.assert(
    fc.asyncProperty(fc.gen(), (g) =>
      onlyTypedErrors(() => {
        const loaded = loadTrustRoot(mutateBytes(root1, g));
        if (JSON.stringify(loaded.root) !== JSON.stringify(trust.root)) throw new Error('a changed root loaded');
      }),
    ),
    { numRuns: fuzzRuns(1500) },
  );
});

t.test('verifyRootSuccessor on signed but mutated successors only raises typed errors', async () => {
  await fc.assert(
    fc.asyncProperty(fc.gen(), fc.subarray(keys, { minLength: 0 }), (g, signers) =>
      onlyTypedErrors(() => verifyRootSuccessor(trust, signedFile(MediaType.trustRoot, mutateJson(root2 as never, g), signers))),
    ),
    { numRuns: fuzzRuns(1000) },
  );
});

t.test('timestamps: damaged files and mutated signed documents only raise typed errors', async () => {
  await fc.assert(
    fc.asyncProperty(fc.gen(), (g) =>
      onlyTypedErrors(() => verifyTimestamp(mutateBytes(timestampFile, g), trust, { channel: 'stable', now })).then(() =>
        onlyTypedErrors(() => {
          const mutated = mutateJson(timestamp as never, g);
          parseTimestamp(mutated);
          verifyTimestamp(signedFile(MediaType.timestamp, mutated, [stamper]), trust, { channel: 'stable', now });
        }),
      ),
    ),
    { numRuns: fuzzRuns(1000) },
  );
});
