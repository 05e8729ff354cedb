import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { digestHex } from '../../../shared/digest.js';
import type { ImageIndex, ImageManifest } from '../../../shared/oci.js';
import { DSSE_ENVELOPE_TYPE, EMPTY_CONFIG } from '../../../shared/registry-artifacts.js';
import { MediaType } from '../../../shared/oci.js';
import { releaseImages, verifyRelease, type Release } from '../../../shared/release.js';
import { loadTrustRoot } from '../../../shared/trust-root.js';
import { generateReleaseKey } from '../../../cli/src/lib/keys.js';
import { RegistryStore } from '../../../cli/src/lib/artifact-store/registry-store.js';
import { bareApplierCommand, ensureApplierBundle } from '../../helpers/applier-bundle.js';
import { buildAppImage } from '../../helpers/app-image.js';
import { startCuttingProxy } from '../../helpers/cutting-proxy.js';
import { startRegistry, writeAuthFile } from '../../helpers/registry.js';
import { runCli, runProcess, runTool, type ProcessResult } from '../../helpers/run.js';
import { APPLIER_EXIT_CODES } from '../../../shared/errors.js';

const USERS = { ci: { password: 'push-secret' }, device: { password: 'pull-secret', actions: ['pull'] } };
function json(t: Test, result: ProcessResult, what: string): any {
  t.equal(result.code, 0, `${what}: ${result.stderr}`);
  return JSON.parse(result.stdout);
}

/** Runs `prtiql release --json` expecting a one-line failure with this exit status and code. */
async function refused(t: Test, args: string[], exit: number, code: string, message: RegExp): Promise<void> {
  const result = await runCli([...args, '--json']);
  t.equal(result.code, exit, result.stderr);
  const { error } = JSON.parse(result.stdout);
  t.equal(error.code, code);
  t.match(error.message, message);
  t.notMatch(error.message, /\n/, 'one line');
}

/** The channel's release as the store holds it, and whether every blob it names is there. */
async function channelState(store: RegistryStore, channel: string): Promise<{ version: number; complete: boolean } | undefined> {
  const bytes = await store.readDocument({ kind: 'release', channel: channel });
  if (!bytes) return undefined;
  const release = JSON.parse(Buffer.from(JSON.parse(bytes.toString()).payload, 'base64').toString()) as Release;
  const blobs = releaseImages(release).flatMap((image) => [image.manifest, image.config, ...image.layers.map((l) => l.blob), ...image.deltas.map((d) => d.blob)]);
  const present = await Promise.all(blobs.map((blob) => store.hasBlob(blob.digest)));
  return { version: release.version, complete: present.every(Boolean) };
}

