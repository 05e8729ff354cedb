import { join } from 'node:path';
import t, { type Test } from 'tap';
import type { Digest } from '../../../shared/digest.js';
import { parseEnvelopeBytes } from '../../../shared/dsse.js';
import { parseRelease, releaseImages, type Release } from '../../../shared/release.js';
import type { ArtifactStore } from '../../../cli/src/lib/artifact-store/artifact-store.js';
import { generateReleaseKey } from '../../../cli/src/lib/keys.js';
import { runApplier } from '../../helpers/applier-bundle.js';
import { buildAppImage } from '../../helpers/app-image.js';
import { openStore } from '../../../cli/src/lib/artifact-store/open-store.js';
import { startRegistry, writeAuthFile } from '../../helpers/registry.js';
import { resultSchema } from '../../helpers/result-schema.js';
import { runCli, type ProcessResult } from '../../helpers/run.js';
import { directoryStore, registryStore, s3Store, type StoreUnderTest } from '../../helpers/stores-under-test.js';

const validatePrune = await resultSchema('prune');

function json(t: Test, result: ProcessResult, what: string): any {
  t.equal(result.code, 0, `${what}: ${result.stderr}`);
  return JSON.parse(result.stdout);
}

async function currentRelease(store: ArtifactStore): Promise<Release> {
  const envelope = parseEnvelopeBytes((await store.readDocument({ kind: 'release', channel: 'stable' }))!, 'release');
  return parseRelease(JSON.parse(Buffer.from(envelope.payload, 'base64').toString()));
}

function blobsOf(release: Release): Digest[] {
  return releaseImages(release).flatMap((image) => [image.manifest.digest, image.config.digest, ...image.layers.map((layer) => layer.blob.digest), ...image.deltas.map((delta) => delta.blob.digest)]);
}

async function historyVersions(store: ArtifactStore): Promise<number[]> {
  return JSON.parse((await store.readDocument({ kind: 'history', channel: 'stable' }))!.toString()).releases.map((entry: { version: number }) => entry.version);
}

/**
 * Three releases (2 with a delta from 1, 3 with deltas from 2 and 1), devices on 1 and on 2,
 * then `prune --keep 2`: version 1 goes with what only it needed, the devices still update, by
 * delta from both kept and pruned bases where the kept release carries one, and in full.
 */
async function pruneScenario(t: Test, target: StoreUnderTest): Promise<void> {
  const dir = t.testdir();
  const keys = await generateReleaseKey(join(dir, 'keys'));
  const cli = (args: string[]) => runCli([...args, ...target.cliArgs, '--json'], { env: target.env });
  const device = (name: string) =>
    runApplier(['update', '--source', target.deviceSource, '--channel', 'stable', '--store', join(dir, name), '--trust', keys.trustRoot]);
  const images: string[] = [];
  for (const version of [1, 2, 3]) {
    images.push(`oci:${join(dir, 'images')}:v${version}`);
    // Version 1 alone has release notes, so that its delta to 2 differs from the delta from 2 to 3.
    await buildAppImage(t, images[version - 1], version, version === 1 ? { extra: { 'app/notes.txt': Buffer.from('first release\n'.repeat(40)) } } : {});
  }
  const release = (version: number, baseReleases: number) =>
    cli(['release', '--image', images[version - 1], '-c', 'stable', '--release-version', String(version), '-k', keys.privateKey, '--store', target.url, '--base-releases', String(baseReleases)]);

  json(t, await release(1, 0), 'release 1');
  const v1 = await currentRelease(target.store);
  t.equal((await device('on-1')).code, 0, 'a device installs version 1');
  json(t, await release(2, 1), 'release 2');
  const v2 = await currentRelease(target.store);
  t.equal((await device('on-2')).code, 0, 'a device installs version 2');
  const third = json(t, await release(3, 2), 'release 3');
  const v3 = await currentRelease(target.store);
  t.same([...new Set(third.images.flatMap((image: { deltas: { baseDigest: string }[] }) => image.deltas).map((delta: { baseDigest: string }) => delta.baseDigest))].sort(), [v1.manifest.digest, v2.manifest.digest].sort(), 'version 3 carries deltas from 2 and from 1');
  t.same(await historyVersions(target.store), [1, 2, 3]);

  const v1Layers = v1.layers.map((layer) => layer.blob.digest);
  // What version 2 needs once 3 replaced it as the channel's release: its image (its deltas from 1 are 1's).
  const v2Blobs = [v2.manifest.digest, v2.config.digest, ...v2.layers.map((layer) => layer.blob.digest)];
  const onlyV1 = [v1.manifest.digest, v1.config.digest, ...v1Layers, ...v2.deltas.map((delta) => delta.blob.digest)].filter(
    (digest) => !blobsOf(v3).includes(digest) && !v2Blobs.includes(digest),
  );
  const ownBlobs = [v1.manifest.digest, v1.config.digest, v1Layers[1], ...v2.deltas.map((delta) => delta.blob.digest)];
  t.same([...onlyV1].sort(), ownBlobs.sort(), 'version 1 has a manifest, a config, an app layer and the delta to 2 of its own (its library layer is shared)');

  const planned = json(t, await cli(['prune', target.url, '--channel', 'stable', '--keep', '2', '--dry-run']), 'prune --dry-run');
  t.ok(validatePrune(planned), JSON.stringify(validatePrune.errors));
  t.same(planned.removedVersions, [1]);
  t.same(planned.keptVersions, [3, 2]);
  t.same(await historyVersions(target.store), [1, 2, 3], 'a dry run changes nothing');
  for (const digest of onlyV1) t.ok(await target.store.hasBlob(digest), `a dry run removes no blob (${digest.slice(0, 15)})`);

  const pruned = json(t, await cli(['prune', target.url, '--channel', 'stable', '--keep', '2']), 'prune');
  t.ok(validatePrune(pruned), JSON.stringify(validatePrune.errors));
  t.same(pruned.removedBlobs, planned.removedBlobs, 'it removes what the dry run listed');
  t.same(pruned.removedDocuments, planned.removedDocuments);
  t.equal(pruned.removedDocuments.length, 2, 'the delta records from version 1 (to 2 and to 3) are removed');
  for (const digest of onlyV1) {
    t.ok(pruned.removedBlobs.includes(digest), `version 1's own blob ${digest.slice(0, 15)} is listed`);
    t.notOk(await target.store.hasBlob(digest), `and gone (${digest.slice(0, 15)})`);
  }
  t.ok(pruned.removedBlobs.indexOf(v1.manifest.digest) < pruned.removedBlobs.indexOf(v1.config.digest), 'the manifest goes before the blobs it names');
  for (const digest of [...blobsOf(v3), ...v2Blobs]) t.ok(await target.store.hasBlob(digest), `kept: ${digest.slice(0, 15)}`);
  t.same(await historyVersions(target.store), [2, 3], 'the history lists the kept releases');
  const records = (await target.store.listDocuments()).filter((document) => document.kind === 'delta-record');
  t.same(records.map((record) => record.kind === 'delta-record' && record.base), [v2.manifest.digest], 'the record of the delta from 2 to 3 stays');
  t.equal(await target.store.readDocument({ kind: 'delta-record', base: v1.manifest.digest, target: v3.manifest.digest }), undefined, 'a removed record reads as absent (a registry\'s referrers index of 3 still lists it)');

  const again = json(t, await cli(['prune', target.url, '--channel', 'stable', '--keep', '2']), 'prune again');
  t.same([again.removedVersions, again.removedDocuments, again.removedBlobs], [[], [], []], 'a second prune finds nothing more');

  const fromV2 = await device('on-2');
  t.equal(fromV2.code, 0, fromV2.stderr);
  t.match(fromV2.stderr, /"event":"layer.installed"[^\n]*"via":"delta"/, 'the device on version 2 (kept) moves to 3 by delta');
  const fromV1 = await device('on-1');
  t.equal(fromV1.code, 0, fromV1.stderr);
  t.match(fromV1.stderr, /"event":"layer.installed"[^\n]*"via":"delta"/, 'the device on version 1 (pruned) still gets the delta version 3 signed for it');
  const fresh = await device('fresh');
  t.equal(fresh.code, 0, fresh.stderr);
  t.notMatch(fresh.stderr, /"via":"delta"/);
  t.match(fresh.stdout, /updated to version 3/, 'a new device installs version 3 in full');
}

