import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import t from 'tap';
import { readCapped } from '../../../shared/capped-read.js';
import { digestHex, sha256Digest, type Digest } from '../../../shared/digest.js';
import { MediaType, type ImageIndex, type ImageManifest } from '../../../shared/oci.js';
import { DELTA_RECORD_TYPE, EMPTY_CONFIG } from '../../../shared/registry-artifacts.js';
import { repositoryScope } from '../../../shared/registry-auth-protocol.js';
import type { ReleaseDelta } from '../../../shared/release.js';
import { buildImage } from '../../../cli/src/lib/build/build-image.js';
import { readDeltaRecord, writeDeltaRecord } from '../../../cli/src/lib/delta/delta-record.js';
import { openImage } from '../../../cli/src/lib/image/open-image.js';
import { RegistryClient } from '../../../cli/src/lib/registry/registry-client.js';
import { publishRelease } from '../../../cli/src/lib/release/publish-release.js';
import { RegistryStore } from '../../../cli/src/lib/artifact-store/registry-store.js';
import { startRegistry, type TestRegistry } from '../../helpers/registry.js';
import { runTool } from '../../helpers/run.js';

const LIMIT = 1 << 20;

let registry: TestRegistry;
t.before(async () => {
  registry = await startRegistry(t);
});

function storeFor(repository: string): RegistryStore {
  return new RegistryStore({ transport: 'docker', registry: registry.host, repository });
}

function clientFor(): RegistryClient {
  return new RegistryClient(registry.host);
}

function pieces(bytes: Buffer, size = 10_000): Readable {
  return Readable.from((function* () {
    for (let offset = 0; offset < bytes.length; offset += size) yield bytes.subarray(offset, offset + size);
  })());
}

t.test('blobs are registry blobs: uploaded once, verified on the way, read back', async (t) => {
  const store = storeFor('blobs/app');
  const bytes = randomBytes(150_000);
  const digest = sha256Digest(bytes);
  t.equal(await store.hasBlob(digest), false);
  t.equal(await store.putBlob(digest, bytes.length, pieces(bytes)), true);
  t.equal(await store.hasBlob(digest), true);
  t.same(await readCapped(await store.getBlob(digest), LIMIT, 'blob'), bytes);
  registry.requests.length = 0;
  t.equal(await store.putBlob(digest, bytes.length, pieces(bytes)), false, 'an existing blob is skipped');
  t.same(registry.requests.map((line) => line.split(' ')[0]), ['HEAD'], 'after one HEAD');

  const other = randomBytes(5000);
  const otherDigest = sha256Digest(other);
  await t.rejects(store.putBlob(otherDigest, other.length, pieces(Buffer.concat([other.subarray(0, 4000), Buffer.alloc(1000)]))), { code: 'E_DIGEST_MISMATCH' });
  await t.rejects(store.putBlob(otherDigest, other.length - 1, pieces(other)), { code: 'E_SIZE_MISMATCH' });
  t.equal(await store.hasBlob(otherDigest), false, 'wrong bytes never get the name');
  await t.rejects(store.getBlob(otherDigest), { code: 'E_NOT_FOUND', message: `blob ${otherDigest} is not in the store docker://${registry.host}/blobs/app` });
});

t.test('documents are artifacts under tags; missing ones are absent', async (t) => {
  const store = storeFor('docs/app');
  t.equal(await store.readDocument({ kind: 'history', channel: 'stable' }), undefined, 'in a repository that does not exist yet');
  await store.writeDocument({ kind: 'history', channel: 'stable' }, Buffer.from('{"v":1}'));
  t.equal((await store.readDocument({ kind: 'history', channel: 'stable' }))?.toString(), '{"v":1}');
  t.equal(await store.readDocument({ kind: 'history', channel: 'beta' }), undefined, 'in a repository that exists');
  await store.writeDocument({ kind: 'history', channel: 'stable' }, Buffer.from('{"v":2}'));
  t.equal((await store.readDocument({ kind: 'history', channel: 'stable' }))?.toString(), '{"v":2}', 'replaced');

  const client = clientFor();
  const scopes = [repositoryScope('docs/app', 'pull')];
  t.same(await client.listTags('docs/app', scopes), ['_channels.stable.history']);
  const manifest = JSON.parse((await client.getManifest('docs/app', '_channels.stable.history', scopes)).bytes.toString()) as ImageManifest;
  t.equal(manifest.artifactType, 'application/vnd.prtiql.history.v1+json');
  t.same(manifest.config, EMPTY_CONFIG, 'the empty config');
  t.match(manifest.layers, [{ mediaType: 'application/json', digest: sha256Digest('{"v":2}'), size: 7 }]);
  t.equal(manifest.annotations?.['io.prtiql.document'], 'channels/stable/history.json');
  t.equal(manifest.subject, undefined);

  await store.writeDocument({ kind: 'root', version: 2 }, Buffer.from('{"root":2}'));
  t.equal((await store.readDocument({ kind: 'root', version: 2 }))?.toString(), '{"root":2}');
  const root = JSON.parse((await client.getManifest('docs/app', '_roots.2', scopes)).bytes.toString()) as ImageManifest;
  t.equal(root.artifactType, 'application/vnd.prtiql.root.v1+json');
  t.equal(store.documentLocation({ kind: 'timestamp', channel: 'stable' }), `docker://${registry.host}/docs/app:_channels.stable.timestamp`);
});

