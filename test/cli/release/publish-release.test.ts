import { createHash, generateKeyPairSync, randomBytes } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { gunzipSync, gzipSync } from 'node:zlib';
import t from 'tap';
import { readCapped } from '../../../shared/capped-read.js';
import { digestHex, sha256Digest, type Digest } from '../../../shared/digest.js';
import { MediaType, type ImageConfig, type ImageManifest } from '../../../shared/oci.js';
import { verifyRelease } from '../../../shared/release.js';
import { deterministicTar } from '../../../shared/tar/deterministic-writer.js';
import { loadTrustRoot } from '../../../shared/trust-root.js';
import { openImage } from '../../../cli/src/lib/image/open-image.js';
import { OciLayout } from '../../../cli/src/lib/image/oci-layout.js';
import { publishRelease, type PublishReleaseOptions } from '../../../cli/src/lib/release/publish-release.js';
import type { ArtifactStore } from '../../../cli/src/lib/artifact-store/artifact-store.js';
import { FileStore } from '../../../cli/src/lib/artifact-store/file-store.js';
import { makeReleaseFixture } from '../../helpers/release-fixture.js';
import { documentPath } from '../../../shared/store-layout.js';

const day = 86_400_000;

async function storeListing(root: string): Promise<Record<string, string>> {
  const listing: Record<string, string> = {};
  let entries;
  try {
    entries = await readdir(root, { recursive: true, withFileTypes: true });
  } catch {
    return listing;
  }
  for (const entry of entries.filter((e) => e.isFile())) {
    const path = join(entry.parentPath, entry.name);
    listing[path.slice(root.length + 1)] = createHash('sha256').update(await readFile(path)).digest('hex');
  }
  return listing;
}

async function readStoreBlob(storeDir: string, digest: Digest): Promise<Buffer> {
  return readFile(join(storeDir, 'blobs', 'sha256', digestHex(digest)));
}

async function tarOf(files: Record<string, Buffer>): Promise<Buffer> {
  const entries = Object.entries(files).map(([path, content]) => ({
    path,
    type: 'file' as const,
    mode: 0o644,
    size: content.length,
    open: () => [content][Symbol.iterator]() as unknown as AsyncIterable<Uint8Array>,
  }));
  return readCapped(deterministicTar(entries, { mtime: 0 }), 64 * 1024 * 1024, 'tar');
}

/** Writes an image into an OCI layout with the layout library: any layer bytes, any diff_ids. */
async function writeImage(path: string, tag: string, layers: { mediaType: string; bytes: Buffer }[], diffIDs: Digest[]): Promise<string> {
  const layout = await OciLayout.openOrCreate(path);
  const descriptors = [];
  for (const layer of layers) descriptors.push(await layout.writeBlob(layer.bytes, layer.mediaType));
  const config: ImageConfig = { architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: diffIDs } };
  const configDescriptor = await layout.writeBlob(Buffer.from(JSON.stringify(config)), MediaType.imageConfig);
  const manifest: ImageManifest = { schemaVersion: 2, mediaType: MediaType.imageManifest, config: configDescriptor, layers: descriptors };
  await layout.setTag(tag, await layout.writeBlob(Buffer.from(JSON.stringify(manifest)), MediaType.imageManifest));
  return `oci:${path}:${tag}`;
}

async function publishInto(storeDir: string, reference: string, overrides: Partial<PublishReleaseOptions> = {}) {
  const created = new Date();
  return publishRelease({
    image: await openImage(reference),
    store: new FileStore(storeDir),
    channel: 'stable',
    version: 1,
    signingKey: generateKeyPairSync('ed25519').privateKey,
    created,
    expires: new Date(created.getTime() + day),
    ...overrides,
  });
}

