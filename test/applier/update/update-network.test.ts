import { randomBytes } from 'node:crypto';
import { readdir, readFile, writeFile } from 'node:fs/promises';
import { join, relative } from 'node:path';
import t from 'tap';
import { downloadVerified } from '../../../applier/update/fetch/blob-download.js';
import { fullLayerTar } from '../../../applier/update/layer-tar.js';
import { openSource } from '../../../applier/update/fetch/source.js';
import { DeviceStore } from '../../../applier/device-store/device-store.js';
import { installLayer } from '../../../applier/update/install-layer.js';
import { ChunkHasher } from '../../../shared/chunks.js';
import { digestHex, sha256Digest } from '../../../shared/digest.js';
import { MediaType } from '../../../shared/oci.js';
import type { ReleaseLayer } from '../../../shared/release.js';
import { blobPath } from '../../../shared/store-layout.js';
import { runApplier } from '../../helpers/applier-bundle.js';
import { startFaultServer } from '../../helpers/fault-server.js';
import { layerTar, newSigner, publishTestRelease, trustRootJson } from '../../helpers/signed-artifact-store.js';
import { APPLIER_EXIT_CODES } from '../../../shared/errors.js';

/** Every file of a directory artifact store, by store path, for the fault server. */
async function storeFiles(root: string): Promise<Record<string, Buffer>> {
  const files: Record<string, Buffer> = {};
  for (const entry of await readdir(root, { recursive: true, withFileTypes: true })) {
    if (entry.isFile()) files[relative(root, join(entry.parentPath, entry.name))] = await readFile(join(entry.parentPath, entry.name));
  }
  return files;
}

t.test('update survives 5xx answers and a dropped download, sending --auth-file credentials', async (t) => {
  const dir = t.testdir();
  const artifacts = join(dir, 'artifacts');
  const signer = newSigner();
  await writeFile(join(dir, 'root.json'), trustRootJson([signer]));
  await writeFile(join(dir, 'auth'), 'Bearer device-token\n');
  const big = randomBytes(3 * 1024 * 1024);
  await publishTestRelease({
    storeDir: artifacts,
    channel: 'stable',
    version: 1,
    layers: [[{ path: 'data.bin', type: 'file', mode: 0o644, content: big }]],
    signers: [signer],
  });
  const server = await startFaultServer(t, await storeFiles(artifacts));
  server.switches.failWith = { status: 503, times: 2 };
  server.switches.dropAfter = { bytes: 1024 * 1024 + 4096, times: 1 };

  const store = join(dir, 'store');
  const result = await runApplier(['update', '--source', server.url, '--channel', 'stable', '--store', store, '--trust', join(dir, 'root.json'), '--auth-file', join(dir, 'auth')]);
  t.equal(result.code, 0, 'the update succeeds');
  const retries = result.stderr.split('\n').filter((line) => line.includes('"event":"network.retry"'));
  t.equal(retries.length, 3, 'two 5xx and one dropped connection, each retried and logged');
  t.ok(server.requests.some((request) => request.range === 'bytes=1048576-'), 'the layer resumed after its first verified chunk');
  t.ok(server.requests.every((request) => request.authorization === 'Bearer device-token'), 'every request carried the credentials');

  const usage = await runApplier(['update', '--source', server.url, '--channel', 'stable', '--store', store, '--deadline', 'soon']);
  t.equal(usage.code, APPLIER_EXIT_CODES.E_USAGE);
  t.match(usage.stderr, /--deadline must be a whole number of seconds/);
  const inUrl = await runApplier(['update', '--source', server.url.replace('http://', 'http://user:pw@'), '--channel', 'stable', '--store', store]);
  t.equal(inUrl.code, APPLIER_EXIT_CODES.E_USAGE);
  t.match(inUrl.stderr, /--source must not carry credentials/);
});

t.test('a flipped byte: the extractor gets every verified byte before its chunk and none of it', async (t) => {
  const dir = t.testdir();
  const chunkSize = 64 * 1024;
  const content = Buffer.alloc(6 * chunkSize);
  for (let i = 0; i < content.length; i += 4) content.writeUInt32BE(i, i);
  const tar = await layerTar([{ path: 'data.bin', type: 'file', mode: 0o644, content }]);
  const hasher = new ChunkHasher(chunkSize);
  hasher.update(tar);
  const layer: ReleaseLayer = {
    diffID: sha256Digest(tar),
    size: tar.length,
    blob: { mediaType: MediaType.layerTar, digest: sha256Digest(tar), size: tar.length, ...hasher.finish() },
  };
  const server = await startFaultServer(t, { [blobPath(layer.blob.digest)]: tar });
  server.switches.flipByteAt = 3 * chunkSize + 10;
  const store = await DeviceStore.create(join(dir, 'store'));
  const source = openSource(server.url, { retry: { baseDelayMs: 1, maxDelayMs: 1 } });

  await t.rejects(installLayer(store, layer, fullLayerTar((blob, what) => downloadVerified(source, blob, what), layer)), { code: 'E_DIGEST_MISMATCH', message: /chunk 3 does not match/ });
  const staged = await readFile(join(store.path('staging'), digestHex(layer.diffID), 'data.bin'));
  const contentStart = 512;
  t.equal(staged.length, 3 * chunkSize - contentStart, 'the file holds exactly the bytes of the three verified chunks');
  t.ok(staged.equals(content.subarray(0, staged.length)), 'and they are the right bytes');
  t.notOk(await store.hasLayer(layer.diffID), 'nothing was committed');
  t.equal(server.requests.length, 1, 'a digest mismatch is not retried');
});
