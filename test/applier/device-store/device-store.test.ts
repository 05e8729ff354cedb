import { lstat, mkdir, readdir, readlink, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import t from 'tap';
import { DeviceStore } from '../../../applier/device-store/device-store.js';
import { digestHex, sha256Digest, type Digest } from '../../../shared/digest.js';
import { MediaType, type ImageConfig, type ImageManifest } from '../../../shared/oci.js';

/** Records an image whose config names `diffIDs`, with an (empty) directory per layer. */
async function addImage(store: DeviceStore, diffIDs: Digest[]): Promise<Digest> {
  for (const diffID of diffIDs) {
    await mkdir(store.layerDir(diffID), { recursive: true });
    await writeFile(store.layerMetaPath(diffID), 'meta');
  }
  const config: ImageConfig = { architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: diffIDs } };
  const configBytes = Buffer.from(JSON.stringify(config));
  const manifest: ImageManifest = {
    schemaVersion: 2,
    mediaType: MediaType.imageManifest,
    config: { mediaType: MediaType.imageConfig, digest: sha256Digest(configBytes), size: configBytes.length },
    layers: [],
  };
  const manifestBytes = Buffer.from(JSON.stringify(manifest));
  const digest = sha256Digest(manifestBytes);
  await store.commitImage(digest, manifestBytes, configBytes);
  return digest;
}

const layer = (name: string) => sha256Digest(name);

t.test('a missing store is E_NO_STORE; creating one makes it private', async (t) => {
  const dir = t.testdir({ loose: {} });
  await t.rejects(DeviceStore.open(join(dir, 'none')), { code: 'E_NO_STORE' });
  const created = await DeviceStore.create(join(dir, 'new', 'store'));
  t.equal((await stat(created.root)).mode & 0o777, 0o700);
  t.same((await readdir(created.root)).sort(), ['images', 'layers', 'trust']);
  await DeviceStore.create(join(dir, 'loose'));
  t.equal((await stat(join(dir, 'loose'))).mode & 0o777, 0o700, 'a world-readable store is tightened');
});

t.test('images, pointers and garbage collection', async (t) => {
  const store = await DeviceStore.create(t.testdir());
  t.equal(await store.pointer('current'), null);
  const one = await addImage(store, [layer('base'), layer('app1')]);
  const two = await addImage(store, [layer('base'), layer('app2')]);
  const three = await addImage(store, [layer('base'), layer('app3')]);
  t.ok(await store.hasImage(one));
  await store.swapCurrent(one);
  await store.swapCurrent(two);
  await store.swapCurrent(two);
  t.equal(await store.pointer('current'), two);
  t.equal(await store.pointer('previous'), one, 'swapping to the current image keeps previous');
  t.equal(await readlink(store.path('current')), `images/${digestHex(two)}`, 'relative link');
  t.same((await store.pointedImage('current'))?.layers.map((l) => l.diffID), [layer('base'), layer('app2')]);

  const removed = await store.collectGarbage();
  t.same(removed.images, [digestHex(three)]);
  t.same(removed.layers.sort(), [digestHex(layer('app3')), `${digestHex(layer('app3'))}.meta`].sort());
  for (const kept of [layer('base'), layer('app1'), layer('app2')]) t.ok(await store.hasLayer(kept), 'layers of current and previous stay');
  t.notOk(await store.hasImage(three));
});

t.test('leftovers of an interrupted run are cleared; nothing else is', async (t) => {
  const store = await DeviceStore.create(t.testdir());
  await mkdir(store.path('staging/abc'), { recursive: true });
  await writeFile(store.path('.state.json.tmp-4242'), 'half');
  await writeFile(store.path('trust/.root.json.tmp-4242'), 'half');
  await writeFile(store.path('state.json.keep'), 'not ours to delete');
  await store.clearStaging();
  t.same((await readdir(store.root)).sort(), ['images', 'layers', 'state.json.keep', 'trust']);
  t.same(await readdir(store.path('trust')), []);
});

t.test('a malformed state.json is reported, not guessed at', async (t) => {
  const store = await DeviceStore.create(t.testdir());
  t.equal(await store.readState(), null);
  await writeFile(store.path('state.json'), '{"channel":"stable","installed":{"version":0}}');
  await t.rejects(store.readState(), { code: 'E_BAD_INPUT' });
  await store.writeState({ channel: 'stable', installed: null, previous: null, highestSeen: 3 });
  t.same(await store.readState(), { channel: 'stable', installed: null, previous: null, highestSeen: 3 });
  t.equal((await lstat(store.path('state.json'))).mode & 0o777, 0o600);
});