t.test('a tag that is no prtiql artifact is refused, not misread', async (t) => {
  const store = storeFor('docs/image');
  const layer = Buffer.from('layer');
  await store.putBlob(EMPTY_CONFIG.digest, EMPTY_CONFIG.size, Readable.from([Buffer.from('{}')]));
  await store.putBlob(sha256Digest(layer), layer.length, Readable.from([layer]));
  const image: ImageManifest = { schemaVersion: 2, mediaType: MediaType.imageManifest, config: EMPTY_CONFIG, layers: [{ mediaType: MediaType.layerGzip, digest: sha256Digest(layer), size: layer.length }] };
  await clientFor().putManifest('docs/image', 'stable', Buffer.from(JSON.stringify(image)), MediaType.imageManifest, [repositoryScope('docs/image', 'pull,push')]);
  await t.rejects(store.readDocument({ kind: 'release', channel: 'stable' }), {
    code: 'E_BAD_INPUT',
    message: `docker://${registry.host}/docs/image:stable is no artifact (an image?), expected an artifact of type ${MediaType.release}`,
  });
});

t.test('delta records are artifacts referring to the target image, found through the referrers fallback tag', async (t) => {
  const store = storeFor('deltas/app');
  const target = { mediaType: MediaType.imageManifest, digest: sha256Digest('target manifest'), size: 15 };
  const bases: Digest[] = [sha256Digest('base one'), sha256Digest('base two')];
  const deltaFor = async (content: string): Promise<ReleaseDelta> => {
    const bytes = Buffer.from(content);
    await store.putBlob(sha256Digest(bytes), bytes.length, Readable.from([bytes]));
    const blob = { mediaType: MediaType.delta, digest: sha256Digest(bytes), size: bytes.length, chunkSize: 1 << 20, chunks: [digestHex(sha256Digest(bytes))] };
    return { base: bases[0], target: sha256Digest('layer'), basisLayers: [], blob };
  };
  t.equal(await readDeltaRecord(store, bases[0], target.digest), undefined, 'none yet');
  const first = await deltaFor('delta from base one');
  await writeDeltaRecord(store, bases[0], target, [first]);
  const second = await deltaFor('delta from base two');
  await writeDeltaRecord(store, bases[1], target, [{ ...second, base: bases[1] }]);
  t.same(await readDeltaRecord(store, bases[0], target.digest), [first]);
  t.same(await readDeltaRecord(store, bases[1], target.digest), [{ ...second, base: bases[1] }]);
  const recomputed = await deltaFor('delta from base one, recomputed');
  await writeDeltaRecord(store, bases[0], target, [recomputed]);
  t.same(await readDeltaRecord(store, bases[0], target.digest), [recomputed], 'the newest record of a pair wins');
  await writeDeltaRecord(store, bases[0], target, [recomputed]);

  const client = clientFor();
  const scopes = [repositoryScope('deltas/app', 'pull')];
  const fallback = JSON.parse((await client.getManifest('deltas/app', `sha256-${digestHex(target.digest)}`, scopes)).bytes.toString()) as ImageIndex;
  t.equal(fallback.mediaType, MediaType.imageIndex);
  t.equal(fallback.manifests.length, 3, 'one entry per distinct record artifact');
  t.ok(fallback.manifests.every((entry) => entry.artifactType === DELTA_RECORD_TYPE));
  t.same(fallback.manifests.map((entry) => entry.annotations?.['io.prtiql.delta.base']), [bases[0], bases[1], bases[0]]);
  const artifact = JSON.parse((await client.getManifest('deltas/app', fallback.manifests[0].digest, scopes)).bytes.toString()) as ImageManifest;
  t.same(artifact.subject, target, 'the subject is the target image manifest');
  t.same(artifact.layers.slice(1).map((layer) => layer.digest), [first.blob.digest], 'the delta blobs are layers of the artifact');
  t.ok(registry.requests.some((line) => line.startsWith(`GET /v2/deltas/app/referrers/${target.digest}`)), 'the referrers API was asked first');
  t.equal(store.documentLocation({ kind: 'delta-record', base: bases[0], target: target.digest }), `docker://${registry.host}/deltas/app (delta record ${bases[0]} -> ${target.digest})`);
});

