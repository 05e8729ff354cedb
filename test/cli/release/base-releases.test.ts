import { randomBytes } from 'node:crypto';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import t, { type Test } from 'tap';
import { readCapped } from '../../../shared/capped-read.js';
import { digestHex } from '../../../shared/digest.js';
import { verifyRelease } from '../../../shared/release.js';
import { loadTrustRoot } from '../../../shared/trust-root.js';
import { buildImage } from '../../../cli/src/lib/build/build-image.js';
import { openImage } from '../../../cli/src/lib/image/open-image.js';
import { publishRelease } from '../../../cli/src/lib/release/publish-release.js';
import { FileStore } from '../../../cli/src/lib/artifact-store/file-store.js';
import { openStoreImage } from '../../../cli/src/lib/artifact-store/store-image.js';
import { makeReleaseFixture, type FileTree, type ReleaseFixture } from '../../helpers/release-fixture.js';

const library = randomBytes(200_000);
const files = (version: number): FileTree[] => [{ 'usr/lib/libapp.so': library }, { 'app/version': `${version}\n`, 'app/main.js': `console.log(${version})\n`.repeat(200) }];

/** Builds the image of `version` and publishes it into `fixture`'s store and channel, with bases from its history. */
async function release(t: Test, fixture: ReleaseFixture, version: number, baseReleases: number) {
  const dir = t.testdir();
  const layers = [];
  for (const [i, tree] of files(version).entries()) {
    for (const [path, content] of Object.entries(tree)) {
      await mkdir(dirname(join(dir, String(i), path)), { recursive: true });
      await writeFile(join(dir, String(i), path), content);
    }
    layers.push({ directory: join(dir, String(i)) });
  }
  const built = await buildImage({ layers }, `oci:${join(dir, 'image')}:v${version}`, { mtime: 0 });
  return publishRelease({
    image: await openImage(built.reference),
    store: new FileStore(fixture.storeDir),
    channel: 'stable',
    version,
    signingKey: fixture.signingKey,
    expires: new Date(Date.now() + 86_400_000),
    baseReleases,
  });
}

t.test('--base-releases N takes the images of the channel\'s N newest earlier releases from the store', async (t) => {
  const v1 = await makeReleaseFixture(t, { files: files(1) });
  const store = new FileStore(v1.storeDir);
  await makeReleaseFixture(t, { files: files(2), into: v1, version: 2 });
  const v3 = await makeReleaseFixture(t, { files: files(3), into: v1, version: 3 });
  const history = JSON.parse((await store.readDocument({ kind: 'history', channel: 'stable' }))!.toString());
  t.same(history.releases.map((entry: { version: number }) => entry.version), [1, 2, 3], 'every release is in the history');
  const manifests = history.releases.map((entry: { images: { manifest: { digest: string } }[] }) => entry.images[0].manifest.digest);
  t.equal(manifests[2], v3.manifestDigest);

  const result = await release(t, v1, 4, 2);
  t.equal(result.version, 4);
  const bases = [...new Set(result.deltas.map((delta) => delta.base))];
  t.same(bases.sort(), [manifests[1], manifests[2]].sort(), 'deltas from versions 3 and 2 (the two newest), none from 1');
  t.ok(result.deltas.every((delta) => delta.ratio > 1), 'each delta is smaller than its layer, and says by how much');
  t.same(result.bases.map((base) => [base.version, base.digest]), [[3, manifests[2]], [2, manifests[1]]], 'the bases, newest first, with their versions');
  const fullBytes = result.layers.reduce((sum, layer) => sum + layer.size, 0);
  for (const base of result.bases) {
    const own = result.deltas.filter((delta) => delta.base === base.digest).reduce((sum, delta) => sum + delta.size, 0);
    t.same([base.downloadBytes, base.fullBytes], [own, fullBytes], `devices on version ${base.version} download its deltas only: the library layer is shared`);
  }
  const signed = verifyRelease((await store.readDocument({ kind: 'release', channel: 'stable' }))!, loadTrustRoot(await readFile(v1.rootJsonPath)), { channel: 'stable', now: new Date() });
  t.same(signed.release.deltas.map((delta) => delta.blob.digest), result.deltas.map((delta) => delta.digest));
  for (const delta of signed.release.deltas) t.ok(await store.hasBlob(delta.blob.digest), 'the delta blob is in the store');
  const after = JSON.parse((await store.readDocument({ kind: 'history', channel: 'stable' }))!.toString());
  t.same(after.releases.map((entry: { version: number }) => entry.version), [1, 2, 3, 4]);
});

t.test('a channel released before histories existed starts from its current release', async (t) => {
  const v1 = await makeReleaseFixture(t, { files: files(1) });
  await rm(join(v1.storeDir, 'channels', 'stable', 'history.json'));
  const result = await release(t, v1, 2, 5);
  t.same([...new Set(result.deltas.map((delta) => delta.base))], [v1.manifestDigest], 'the current release is the only base known');
});

t.test('a history that is not one is refused before anything is written', async (t) => {
  const v1 = await makeReleaseFixture(t, { files: files(1) });
  await writeFile(join(v1.storeDir, 'channels', 'stable', 'history.json'), '{"type":"something else"}');
  const before = await readFile(join(v1.storeDir, 'channels', 'stable', 'release.json'));
  await t.rejects(release(t, v1, 2, 1), { code: 'E_BAD_INPUT', message: /history\.json is not the release history of channel stable; fix or remove it$/ });
  t.same(await readFile(join(v1.storeDir, 'channels', 'stable', 'release.json')), before, 'the pointer is untouched');
});

t.test('a released image reads back from the store, verified', async (t) => {
  const v1 = await makeReleaseFixture(t, { files: files(1) });
  const store = new FileStore(v1.storeDir);
  const original = await openImage(v1.imageReference);
  const manifest = { mediaType: original.manifest.mediaType, digest: v1.manifestDigest, size: original.manifestBytes.length };
  const stored = await openStoreImage(store, manifest);
  t.same(stored.manifestBytes, original.manifestBytes);
  t.same(stored.configBytes, original.configBytes);
  t.same(stored.layers.map((layer) => layer.diffID), original.layers.map((layer) => layer.diffID));
  const tar = await readCapped(await stored.layers[1].openUncompressed(), 1 << 24, 'layer');
  t.same(tar, await readCapped(await original.layers[1].openUncompressed(), 1 << 24, 'layer'));

  const layerBlob = join(v1.storeDir, 'blobs', 'sha256', digestHex(stored.layers[0].descriptor.digest));
  const bytes = await readFile(layerBlob);
  bytes[bytes.length - 10] ^= 0xff;
  await writeFile(layerBlob, bytes);
  await t.rejects(readCapped(await stored.layers[0].openCompressed(), 1 << 24, 'layer'), { code: 'E_DIGEST_MISMATCH' }, 'a damaged blob is caught');
  await t.rejects(openStoreImage(store, { ...manifest, size: manifest.size + 1 }), { code: 'E_SIZE_MISMATCH' });
});
