import { readFileSync } from 'node:fs';
import { stat } from 'node:fs/promises';
import { join, relative } from 'node:path';
import t from 'tap';
import { DeviceStore, type StoreState } from '../../../applier/device-store/device-store.js';
import { commitInstall, commitRollback, recordVerified } from '../../../applier/device-store/state-transitions.js';
import { sha256Digest } from '../../../shared/digest.js';
import { MediaType } from '../../../shared/oci.js';
import { sourceFiles } from '../../helpers/source-files.js';

const applierRoot = join(import.meta.dirname, '../../../applier');
const OWNER = 'device-store/state-transitions.ts';
/** The store's own primitives, which state-transitions.ts calls. */
const PRIMITIVES = 'device-store/device-store.ts';

async function imageIn(store: DeviceStore, name: string) {
  const config = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [] } }));
  const manifest = Buffer.from(
    JSON.stringify({ schemaVersion: 2, mediaType: MediaType.imageManifest, config: { mediaType: MediaType.imageConfig, digest: sha256Digest(config), size: config.length }, layers: [], annotations: { name } }),
  );
  const digest = sha256Digest(manifest);
  await store.commitImage(digest, manifest, config);
  return digest;
}

const inode = async (store: DeviceStore) => (await stat(store.path('state.json'))).ino;

t.test('only state-transitions.ts changes state.json and the pointers', async (t) => {
  const writers = sourceFiles(applierRoot)
    .map((path) => relative(applierRoot, path))
    .filter((file) => file !== OWNER && file !== PRIMITIVES)
    .filter((file) => /\.(writeState|swapCurrent)\(/.test(readFileSync(join(applierRoot, file), 'utf8')));
  t.same(writers, []);
  t.match(readFileSync(join(applierRoot, OWNER), 'utf8'), /\.writeState\(/, 'the owner is where the writes are');
});

t.test('recordVerified writes only when the highest version or a floor moved', async (t) => {
  const store = await DeviceStore.create(t.testdir());
  await recordVerified(store, null, 'stable', 3, { timeFloor: '2026-01-01T00:00:00.000Z' });
  const first = await store.readState();
  t.same(first, { timeFloor: '2026-01-01T00:00:00.000Z', channel: 'stable', installed: null, previous: null, highestSeen: 3 });
  const written = await inode(store);

  await recordVerified(store, first, 'stable', 2, { timeFloor: '2026-01-01T00:00:00.000Z' });
  t.equal(await inode(store), written, 'an older version with the same floor changes nothing');

  await recordVerified(store, first, 'stable', 3, { timeFloor: '2026-01-01T00:00:00.000Z', timestampFloor: { time: '2026-01-02T00:00:00.000Z', keys: ['k'] } });
  t.not(await inode(store), written, 'a new timestamp floor is written');
  t.same((await store.readState())?.timestampFloor, { time: '2026-01-02T00:00:00.000Z', keys: ['k'] });
});

t.test('an install moves the pointers and records the replaced release as previous; a rollback swaps them back', async (t) => {
  const store = await DeviceStore.create(t.testdir());
  const one = await imageIn(store, 'one');
  const two = await imageIn(store, 'two');
  const floors = { timeFloor: '2026-01-01T00:00:00.000Z' };
  await commitInstall(store, null, 'stable', { version: 1, manifest: one }, floors);
  const afterOne = (await store.readState()) as StoreState;
  await commitInstall(store, afterOne, 'stable', { version: 2, manifest: two }, floors);
  const afterTwo = (await store.readState()) as StoreState;
  t.same(afterTwo, { channel: 'stable', installed: { version: 2, manifest: two }, previous: { version: 1, manifest: one }, highestSeen: 2, ...floors });
  t.equal(await store.pointer('current'), two);
  t.equal(await store.pointer('previous'), one);

  await commitRollback(store, afterTwo, { version: 1, manifest: one }, two, 2);
  t.same(await store.readState(), { ...afterTwo, installed: { version: 1, manifest: one }, previous: { version: 2, manifest: two } });
  t.equal(await store.pointer('current'), one);
  t.equal(await store.pointer('previous'), two);
});
