import { cp, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import t from 'tap';
import type { Digest } from '../../../shared/digest.js';
import { parseEnvelopeBytes } from '../../../shared/dsse.js';
import { parseRelease, releaseImages } from '../../../shared/release.js';
import type { ArtifactStore } from '../../../cli/src/lib/artifact-store/artifact-store.js';
import { FileStore } from '../../../cli/src/lib/artifact-store/file-store.js';
import { readStoredManifest } from '../../../cli/src/lib/artifact-store/store-image.js';
import { readStoredDeltaRecord } from '../../../cli/src/lib/delta/delta-record.js';
import { openImage } from '../../../cli/src/lib/image/open-image.js';
import { generateReleaseKey, loadPrivateKey } from '../../../cli/src/lib/keys.js';
import { pruneChannel } from '../../../cli/src/lib/prune/prune-channel.js';
import { readChannelHistory } from '../../../cli/src/lib/release/channel-history.js';
import { publishRelease } from '../../../cli/src/lib/release/publish-release.js';
import { buildAppImage } from '../../helpers/app-image.js';

/** Fails the `crashAt`-th change (0 = the first) and every one after, as a process killed there would leave the store. */
function crashingStore(inner: FileStore, crashAt: number): ArtifactStore & { changes: number } {
  const wrapper = {
    changes: 0,
    change<T>(action: () => Promise<T>): Promise<T> {
      if (wrapper.changes++ >= crashAt) return Promise.reject(new Error('crash'));
      return action();
    },
  };
  return Object.assign(Object.create(inner) as FileStore, {
    get changes() {
      return wrapper.changes;
    },
    writeDocument: (...args: Parameters<FileStore['writeDocument']>) => wrapper.change(() => inner.writeDocument(...args)),
    deleteDocument: (...args: Parameters<FileStore['deleteDocument']>) => wrapper.change(() => inner.deleteDocument(...args)),
    deleteBlob: (...args: Parameters<FileStore['deleteBlob']>) => wrapper.change(() => inner.deleteBlob(...args)),
  });
}

/** Every document names only blobs the store holds, and so does every manifest it holds: what a reader relies on. */
async function missingBlobs(store: FileStore): Promise<string[]> {
  const missing: string[] = [];
  const need = async (digest: Digest, by: string) => {
    if (!(await store.hasBlob(digest))) missing.push(`${by} names missing ${digest}`);
  };
  const envelope = parseEnvelopeBytes((await store.readDocument({ kind: 'release', channel: 'stable' }))!, 'release');
  const release = parseRelease(JSON.parse(Buffer.from(envelope.payload, 'base64').toString()));
  for (const image of releaseImages(release)) {
    for (const digest of [image.manifest.digest, image.config.digest, ...image.layers.map((l) => l.blob.digest), ...image.deltas.map((d) => d.blob.digest)]) await need(digest, 'release.json');
  }
  for (const entry of (await readChannelHistory(store, 'stable', release)).releases) {
    for (const { manifest } of entry.images) {
      await need(manifest.digest, `history version ${entry.version}`);
      if (!(await store.hasBlob(manifest.digest))) continue;
      const parsed = await readStoredManifest(store, manifest);
      for (const descriptor of [parsed.config, ...parsed.layers]) await need(descriptor.digest, `manifest of version ${entry.version}`);
    }
  }
  for (const document of await store.listDocuments()) {
    if (document.kind !== 'delta-record') continue;
    for (const delta of (await readStoredDeltaRecord(store, document.base, document.target))!.deltas) await need(delta.blob.digest, 'a delta record');
  }
  return missing;
}

async function listing(root: string): Promise<string[]> {
  return (await readdir(root, { recursive: true })).sort();
}

t.test('a prune killed after any of its changes leaves no document naming a missing blob, and running it again finishes the job', async (t) => {
  const dir = t.testdir();
  const keys = await generateReleaseKey(join(dir, 'keys'));
  const signingKey = await loadPrivateKey(keys.privateKey);
  const original = join(dir, 'original');
  for (const version of [1, 2, 3]) {
    const reference = `oci:${join(dir, 'images')}:v${version}`;
    await buildAppImage(t, reference, version, version === 1 ? { extra: { 'app/notes.txt': Buffer.from('first release\n'.repeat(40)) } } : {});
    const image = await openImage(reference);
    await publishRelease({ image, store: new FileStore(original), channel: 'stable', version, signingKey, expires: new Date(Date.now() + 86_400_000), baseReleases: 2 });
  }

  const clean = join(dir, 'clean');
  await cp(original, clean, { recursive: true });
  const planned = await pruneChannel({ store: new FileStore(clean), channel: 'stable', keep: 1 });
  const changes = 1 + planned.removedDocuments.length + planned.removedBlobs.length;
  t.ok(planned.removedBlobs.length >= 6 && planned.removedDocuments.length >= 2, `${changes} changes: the history, ${planned.removedDocuments.length} records, ${planned.removedBlobs.length} blobs`);
  t.same(await missingBlobs(new FileStore(clean)), [], 'a finished prune leaves a consistent store');

  for (let crashAt = 0; crashAt < changes; crashAt++) {
    const root = join(dir, `crash-${crashAt}`);
    await cp(original, root, { recursive: true });
    await t.rejects(pruneChannel({ store: crashingStore(new FileStore(root), crashAt), channel: 'stable', keep: 1 }), { message: 'crash' });
    t.same(await missingBlobs(new FileStore(root)), [], `killed before change ${crashAt + 1} of ${changes}: every document names only blobs that are there`);
    await pruneChannel({ store: new FileStore(root), channel: 'stable', keep: 1 });
    t.same(await listing(root), await listing(clean), `killed before change ${crashAt + 1}: prune again ends where an uninterrupted prune does`);
  }
});