t.test('delta records written at once for one target all stay readable, even when the fallback index loses entries', async (t) => {
  const store = storeFor('deltas/matrix');
  const target = { mediaType: MediaType.imageManifest, digest: sha256Digest('matrix target'), size: 20 };
  const bases = Array.from({ length: 6 }, (_, i) => sha256Digest(`matrix base ${i}`));
  const deltas = await Promise.all(bases.map(async (base) => {
    const bytes = Buffer.from(`delta from ${base}`);
    await store.putBlob(sha256Digest(bytes), bytes.length, Readable.from([bytes]));
    return { base, target: sha256Digest('layer'), basisLayers: [], blob: { mediaType: MediaType.delta, digest: sha256Digest(bytes), size: bytes.length, chunkSize: 1 << 20, chunks: [digestHex(sha256Digest(bytes))] } };
  }));
  await Promise.all(deltas.map((delta) => writeDeltaRecord(store, delta.base, target, [delta])));
  for (const delta of deltas) t.same(await readDeltaRecord(store, delta.base, target.digest), [delta], `record from ${delta.base}`);

  const empty: ImageIndex = { schemaVersion: 2, mediaType: MediaType.imageIndex, manifests: [] };
  await clientFor().putManifest('deltas/matrix', `sha256-${digestHex(target.digest)}`, Buffer.from(JSON.stringify(empty)), MediaType.imageIndex, [repositoryScope('deltas/matrix', 'pull,push')]);
  t.same(await readDeltaRecord(store, bases[0], target.digest), [deltas[0]], 'found by its own tag when the index lost it');
});

t.test('a channel name that is not one never becomes a tag', async (t) => {
  const store = storeFor('docs/other');
  for (const channel of ['../x', '', 'a/b', '_channels.stable.history', 'UPPER']) {
    for (const kind of ['release', 'history'] as const) {
      await t.rejects(store.readDocument({ kind, channel }), { code: 'E_USAGE' }, `${kind} of ${channel}`);
      await t.rejects(store.writeDocument({ kind, channel }, Buffer.from('{}')), { code: 'E_USAGE' }, `${kind} of ${channel}`);
    }
  }
  t.notOk(registry.requests.some((line) => line.includes('/docs/other/')), 'nothing was asked of the registry');
});

t.test('a multi-platform release pushes each image, then the index, which the release artifact refers to', async (t) => {
  const dir = t.testdir({ common: { 'app.txt': 'same sources\n' } });
  const images = [];
  for (const architecture of ['amd64', 'arm64']) {
    const built = await buildImage({ layers: [{ directory: join(dir, 'common') }], platform: { os: 'linux', architecture } }, `oci:${join(dir, 'layout')}:${architecture}`, { mtime: 0 });
    images.push(await openImage(built.reference));
  }
  const store = storeFor('multi/app');
  const result = await publishRelease({
    image: images,
    store,
    channel: 'stable',
    version: 1,
    signingKey: generateKeyPairSync('ed25519').privateKey,
    expires: new Date(Date.now() + 86_400_000),
  });
  const index = JSON.parse(await runTool('skopeo', ['inspect', '--raw', '--tls-verify=false', `docker://${registry.host}/multi/app@${result.index}`])) as ImageIndex;
  t.same(index.manifests.map((entry) => entry.platform?.architecture), ['amd64', 'arm64'], 'the index reads in skopeo');
  const arm = JSON.parse(await runTool('skopeo', ['inspect', '--tls-verify=false', '--override-arch', 'arm64', `docker://${registry.host}/multi/app@${result.index}`]));
  t.equal(arm.Architecture, 'arm64', 'and resolves to the arm64 image');
  const artifact = JSON.parse((await clientFor().getManifest('multi/app', 'stable', [repositoryScope('multi/app', 'pull')])).bytes.toString()) as ImageManifest;
  t.equal(artifact.subject?.digest, result.index, 'the release artifact refers to the index');
  t.equal(artifact.subject?.mediaType, MediaType.imageIndex);
});
