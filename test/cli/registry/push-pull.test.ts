import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { readCapped } from '../../../shared/capped-read.js';
import { sha256Digest } from '../../../shared/digest.js';
import { MediaType, type ImageIndex } from '../../../shared/oci.js';
import { repositoryScope } from '../../../shared/registry-auth-protocol.js';
import { buildImage } from '../../../cli/src/lib/build/build-image.js';
import { hostPlatform } from '../../../cli/src/lib/build/platform.js';
import { openImage } from '../../../cli/src/lib/image/open-image.js';
import { writeImage } from '../../../cli/src/lib/image/write-image.js';
import { RegistryClient, registryBaseUrl } from '../../../cli/src/lib/registry/registry-client.js';
import { startRegistry } from '../../helpers/registry.js';
import { runTool } from '../../helpers/run.js';

const LIMIT = 1 << 20;

/** Builds a one-layer image from `files` into a fresh layout. */
async function buildSample(t: Test, files: Record<string, string | Buffer>, options: { platform?: { os: string; architecture: string } } = {}) {
  const dir = await mkdtemp(join(tmpdir(), 'prtiql-push-pull-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  await mkdir(join(dir, 'context'));
  for (const [name, content] of Object.entries(files)) await writeFile(join(dir, 'context', name), content);
  const reference = `oci:${join(dir, 'layout')}:v1`;
  const result = await buildImage({ layers: [{ directory: join(dir, 'context') }], cmd: ['/app'], platform: options.platform }, reference, { mtime: 0 });
  return { dir, reference, result };
}

async function skopeoInspect(reference: string, raw = false): Promise<Record<string, unknown>> {
  return JSON.parse(await runTool('skopeo', ['inspect', ...(raw ? ['--raw'] : []), '--tls-verify=false', reference])) as Record<string, unknown>;
}

t.test('a pushed image reads back in skopeo; a second push only checks blobs; pushes within the registry mount', async (t) => {
  const registry = await startRegistry(t);
  const { reference, result } = await buildSample(t, { 'app.txt': 'hello registry\n' });
  const image = await openImage(reference);

  const first = await writeImage(image, `docker://${registry.host}/team/app:v1`);
  t.same(first, { reference: `docker://${registry.host}/team/app:v1`, manifestDigest: result.manifest.digest, blobs: { written: 2, skipped: 0, mounted: 0 } });
  const inspected = await skopeoInspect(`docker://${registry.host}/team/app:v1`);
  t.equal(inspected.Digest, result.manifest.digest, 'skopeo sees the manifest byte for byte');
  t.same(inspected.Layers, [result.layers[0].digest]);
  const uploads = registry.requests.filter((line) => /^(POST|PATCH|PUT) \/v2\/team\/app\/blobs\//.test(line));
  t.ok(uploads.indexOf(uploads.find((line) => line.startsWith('POST'))!) === 0, 'an upload starts with POST');
  const manifestPut = registry.requests.findIndex((line) => line.startsWith('PUT /v2/team/app/manifests/v1'));
  t.ok(registry.requests.findLastIndex((line) => line.includes('/blobs/uploads/')) < manifestPut, 'blobs before the manifest');

  registry.requests.length = 0;
  const again = await writeImage(image, `docker://${registry.host}/team/app:v1`);
  t.same(again.blobs, { written: 0, skipped: 2, mounted: 0 });
  t.same(
    registry.requests.map((line) => line.split(' ')[0]),
    ['HEAD', 'HEAD', 'PUT'],
    'only HEADs for the blobs, then the manifest',
  );

  registry.requests.length = 0;
  const copy = await writeImage(await openImage(`docker://${registry.host}/team/app:v1`), `docker://${registry.host}/other:v1`);
  t.same(copy.blobs, { written: 1, skipped: 0, mounted: 1 }, 'the layer is mounted, the config uploaded');
  t.ok(registry.requests.some((line) => line.startsWith(`POST /v2/other/blobs/uploads/?mount=${encodeURIComponent(result.layers[0].digest)}&from=team%2Fapp`)));
  t.notOk(registry.requests.some((line) => line.startsWith('PUT') && line.includes(encodeURIComponent(result.layers[0].digest))), 'no layer bytes sent');
  t.equal((await skopeoInspect(`docker://${registry.host}/other:v1`)).Digest, result.manifest.digest);
});

t.test('an image skopeo pushed pulls into a layout with its manifest digest kept', async (t) => {
  const registry = await startRegistry(t);
  const { dir, reference, result } = await buildSample(t, { 'data.bin': randomBytes(3000) });
  await runTool('skopeo', ['copy', '--quiet', '--dest-tls-verify=false', reference, `docker://${registry.host}/pulled:v1`]);
  const pushedDigest = (await skopeoInspect(`docker://${registry.host}/pulled:v1`)).Digest;

  const pulled = await writeImage(await openImage(`docker://${registry.host}/pulled:v1`), `oci:${join(dir, 'copy')}:here`);
  t.equal(pulled.manifestDigest, pushedDigest);
  t.same(pulled.blobs, { written: 2, skipped: 0, mounted: 0 });
  const local = await openImage(`oci:${join(dir, 'copy')}:here`);
  t.equal(local.manifestDigest, pushedDigest);
  const tar = await readCapped(await local.layers[0].openUncompressed(), LIMIT, 'layer');
  t.equal(sha256Digest(tar), result.layers[0].diffID);
  t.equal((await skopeoInspect(`oci:${join(dir, 'copy')}:here`)).Digest, pushedDigest, 'skopeo reads the pulled layout');
});

t.test('large blobs go up in PATCH chunks and come back intact', async (t) => {
  const registry = await startRegistry(t);
  const { reference, result } = await buildSample(t, { 'noise.bin': randomBytes(10_000) });
  const layerSize = result.layers[0].size;
  t.ok(layerSize > 2500, 'the layer spans several chunks');
  await writeImage(await openImage(reference), `docker://${registry.host}/chunked:v1`, { registry: { chunkSize: 1024 } });
  const patches = registry.requests.filter((line) => line.startsWith('PATCH /v2/chunked/blobs/uploads/'));
  t.equal(patches.length, Math.ceil(layerSize / 1024));
  const image = await openImage(`docker://${registry.host}/chunked:v1`);
  t.equal(image.manifestDigest, result.manifest.digest);
  t.equal(sha256Digest(await readCapped(await image.layers[0].openUncompressed(), LIMIT, 'layer')), result.layers[0].diffID);
});

t.test('--platform picks the image from a multi-platform index', async (t) => {
  const registry = await startRegistry(t);
  const amd = await buildSample(t, { 'arch.txt': 'amd64\n' }, { platform: { os: 'linux', architecture: 'amd64' } });
  const arm = await buildSample(t, { 'arch.txt': 'arm64\n' }, { platform: { os: 'linux', architecture: 'arm64' } });
  const repository = `docker://${registry.host}/multi`;
  await writeImage(await openImage(amd.reference), `${repository}:amd64`);
  await writeImage(await openImage(arm.reference), `${repository}:arm64`);
  const index: ImageIndex = {
    schemaVersion: 2,
    mediaType: MediaType.imageIndex,
    manifests: [
      { ...amd.result.manifest, platform: amd.result.platform },
      { ...arm.result.manifest, platform: arm.result.platform },
      { mediaType: MediaType.imageManifest, digest: arm.result.manifest.digest, size: arm.result.manifest.size, platform: { os: 'unknown', architecture: 'unknown' } },
    ],
  };
  const client = new RegistryClient(registry.host);
  await client.putManifest('multi', 'all', Buffer.from(JSON.stringify(index)), MediaType.imageIndex, [repositoryScope('multi', 'pull,push')]);

  const chosenArm = await openImage(`${repository}:all`, { platform: { os: 'linux', architecture: 'arm64' } });
  t.equal(chosenArm.manifestDigest, arm.result.manifest.digest);
  t.equal(chosenArm.config.architecture, 'arm64');
  const chosenAmd = await openImage(`${repository}:all`, { platform: { os: 'linux', architecture: 'amd64' } });
  t.equal(chosenAmd.manifestDigest, amd.result.manifest.digest);
  const host = hostPlatform().architecture;
  if (host === 'amd64' || host === 'arm64') {
    t.equal((await openImage(`${repository}:all`)).config.architecture, host, 'without --platform: the image for this host');
  }
  await t.rejects(openImage(`${repository}:all`, { platform: { os: 'linux', architecture: 's390x' } }), {
    code: 'E_NOT_FOUND',
    message: /no image for linux\/s390x \(platforms: linux\/amd64, linux\/arm64\)/,
  });
  const indexDigest = sha256Digest(JSON.stringify(index));
  t.equal((await openImage(`${repository}@${indexDigest}`, { platform: { os: 'linux', architecture: 'arm64' } })).manifestDigest, arm.result.manifest.digest, 'an index by digest too');
});

t.test('missing tags and repositories, and unreachable registries, are typed errors', async (t) => {
  const registry = await startRegistry(t);
  const { reference } = await buildSample(t, { 'a.txt': 'a\n' });
  await writeImage(await openImage(reference), `docker://${registry.host}/here:v1`);
  await t.rejects(openImage(`docker://${registry.host}/here:v2`), { code: 'E_NOT_FOUND', message: /here:v2 does not exist \(tags: v1\)/ });
  await t.rejects(openImage(`docker://${registry.host}/nowhere:v1`), { code: 'E_NOT_FOUND' });
  await t.rejects(openImage(`docker://${registry.host}/here@sha256:${'0'.repeat(64)}`), { code: 'E_NOT_FOUND' });
  await t.rejects(openImage('docker://127.0.0.1:1/app:v1'), { code: 'E_NETWORK', message: /cannot reach http:\/\/127\.0\.0\.1:1/ });
});

t.test('a source blob that does not match its digest fails the push and leaves no trace', async (t) => {
  const registry = await startRegistry(t);
  for (const chunkSize of [undefined, 1024]) {
    const { dir, reference, result } = await buildSample(t, { 'noise.bin': randomBytes(5000) });
    const blobPath = join(dir, 'layout', 'blobs', 'sha256', result.layers[0].digest.slice('sha256:'.length));
    const bytes = await readFile(blobPath);
    bytes[bytes.length - 20] ^= 0xff;
    await writeFile(blobPath, bytes);
    const target = `docker://${registry.host}/tampered:${chunkSize ?? 'whole'}`;
    await t.rejects(writeImage(await openImage(reference), target, { registry: { chunkSize } }), { code: 'E_DIGEST_MISMATCH' }, `chunk size ${chunkSize ?? 'default'}`);
    const client = new RegistryClient(registry.host);
    t.notOk(await client.hasBlob('tampered', result.layers[0].digest, [repositoryScope('tampered', 'pull')]), 'the blob was not stored');
    await t.rejects(openImage(target), { code: 'E_NOT_FOUND' }, 'no manifest was pushed');
    t.ok(registry.requests.some((line) => line.startsWith('DELETE /v2/tampered/blobs/uploads/')), 'the upload was cancelled');
  }
});

t.test('loopback registries and --insecure speak HTTP, all others HTTPS; Docker Hub has its API host', async (t) => {
  t.equal(registryBaseUrl('127.0.0.1:5000').href, 'http://127.0.0.1:5000/');
  t.equal(registryBaseUrl('localhost').href, 'http://localhost/');
  t.equal(registryBaseUrl('[::1]:5000').href, 'http://[::1]:5000/');
  t.equal(registryBaseUrl('registry.example:5000').href, 'https://registry.example:5000/');
  t.equal(registryBaseUrl('registry.example:5000', true).href, 'http://registry.example:5000/');
  t.equal(registryBaseUrl('docker.io').href, 'https://registry-1.docker.io/');
});