t.test('publishes every blob and a signed release that a device accepts', async (t) => {
  const big = randomBytes(3 * 1024 * 1024 + 123);
  const fixture = await makeReleaseFixture(t, {
    files: [{ 'etc/os-release': 'ID=test\n' }, { 'app/data.bin': big, 'app/run.sh': '#!/bin/sh\necho hi\n' }],
    channel: 'stable',
    version: 7,
    deviceClass: 'pi4',
  });
  const image = await openImage(fixture.imageReference);
  const trust = loadTrustRoot(await readFile(fixture.rootJsonPath));
  const pointer = await readFile(join(fixture.storeDir, 'channels', 'stable', 'release.json'));
  const { release } = verifyRelease(pointer, trust, { channel: 'stable', now: new Date(), deviceClass: 'pi4' });

  t.equal(release.version, 7);
  t.equal(release.deviceClass, 'pi4');
  t.same(release.deltas, []);
  t.equal(release.manifest.digest, image.manifestDigest, 'gzip layers keep the image manifest as is');
  t.equal(release.config.digest, image.manifest.config.digest);
  t.same(await readStoreBlob(fixture.storeDir, release.manifest.digest), image.manifestBytes);
  t.same(await readStoreBlob(fixture.storeDir, release.config.digest), image.configBytes);
  t.same(release.layers.map((l) => l.diffID), image.config.rootfs.diff_ids);
  t.equal(release.layers.length, 2);
  for (const [i, layer] of release.layers.entries()) {
    const blob = await readStoreBlob(fixture.storeDir, layer.blob.digest);
    t.equal(layer.blob.digest, image.manifest.layers[i].digest, 'gzip layer uploaded as is');
    t.equal(layer.blob.mediaType, MediaType.layerGzip);
    t.equal(layer.blob.size, blob.length);
    const tar = gunzipSync(blob);
    t.equal(layer.size, tar.length, 'size is the uncompressed size');
    t.equal(sha256Digest(tar), layer.diffID);
    const expectedChunks = [];
    for (let offset = 0; offset < blob.length; offset += layer.blob.chunkSize) {
      expectedChunks.push(createHash('sha256').update(blob.subarray(offset, offset + layer.blob.chunkSize)).digest('hex'));
    }
    t.same(layer.blob.chunks, expectedChunks, `layer ${i} chunk hashes`);
  }
  t.ok(release.layers[1].blob.chunks.length >= 3, 'a large layer has several chunks');
  t.match(fixture.result, {
    channel: 'stable',
    version: 7,
    manifestDigest: image.manifestDigest,
    blobsUploaded: 4,
    blobsSkipped: 0,
    unchanged: false,
    release: join(fixture.storeDir, 'channels', 'stable', 'release.json'),
  });
  t.same(
    fixture.result.layers,
    release.layers.map((l) => ({ diffID: l.diffID, digest: l.blob.digest, size: l.blob.size, uncompressedSize: l.size })),
  );
  t.same(Object.keys(await storeListing(fixture.storeDir)).sort(), [
    ...[release.manifest.digest, release.config.digest, ...release.layers.map((l) => l.blob.digest)].map((d) => `blobs/sha256/${digestHex(d)}`).sort(),
    'channels/stable/history.json',
    'channels/stable/release.json',
  ].sort());
});

t.test('the channel pointer is written after every blob', async (t) => {
  const fixture = await makeReleaseFixture(t, { files: { a: 'one' } });
  const calls: string[] = [];
  const inner = new FileStore(join(fixture.workDir, 'second-store'));
  const recording: ArtifactStore = {
    location: inner.location,
    hasBlob: (d) => inner.hasBlob(d),
    putBlob: (d, size, source) => (calls.push(`blob ${d}`), inner.putBlob(d, size, source)),
    getBlob: (d) => inner.getBlob(d),
    readDocument: (document) => inner.readDocument(document),
    writeDocument: (document, bytes) => (calls.push(document.kind === 'release' ? 'pointer' : `document ${documentPath(document)}`), inner.writeDocument(document, bytes)),
    documentLocation: (document) => inner.documentLocation(document),
    listBlobs: () => inner.listBlobs(),
    listDocuments: () => inner.listDocuments(),
    deleteBlob: (d) => inner.deleteBlob(d),
    deleteDocument: (document) => inner.deleteDocument(document),
  };
  await publishRelease({
    image: await openImage(fixture.imageReference),
    store: recording,
    channel: 'stable',
    version: 1,
    signingKey: fixture.signingKey,
    expires: new Date(Date.now() + day),
  });
  t.equal(calls.length, 5);
  t.same(calls.slice(-2), ['document channels/stable/history.json', 'pointer'], 'the history, then the pointer');
});

t.test('a later version uploads only the blobs that changed', async (t) => {
  const base = { 'usr/lib/libbig.so': randomBytes(200_000) };
  const first = await makeReleaseFixture(t, { files: [base, { 'app/main.js': 'console.log(1)' }] });
  const before = await storeListing(first.storeDir);
  const second = await makeReleaseFixture(t, { files: [base, { 'app/main.js': 'console.log(2)' }], into: first });
  t.equal(second.version, 2);
  t.equal(second.result.blobsSkipped, 1, 'the unchanged base layer');
  t.equal(second.result.blobsUploaded, 3, 'new app layer, config and manifest');
  const after = await storeListing(first.storeDir);
  for (const [path, hash] of Object.entries(before)) {
    if (path.startsWith('blobs/')) t.equal(after[path], hash, `${path} kept as is`);
  }
  t.equal(Object.keys(after).length, Object.keys(before).length + 3);
  const trust = loadTrustRoot(await readFile(first.rootJsonPath));
  const { release } = verifyRelease(await readFile(second.result.release), trust, {
    channel: 'stable',
    installedVersion: 1,
    now: new Date(),
  });
  t.equal(release.version, 2);
  t.equal(release.manifest.digest, second.manifestDigest);
});

