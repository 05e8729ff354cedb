import { createPublicKey, generateKeyPairSync } from 'node:crypto';
import fc from 'fast-check';
import t from 'tap';
import { sha256Digest } from '../../../shared/digest.js';
import { parseEnvelopeBytes, signEnvelope } from '../../../shared/dsse.js';
import { MediaType } from '../../../shared/oci.js';
import { encodeRelease, parseRelease, verifyRelease, type Release } from '../../../shared/release.js';
import { loadTrustRoot, trustRootPayload } from '../../../shared/trust-root.js';
import { fuzzRuns, mutateBytes, mutateJson, onlyTypedErrors } from '../../helpers/fuzz.js';

const key = generateKeyPairSync('ed25519').privateKey;
const trust = loadTrustRoot(
  Buffer.from(JSON.stringify(signEnvelope(MediaType.trustRoot, Buffer.from(JSON.stringify(trustRootPayload([createPublicKey(key)], 1, 1))), [key]))),
);
const now = new Date('2026-01-01T00:00:00Z');
const checks = { channel: 'stable', installedVersion: 4, now, deviceClass: 'pi4' };

const blob = (seed: string, size: number) => ({
  mediaType: MediaType.layerGzip,
  digest: sha256Digest(seed),
  size,
  chunkSize: 1024,
  chunks: Array.from({ length: Math.ceil(size / 1024) }, (_, i) => sha256Digest(`${seed}${i}`).slice(7)),
});

const valid: Release = {
  type: 'prtiql-release',
  channel: 'stable',
  version: 5,
  created: '2025-12-31T00:00:00Z',
  expires: '2026-03-01T00:00:00Z',
  deviceClass: 'pi4',
  manifest: { mediaType: MediaType.imageManifest, digest: sha256Digest('m'), size: 400 },
  config: { mediaType: MediaType.imageConfig, digest: sha256Digest('c'), size: 300 },
  layers: [
    { diffID: sha256Digest('tar1'), size: 5000, blob: blob('l1', 2100) },
    { diffID: sha256Digest('tar2'), size: 3000, blob: blob('l2', 900) },
  ],
  deltas: [{ base: sha256Digest('old'), target: sha256Digest('tar2'), basisLayers: [sha256Digest('tar0')], blob: blob('d', 100) }],
};
const sign = (payload: Uint8Array) => Buffer.from(JSON.stringify(signEnvelope(MediaType.release, payload, [key])));
const validBytes = sign(encodeRelease(valid));

t.test('the valid release passes, so the properties below start from a real one', async (t) => {
  t.equal(verifyRelease(validBytes, trust, checks).release.version, 5);
});

t.test('parseRelease on any JSON value only raises typed errors', async () => {
  await fc.assert(
    fc.asyncProperty(fc.jsonValue(), (value) => onlyTypedErrors(() => parseRelease(value))),
    { numRuns: fuzzRuns(1500) },
  );
});

t.test('parseRelease on a structurally mutated release only raises typed errors; what it accepts re-encodes', async () => {
  await fc.assert(
    fc.asyncProperty(fc.gen(), (g) =>
      onlyTypedErrors(() => {
        const parsed = parseRelease(mutateJson(valid as never, g));
        parseRelease(JSON.parse(encodeRelease(parsed).toString()));
      }),
    ),
    { numRuns: fuzzRuns(1500) },
  );
});

t.test('verifyRelease on damaged envelope bytes only raises typed errors, and never accepts a changed payload', async () => {
  const payload = parseEnvelopeBytes(validBytes, 'release').payload;
  await fc.assert(
    fc.asyncProperty(fc.gen(), async (g) => {
      const damaged = mutateBytes(validBytes, g);
      await onlyTypedErrors(() => {
        verifyRelease(damaged, trust, checks);
        const accepted = Buffer.from(parseEnvelopeBytes(damaged, 'release').payload, 'base64');
        if (!accepted.equals(Buffer.from(payload, 'base64'))) throw new Error('a changed payload verified');
      });
    }),
    { numRuns: fuzzRuns(1500) },
  );
});

t.test('verifyRelease on validly signed but mutated releases only raises typed errors', async () => {
  await fc.assert(
    fc.asyncProperty(fc.gen(), (g) => onlyTypedErrors(() => verifyRelease(sign(Buffer.from(JSON.stringify(mutateJson(valid as never, g)))), trust, checks))),
    { numRuns: fuzzRuns(1000) },
  );
});
