import { generateKeyPairSync, type KeyObject } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import t, { type Test } from 'tap';
import { sha256Digest } from '../../../shared/digest.js';
import { signEnvelope } from '../../../shared/dsse.js';
import { MediaType } from '../../../shared/oci.js';
import { encodeRelease, type Release } from '../../../shared/release.js';
import { readCurrentRelease } from '../../../cli/src/lib/release/current-release.js';
import { signRelease } from '../../../cli/src/lib/release/sign-release.js';
import { FileStore } from '../../../cli/src/lib/artifact-store/file-store.js';

const key = generateKeyPairSync('ed25519').privateKey;
const otherKey = generateKeyPairSync('ed25519').privateKey;

const release: Release = {
  type: 'prtiql-release',
  channel: 'stable',
  version: 3,
  created: '2026-01-01T00:00:00.000Z',
  expires: '2026-04-01T00:00:00.000Z',
  manifest: { mediaType: MediaType.imageManifest, digest: sha256Digest('m'), size: 1 },
  config: { mediaType: MediaType.imageConfig, digest: sha256Digest('c'), size: 1 },
  layers: [],
  deltas: [],
};

async function storeWith(t: Test, bytes: Uint8Array): Promise<FileStore> {
  const store = new FileStore(t.testdir());
  await store.writeDocument({ kind: 'release', channel: 'stable' }, bytes);
  return store;
}

function envelopeBytes(payload: Uint8Array, keys: KeyObject[], payloadType: string = MediaType.release): Buffer {
  return Buffer.from(JSON.stringify(signEnvelope(payloadType, payload, keys)));
}

t.test('an empty channel has no current release', async (t) => {
  t.equal(await readCurrentRelease(new FileStore(t.testdir()), 'stable', key), undefined);
});

t.test('reads back a release signed with the same key', async (t) => {
  const store = await storeWith(t, await signRelease(release, key));
  t.same(await readCurrentRelease(store, 'stable', key), release);
});

t.test('a release signed by another key (before a rotation) is parsed, not verified', async (t) => {
  const store = await storeWith(t, await signRelease(release, otherKey));
  t.equal((await readCurrentRelease(store, 'stable', key))?.version, 3);
});

t.test('a tampered release signed with the same key is refused', async (t) => {
  const store = await storeWith(t, await signRelease(release, key));
  const envelope = JSON.parse(await readFile(store.documentLocation({ kind: 'release', channel: 'stable' }), 'utf8'));
  envelope.payload = encodeRelease({ ...release, version: 99 }).toString('base64');
  await writeFile(store.documentLocation({ kind: 'release', channel: 'stable' }), JSON.stringify(envelope));
  await t.rejects(readCurrentRelease(store, 'stable', key), {
    code: 'E_BAD_SIGNATURE',
    message: /^the current release of channel stable \(.*release\.json\) has an invalid signature$/,
  });
});

t.test('unreadable pointers are refused with the path in the message', async (t) => {
  const cases: [string, Buffer][] = [
    ['not JSON', Buffer.from('{')],
    ['not an envelope', Buffer.from('{"a":1}')],
    ['wrong payload type', envelopeBytes(encodeRelease(release), [key], MediaType.trustRoot)],
    ['payload not a release', envelopeBytes(Buffer.from('{"type":"other"}'), [key])],
    ['another channel', envelopeBytes(encodeRelease({ ...release, channel: 'beta' }), [key])],
  ];
  for (const [name, bytes] of cases) {
    const store = await storeWith(t, bytes);
    await t.rejects(readCurrentRelease(store, 'stable', key), { code: 'E_BAD_INPUT', message: /current release of channel stable/ }, name);
  }
});
