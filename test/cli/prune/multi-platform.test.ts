import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import t from 'tap';
import type { Digest } from '../../../shared/digest.js';
import type { Platform } from '../../../shared/oci.js';
import { FileStore } from '../../../cli/src/lib/artifact-store/file-store.js';
import { buildImage } from '../../../cli/src/lib/build/build-image.js';
import { openImage } from '../../../cli/src/lib/image/open-image.js';
import { inspectChannel } from '../../../cli/src/lib/inspect/inspect-channel.js';
import { generateReleaseKey, loadPrivateKey } from '../../../cli/src/lib/keys.js';
import { pruneChannel } from '../../../cli/src/lib/prune/prune-channel.js';
import { readChannelHistory } from '../../../cli/src/lib/release/channel-history.js';
import { publishRelease } from '../../../cli/src/lib/release/publish-release.js';

const PLATFORMS: Platform[] = [
  { os: 'linux', architecture: 'amd64' },
  { os: 'linux', architecture: 'arm64', variant: 'v8' },
];

t.test('multi-platform releases: the history names their index, inspect shows each platform, prune keeps the kept index and removes the other', async (t) => {
  const dir = t.testdir();
  const keys = await generateReleaseKey(join(dir, 'keys'));
  const signingKey = await loadPrivateKey(keys.privateKey);
  const store = new FileStore(join(dir, 'store'));
  const indexes: Digest[] = [];
  for (const version of [1, 2]) {
    const images = [];
    for (const platform of PLATFORMS) {
      const files = join(dir, `v${version}-${platform.architecture}`);
      await mkdir(join(files, 'bin'), { recursive: true });
      await writeFile(join(files, 'bin', 'tool'), `${platform.architecture} tool, version ${version}\n`.repeat(300));
      const built = await buildImage({ layers: [{ directory: files }], platform }, `oci:${join(dir, 'layout')}:v${version}-${platform.architecture}`, { mtime: 0 });
      images.push(await openImage(built.reference));
    }
    const result = await publishRelease({ image: images, store, channel: 'stable', version, signingKey, expires: new Date(Date.now() + 86_400_000), baseReleases: 1 });
    indexes.push(result.index!);
  }
  const history = await readChannelHistory(store, 'stable', undefined);
  t.same(history.releases.map((entry) => entry.index?.digest), indexes, 'each history entry names its release\'s index');

  const report = await inspectChannel({ store, channel: 'stable', trustRoot: await readFile(keys.trustRoot) });
  t.same(report.releases.map((release) => release.digest), [...indexes].reverse(), 'a multi-platform release is named by its index');
  t.same(report.releases[0].images.map((image) => image.platform), ['linux/amd64', 'linux/arm64/v8']);
  t.ok(report.releases[0].images.every((image) => image.deltas.length === 1 && image.deltas[0].baseVersion === 1), 'each platform has its delta from version 1');
  t.equal(report.releases[0].signature, 'verified');

  const pruned = await pruneChannel({ store, channel: 'stable', keep: 1 });
  t.equal(pruned.removedBlobs[0], indexes[0], 'the removed release\'s index goes first, before the manifests it names');
  t.notOk(await store.hasBlob(indexes[0]));
  t.ok(await store.hasBlob(indexes[1]), 'the kept release\'s index stays');
  for (const image of report.releases[1].images) t.notOk(await store.hasBlob(image.digest), `version 1's ${image.platform} manifest is gone`);
  for (const image of report.releases[0].images) t.ok(await store.hasBlob(image.digest), `version 2's ${image.platform} manifest stays`);
});