t.test('versions only go up; the exact same release again is a no-op', async (t) => {
  const first = await makeReleaseFixture(t, { files: { a: 'one' }, version: 5 });
  const store = new FileStore(first.storeDir);
  const image = await openImage(first.imageReference);
  const publish = (version: number, reference = image) =>
    publishRelease({ image: reference, store, channel: 'stable', version, signingKey: first.signingKey, expires: new Date(Date.now() + day) });
  const before = await storeListing(first.storeDir);

  const again = await publish(5);
  t.equal(again.unchanged, true);
  t.equal(again.blobsUploaded, 0);
  t.equal(again.manifestDigest, first.manifestDigest);
  t.same(await storeListing(first.storeDir), before, 'nothing rewritten, not even the pointer');

  await t.rejects(publish(4), { code: 'E_ROLLBACK', message: 'version 4 is lower than version 5, the current release of channel stable' });

  const other = await makeReleaseFixture(t, { files: { a: 'two' } });
  await t.rejects(publish(5, await openImage(other.imageReference)), {
    code: 'E_VERSION_EXISTS',
    message: new RegExp(`^channel stable already has version 5 \\(manifest ${first.manifestDigest}\\); release this image \\(${other.manifestDigest}\\) as version 6 or later$`),
  });
  t.same(await storeListing(first.storeDir), before, 'refused releases leave the store untouched');
});

t.test('uncompressed layers are gzipped and the stored manifest names the gzip blobs', async (t) => {
  const dir = t.testdir();
  const tar = await tarOf({ 'hello.txt': Buffer.from('hello '.repeat(5000)) });
  const reference = await writeImage(join(dir, 'layout'), 'plain', [{ mediaType: MediaType.layerTar, bytes: tar }], [sha256Digest(tar)]);
  const storeDir = join(dir, 'store');
  const key = generateKeyPairSync('ed25519').privateKey;
  const result = await publishInto(storeDir, reference, { signingKey: key });
  const image = await openImage(reference);
  t.not(result.manifestDigest, image.manifestDigest, 'manifest rewritten');
  const manifest = JSON.parse((await readStoreBlob(storeDir, result.manifestDigest)).toString()) as ImageManifest;
  t.equal(manifest.layers[0].mediaType, MediaType.layerGzip);
  t.equal(manifest.layers[0].digest, result.layers[0].digest);
  t.equal(manifest.config.digest, image.manifest.config.digest);
  const blob = await readStoreBlob(storeDir, result.layers[0].digest);
  t.same(gunzipSync(blob), tar);
  t.equal(result.layers[0].size, blob.length);
  t.equal(result.layers[0].uncompressedSize, tar.length);
  t.ok(blob.length < tar.length / 10, 'compressed');

  const again = await publishInto(storeDir, reference, { signingKey: key });
  t.equal(again.unchanged, true, 'gzip is deterministic: the same image gives the same release');
});

t.test('a layer whose diffID does not match the config is refused before anything is written', async (t) => {
  const dir = t.testdir();
  const tar = await tarOf({ 'a.txt': Buffer.from('a') });
  const storeDir = join(dir, 'store');
  const wrong = sha256Digest('something else');
  const plain = await writeImage(join(dir, 'layout'), 'plain', [{ mediaType: MediaType.layerTar, bytes: tar }], [wrong]);
  await t.rejects(publishInto(storeDir, plain), { code: 'E_DIGEST_MISMATCH', message: new RegExp(wrong) });
  const gzipped = await writeImage(join(dir, 'layout'), 'gzip', [{ mediaType: MediaType.layerGzip, bytes: gzipSync(tar) }], [wrong]);
  await t.rejects(publishInto(storeDir, gzipped), { code: 'E_DIGEST_MISMATCH', message: new RegExp(`diffID ${sha256Digest(tar)}, but the image config says ${wrong}`) });
  t.same(await storeListing(storeDir), {});
});

t.test('a layer that is not valid gzip is refused', async (t) => {
  const dir = t.testdir();
  const bytes = Buffer.from('this is not gzip at all');
  const reference = await writeImage(join(dir, 'layout'), 'bad', [{ mediaType: MediaType.layerGzip, bytes }], [sha256Digest(bytes)]);
  await t.rejects(publishInto(join(dir, 'store'), reference), { code: 'E_BAD_INPUT', message: /is not valid gzip/ });
  t.same(await storeListing(join(dir, 'store')), {});
});

t.test('a signing key that is not an Ed25519 private key is refused', async (t) => {
  const fixture = await makeReleaseFixture(t, { files: { a: 'one' } });
  const storeDir = join(fixture.workDir, 'other-store');
  for (const signingKey of [generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey, generateKeyPairSync('ed25519').publicKey]) {
    await t.rejects(publishInto(storeDir, fixture.imageReference, { signingKey }), {
      code: 'E_BAD_INPUT',
      message: 'the signing key is not an Ed25519 private key',
    });
  }
  t.same(await storeListing(storeDir), {});
});
