import { randomBytes } from 'node:crypto';
import { mkdir, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import t from 'tap';
import { rotateTrustRoot } from '../../../cli/src/lib/keys.js';
import type { UpdateCheck } from '../../../applier/update/check.js';
import { readCapped } from '../../../shared/capped-read.js';
import { encodeDelta } from '../../../shared/delta/writer.js';
import { digestHex, sha256Digest } from '../../../shared/digest.js';
import { blobPath, rootPath } from '../../../shared/store-layout.js';
import { runApplier } from '../../helpers/applier-bundle.js';
import { startFaultServer } from '../../helpers/fault-server.js';
import { newSigner, publishDelta, publishTestRelease, trustRootJson, type FixtureEntry, type PublishedRelease } from '../../helpers/signed-artifact-store.js';
import { readArtifactFiles } from '../../helpers/served-release.js';
import { listTree } from '../../helpers/tree-listing.js';
import { unlessMissing } from '../../helpers/unless-missing.js';

const base: FixtureEntry[] = [
  { path: 'etc', type: 'directory', mode: 0o755 },
  { path: 'etc/os-release', type: 'file', mode: 0o644, content: 'ID=fixture\n' },
];
const data = randomBytes(1024 * 1024);
const extra = randomBytes(200 * 1024);
const app = (version: number): FixtureEntry[] => [
  { path: 'app', type: 'directory', mode: 0o755 },
  { path: 'app/data.bin', type: 'file', mode: 0o644, content: data },
  ...(version > 1 ? [{ path: 'app/extra.bin', type: 'file' as const, mode: 0o644, content: extra }] : []),
  { path: 'app/version', type: 'file', mode: 0o644, content: `${version}\n` },
];

/** v2's app layer from v1's: the common beginning of the two tars copied, the rest (extra.bin above all) literal. */
function appDelta(v1: PublishedRelease, v2: PublishedRelease): Promise<Buffer> {
  const [oldTar, target] = [v1.layerTars[1], v2.layerTars[1]];
  let common = 0;
  while (oldTar[common] === target[common]) common++;
  const header = { target: { diffID: sha256Digest(target), size: target.length }, bases: [{ kind: 'tar' as const, layer: v1.release.layers[1].diffID, size: oldTar.length }] };
  return readCapped(encodeDelta(header, [{ type: 'copy', basis: 0, offset: 0, length: common }, { type: 'literal', bytes: target.subarray(common) }]), 1 << 26, 'delta');
}

t.test('update --check says what an update would download, by delta or in full, and changes nothing', async (t) => {
  const dir = t.testdir();
  const artifacts = join(dir, 'artifacts');
  const store = join(dir, 'store');
  const firstKey = newSigner();
  const rotatedKey = newSigner();
  await writeFile(join(dir, 'root.json'), trustRootJson([firstKey]));
  const files: Record<string, Buffer> = {};
  const serve = () => readArtifactFiles(artifacts, files);
  const server = await startFaultServer(t, files);
  const args = (storeRoot: string) => ['update', '--source', server.url, '--channel', 'stable', '--store', storeRoot, '--trust', join(dir, 'root.json')];

  const v1 = await publishTestRelease({ storeDir: artifacts, channel: 'stable', version: 1, layers: [base, app(1)], signers: [firstKey] });
  await serve();
  t.equal((await runApplier(args(store))).code, 0, 'version 1 installed');

  // the publisher rotates its key to a root the device has not pinned yet, then releases version 2 with a delta
  await mkdir(join(artifacts, 'roots'));
  await writeFile(join(artifacts, rootPath(2)), rotateTrustRoot({ currentRoot: trustRootJson([firstKey]), endorsingKeys: [firstKey.privateKey], newKeys: [rotatedKey.privateKey] }).bytes);
  const v2 = await publishTestRelease({ storeDir: artifacts, channel: 'stable', version: 2, layers: [base, app(2)], signers: [rotatedKey] });
  const delta = await publishDelta(artifacts, v2, { base: v1.manifestDigest, layer: 1, basisLayers: [v1.release.layers[1].diffID], blob: await appDelta(v1, v2) }, [rotatedKey]);
  await serve();
  // an earlier run that the network stopped left the delta's first two chunks
  const staged = 2 * delta.blob.chunkSize;
  t.ok(delta.blob.size > staged + delta.blob.chunkSize, `the delta (${delta.blob.size} bytes) has more than three chunks`);
  await mkdir(join(store, 'staging', 'downloads'), { recursive: true, mode: 0o700 });
  await writeFile(join(store, 'staging', 'downloads', digestHex(delta.blob.digest)), files[blobPath(delta.blob.digest)].subarray(0, staged), { mode: 0o600 });

  const before = await listTree(store, { hashContent: true });
  const text = await runApplier([...args(store), '--check']);
  const json = await runApplier([...args(store), '--check', '--json']);
  const fresh = join(dir, 'fresh-store');
  const freshJson = await runApplier([...args(fresh), '--check', '--json']);
  t.equal(text.code, 0, text.stderr);
  t.equal(json.code, 0, json.stderr);
  t.equal(freshJson.code, 0, freshJson.stderr);
  t.same(await listTree(store, { hashContent: true }), before, 'the store is unchanged: no lock, staging or state written, the new root not pinned');
  t.equal(await unlessMissing(readdir(fresh)), null, 'no store is created where there was none');

  const [baseLayer, appLayer] = v2.release.layers;
  const check = JSON.parse(json.stdout) as UpdateCheck;
  t.same(check, {
    channel: 'stable',
    installed: { version: 1, manifest: v1.manifestDigest },
    available: { version: 2, manifest: v2.manifestDigest },
    upToDate: false,
    layers: [
      { diffID: baseLayer.diffID, via: 'present', download: 0, staged: 0, fullSize: baseLayer.blob.size },
      { diffID: appLayer.diffID, via: 'delta', download: delta.blob.size - staged, staged, fullSize: appLayer.blob.size },
    ],
    download: delta.blob.size - staged,
    fullSize: appLayer.blob.size,
  });
  t.match(JSON.parse(freshJson.stdout), {
    installed: null,
    layers: [
      { via: 'full', download: baseLayer.blob.size, staged: 0 },
      { via: 'full', download: appLayer.blob.size, staged: 0 },
    ],
    download: baseLayer.blob.size + appLayer.blob.size,
    fullSize: baseLayer.blob.size + appLayer.blob.size,
  }, 'a new device would fetch every layer in full');
  const lines = text.stdout.trim().split('\n');
  t.match(lines[0], `channel stable: version 1 installed, version 2 available (${v2.manifestDigest})`);
  t.match(lines[1], new RegExp(`^  layer 1/2 ${baseLayer.diffID}  present$`));
  t.match(lines[2], new RegExp(`^  layer 2/2 ${appLayer.diffID}  delta .* to download, 128\\.0 KiB already staged \\(full layer .*\\)$`));
  t.match(lines[3], new RegExp(`^to download: .* \\(${delta.blob.size - staged} bytes\\) of .* in full \\([0-9.]+%\\)$`));

  const requestsBefore = server.requests.length;
  const updated = await runApplier(args(store));
  t.equal(updated.code, 0, updated.stderr);
  const blobBytes = server.requests
    .slice(requestsBefore)
    .filter((request) => request.path.startsWith('blobs/') && request.path !== blobPath(v2.release.manifest.digest) && request.path !== blobPath(v2.release.config.digest))
    .reduce((sum, request) => sum + request.sent, 0);
  t.equal(blobBytes, check.download, 'the update then downloads exactly the layer bytes the check announced');
  const upToDate = await runApplier([...args(store), '--check']);
  t.equal(upToDate.stdout, 'channel stable: version 2 installed, the newest; nothing to fetch\n');
});