t.test('release to a registry: a normal image, the signed release as an artifact under the channel tag, devices update from it', async (t) => {
  const registry = await startRegistry(t, { auth: { kind: 'token', users: USERS } });
  const dir = t.testdir();
  const ciAuth = await writeAuthFile(dir, registry.host, 'ci', USERS.ci.password);
  const keys = await generateReleaseKey(join(dir, 'keys'));
  const repo = `docker://${registry.host}/fleet/app`;
  const release = (image: string, version: number, ...extra: string[]) =>
    runCli(['release', '--image', image, '--channel', 'stable', '--release-version', String(version), '--key', keys.privateKey, '--store', repo, '--authfile', ciAuth, '--json', ...extra]);
  await ensureApplierBundle();
  const device = (store: string) =>
    runProcess(...bareApplierCommand(['update', '--source', repo, '--channel', 'stable', '--store', join(dir, store), '--trust', keys.trustRoot]), {
      env: { ...process.env, PRTIQL_REGISTRY_USERNAME: 'device', PRTIQL_REGISTRY_PASSWORD: USERS.device.password },
    });

  const v1 = await buildAppImage(t, `${repo}:1.0`, 1, { authFile: ciAuth });
  const first = json(t, await release(`${repo}:1.0`, 1), 'release 1');
  t.equal(first.digest, v1, 'the image pushed by CI is released as it is');
  t.equal(first.location, `${repo}:stable`);
  const inspected = JSON.parse(await runTool('skopeo', ['inspect', '--tls-verify=false', '--creds', `device:${USERS.device.password}`, `${repo}@${v1}`]));
  t.equal(inspected.Digest, v1, 'skopeo reads the image normally');
  t.equal(inspected.Layers.length, 2);

  const artifact = JSON.parse(await runTool('skopeo', ['inspect', '--raw', '--tls-verify=false', '--creds', `device:${USERS.device.password}`, `${repo}:stable`])) as ImageManifest;
  t.equal(artifact.artifactType, MediaType.release, 'the channel tag is a release artifact');
  t.same(artifact.config, EMPTY_CONFIG);
  t.equal(artifact.layers[0].mediaType, DSSE_ENVELOPE_TYPE);
  t.same(artifact.subject, { mediaType: MediaType.imageManifest, digest: v1, size: artifact.subject!.size }, 'its subject is the image');
  const referrers = JSON.parse(await runTool('skopeo', ['inspect', '--raw', '--tls-verify=false', '--creds', `device:${USERS.device.password}`, `${repo}:sha256-${digestHex(v1)}`])) as ImageIndex;
  t.same(referrers.manifests.map((entry) => entry.artifactType), [MediaType.release], 'the image\'s referrers fallback index lists the release');

  const installed1 = await device('device');
  t.equal(installed1.code, 0, installed1.stderr);
  t.match(installed1.stdout, /updated to version 1/);

  const again = json(t, await release(`${repo}:1.0`, 1), 'release 1 again');
  t.equal(again.unchanged, true, 're-running the same release is a no-op');
  const v2 = await buildAppImage(t, `${repo}:2.0`, 2, { authFile: ciAuth });
  await refused(t, ['release', '--image', `${repo}:2.0`, '-c', 'stable', '--release-version', '1', '-k', keys.privateKey, '--store', repo, '--authfile', ciAuth], 7, 'E_VERSION_EXISTS', /already has version 1/);

  const metadata = join(dir, 'release-2.json');
  const second = json(t, await release(`${repo}:2.0`, 2, '--base-releases', '1', '--metadata-file', metadata), 'release 2');
  t.same(JSON.parse(await readFile(metadata, 'utf8')), second);
  t.equal(second.digest, v2);
  const { deltas } = second.images[0];
  t.ok(deltas.length >= 1 && deltas.every((delta: { baseDigest: string; ratio: number }) => delta.baseDigest === v1 && delta.ratio > 1), 'deltas from version 1, smaller than the layers');
  const store = new RegistryStore({ transport: 'docker', registry: registry.host, repository: 'fleet/app' }, { authFile: ciAuth });
  const signed = verifyRelease((await store.readDocument({ kind: 'release', channel: 'stable' }))!, loadTrustRoot(await readFile(keys.trustRoot)), { channel: 'stable', now: new Date() });
  t.equal(signed.release.version, 2, 'the channel tag points at the newest release');
  const deltaArtifacts = JSON.parse(await runTool('skopeo', ['inspect', '--raw', '--tls-verify=false', '--creds', `device:${USERS.device.password}`, `${repo}:sha256-${digestHex(v2)}`])) as ImageIndex;
  t.same(deltaArtifacts.manifests.map((entry) => entry.artifactType).sort(), ['application/vnd.prtiql.delta-record.v1+json', MediaType.release].sort(), 'the deltas and the release refer to the new image');

  const installed2 = await device('device');
  t.equal(installed2.code, 0, installed2.stderr);
  t.match(installed2.stderr, /"event":"layer.installed"[^\n]*"via":"delta"/, 'the device moves by delta, from the registry');
  const status = JSON.parse((await runProcess(...bareApplierCommand(['status', '--store', join(dir, 'device'), '--json']))).stdout);
  t.equal(status.installed.manifest, v2);

  const anonymous = await runProcess(...bareApplierCommand(['update', '--source', repo, '--channel', 'stable', '--store', join(dir, 'anonymous'), '--trust', keys.trustRoot]), {
    env: { ...process.env, PRTIQL_REGISTRY_USERNAME: '', PRTIQL_REGISTRY_PASSWORD: '' },
  });
  t.equal(anonymous.code, APPLIER_EXIT_CODES.E_UNAUTHORIZED, 'a device without credentials is refused');
  t.match(anonymous.stderr, /no credentials were given/);

  await t.test('denied credentials: wrong password, or a login that may only pull', async (t) => {
    const wrong = await writeAuthFile(dir, registry.host, 'ci', 'wrong');
    const pullOnly = await writeAuthFile(dir, registry.host, 'device', USERS.device.password);
    const args = (authFile: string) => ['release', '--image', `${repo}:2.0`, '-c', 'stable', '--release-version', '3', '-k', keys.privateKey, '--store', repo, '--authfile', authFile];
    await refused(t, args(wrong), 11, 'E_UNAUTHORIZED', /refused the credentials/);
    await refused(t, args(pullOnly), 11, 'E_UNAUTHORIZED', /fleet\/app/);
    t.same(await channelState(store, 'stable'), { version: 2, complete: true }, 'the channel still points at version 2, complete');
  });
});

t.test('registry failures: unreachable, and an upload failing halfway leaves the channel on a complete release', async (t) => {
  const registry = await startRegistry(t);
  const dir = t.testdir();
  const keys = await generateReleaseKey(join(dir, 'keys'));
  const args = (image: string, to: string, version: number) => ['release', '--image', image, '-c', 'stable', '--release-version', String(version), '-k', keys.privateKey, '--store', to];

  const repo = `docker://${registry.host}/app`;
  const ci = `docker://${registry.host}/ci/app`;
  await buildAppImage(t, `${ci}:1`, 1);
  await refused(t, args(`${ci}:1`, 'docker://127.0.0.1:1/app', 1), 8, 'E_NETWORK', /cannot reach http:\/\/127\.0\.0\.1:1/);
  json(t, await runCli([...args(`${ci}:1`, repo, 1), '--json']), 'release 1');
  await buildAppImage(t, `${ci}:2`, 2, { extra: { 'app/assets.bin': randomBytes(2_000_000) } });

  const proxy = await startCuttingProxy(t, `http://${registry.host}`, 500_000);
  const proxied = `docker://${proxy.endpoint.replace('http://', '')}/app`;
  await refused(t, args(`${ci}:2`, proxied, 2), 8, 'E_NETWORK', /^uploading blob sha256:[0-9a-f]{64} to docker:\/\/127\.0\.0\.1:\d+\/app: cannot reach http:\/\/127\.0\.0\.1:\d+: /);
  t.ok(proxy.requests.some((line) => line.startsWith('PUT /v2/app/blobs/uploads/')), 'the upload was under way');
  t.notOk(proxy.requests.some((line) => line.startsWith('PUT /v2/app/manifests/stable')), 'the channel tag was never written');
  const store = new RegistryStore({ transport: 'docker', registry: registry.host, repository: 'app' });
  t.same(await channelState(store, 'stable'), { version: 1, complete: true }, 'the channel still points at version 1, every blob present');

  json(t, await runCli([...args(`${ci}:2`, repo, 2), '--json']), 'the same release succeeds once the network is back');
  t.same(await channelState(store, 'stable'), { version: 2, complete: true });
});
