import { createPublicKey, generateKeyPairSync } from 'node:crypto';
import t from 'tap';
import { sha256Digest } from '../../shared/digest.js';
import { signEnvelope } from '../../shared/dsse.js';
import { MediaType } from '../../shared/oci.js';
import { encodeRelease, parseRelease, verifyRelease, type Release } from '../../shared/release.js';
import { loadTrustRoot, trustRootPayload } from '../../shared/trust-root.js';

const key = generateKeyPairSync('ed25519').privateKey;
const trust = loadTrustRoot(
  Buffer.from(
    JSON.stringify(
      signEnvelope(MediaType.trustRoot, Buffer.from(JSON.stringify(trustRootPayload([createPublicKey(key)], 1, 1))), [key]),
    ),
  ),
);
const now = new Date('2026-01-01T00:00:00Z');

function release(overrides: Partial<Release> = {}): Release {
  const layerDigest = sha256Digest('layer');
  return {
    type: 'prtiql-release',
    channel: 'stable',
    version: 5,
    created: '2025-12-31T00:00:00Z',
    expires: '2026-03-01T00:00:00Z',
    manifest: { mediaType: MediaType.imageManifest, digest: sha256Digest('m'), size: 1 },
    config: { mediaType: MediaType.imageConfig, digest: sha256Digest('c'), size: 1 },
    layers: [
      {
        diffID: sha256Digest('tar'),
        size: 3,
        blob: { mediaType: MediaType.layerGzip, digest: layerDigest, size: 5, chunkSize: 4096, chunks: ['a'.repeat(64)] },
      },
    ],
    deltas: [],
    ...overrides,
  };
}

const signed = (r: Release) => Buffer.from(JSON.stringify(signEnvelope(MediaType.release, encodeRelease(r), [key])));

t.test('a valid release passes every check', async (t) => {
  const verdict = verifyRelease(signed(release()), trust, { channel: 'stable', installedVersion: 4, now });
  t.equal(verdict.release.version, 5);
  t.equal(verdict.upToDate, false);
  t.equal(verifyRelease(signed(release()), trust, { channel: 'stable', installedVersion: 5, now }).upToDate, true);
  t.equal(verifyRelease(signed(release()), trust, { channel: 'stable', now }).upToDate, false);
});

t.test('each check has its own error', async (t) => {
  t.throws(() => verifyRelease(signed(release()), trust, { channel: 'stable', installedVersion: 6, now }), { code: 'E_ROLLBACK' });
  t.throws(() => verifyRelease(signed(release()), trust, { channel: 'beta', now }), { code: 'E_UNKNOWN_CHANNEL' });
  t.throws(() => verifyRelease(signed(release({ expires: '2025-12-31T23:59:59Z' })), trust, { channel: 'stable', now }), {
    code: 'E_EXPIRED',
  });
  t.throws(() => verifyRelease(signed(release({ deviceClass: 'pi4' })), trust, { channel: 'stable', now, deviceClass: 'x86' }), {
    code: 'E_DEVICE_CLASS',
  });
  t.throws(() => verifyRelease(signed(release({ deviceClass: 'pi4' })), trust, { channel: 'stable', now }), { code: 'E_DEVICE_CLASS' }, 'a device of no class');
  t.equal(verifyRelease(signed(release({ deviceClass: 'pi4' })), trust, { channel: 'stable', now, deviceClass: 'pi4' }).release.deviceClass, 'pi4');
  t.equal(verifyRelease(signed(release()), trust, { channel: 'stable', now, deviceClass: 'pi4' }).release.version, 5, 'a release for every class');
  t.throws(() => verifyRelease(Buffer.alloc(4 * 1024 * 1024 + 1, 32), trust, { channel: 'stable', now }), { code: 'E_TOO_LARGE' });
  const other = generateKeyPairSync('ed25519').privateKey;
  const foreign = Buffer.from(JSON.stringify(signEnvelope(MediaType.release, encodeRelease(release()), [other])));
  t.throws(() => verifyRelease(foreign, trust, { channel: 'stable', now }), { code: 'E_UNTRUSTED_KEY' });
  t.throws(() => verifyRelease(Buffer.from('{'), trust, { channel: 'stable', now }), { code: 'E_BAD_INPUT' });
});

t.test('malformed documents are refused with the field named', async (t) => {
  t.throws(() => parseRelease({ ...release(), version: 0 }), { message: /version/ });
  t.throws(() => parseRelease({ ...release(), channel: '../x' }), { message: /channel/ });
  const noChunks = release();
  noChunks.layers[0].blob.chunks = [];
  t.throws(() => parseRelease(noChunks), { message: /chunk list/ });
  const orphan = release({
    deltas: [{ base: sha256Digest('b'), target: sha256Digest('other'), basisLayers: [], blob: release().layers[0].blob }],
  });
  t.throws(() => parseRelease(orphan), { message: /targets a layer/ });
});