for (const [name, open] of [
  ['a directory store', async (t: Test) => directoryStore(t.testdirName)],
  ['an S3 store (s3rver)', s3Store],
  ['a registry store (docker-registry)', registryStore],
] as const) {
  t.test(`prune on ${name}`, async (t) => {
    const target = await open(t);
    await pruneScenario(t, target);
    if (target.requests) {
      const deletes = target.requests.filter((line) => /^DELETE \/v2\/fleet\/app\/manifests\/sha256:/.test(line));
      t.ok(deletes.length >= 2, 'the pruned image and the artifacts referring to it were deleted as manifests');
    }
  });
}

t.test('a registry login without the delete action: E_UNAUTHORIZED before anything changes; with it, the prune goes through', async (t) => {
  const users = { ci: { password: 'ci-secret' }, admin: { password: 'admin-secret', actions: ['pull', 'push', 'delete'] } };
  const registry = await startRegistry(t, { auth: { kind: 'token', users } });
  const dir = t.testdir();
  const keys = await generateReleaseKey(join(dir, 'keys'));
  const ci = await writeAuthFile(dir, registry.host, 'ci', users.ci.password);
  const admin = await writeAuthFile(dir, registry.host, 'admin', users.admin.password);
  const url = `docker://${registry.host}/fleet/app`;
  for (const version of [1, 2]) {
    const image = `oci:${join(dir, 'images')}:v${version}`;
    await buildAppImage(t, image, version);
    json(t, await runCli(['release', '--image', image, '-c', 'stable', '--release-version', String(version), '-k', keys.privateKey, '--store', url, '--base-releases', '1', '--authfile', ci, '--json']), `release ${version}`);
  }
  const store = await openStore(url, {}, { authFile: ci });

  const denied = await runCli(['prune', url, '-c', 'stable', '--keep', '1', '--authfile', ci, '--json']);
  t.equal(denied.code, 11, denied.stderr);
  t.match(JSON.parse(denied.stdout).error, { code: 'E_UNAUTHORIZED', message: /^deleting manifest sha256:[0-9a-f]{64} in docker:\/\/[^ ]+: registry [^ ]+ refused the credentials .*\(deleting needs the delete action on fleet\/app, besides pull and push\)$/ });
  t.same(await historyVersions(store), [1, 2], 'nothing was changed');
  t.equal((await store.listDocuments()).filter((document) => document.kind === 'delta-record').length, 1, 'the record is still there');

  const pruned = json(t, await runCli(['prune', url, '-c', 'stable', '--keep', '1', '--authfile', admin, '--json']), 'prune with delete rights');
  t.same(pruned.removedVersions, [1]);
  t.same(await historyVersions(store), [2]);
});
