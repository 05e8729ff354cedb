import { randomBytes } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import type { Digest } from '../../../shared/digest.js';
import { MediaType, type ImageIndex, type ImageManifest } from '../../../shared/oci.js';
import { releaseImageTag } from '../../../shared/registry-artifacts.js';
import { RegistryStore } from '../../../cli/src/lib/artifact-store/registry-store.js';
import { buildImage } from '../../../cli/src/lib/build/build-image.js';
import { OciLayout } from '../../../cli/src/lib/image/oci-layout.js';
import { generateReleaseKey } from '../../../cli/src/lib/keys.js';
import { bareApplierCommand, ensureApplierBundle } from '../../helpers/applier-bundle.js';
import { buildAppImage } from '../../helpers/app-image.js';
import { REGISTRY_BINARY, startRegistry } from '../../helpers/registry.js';
import { runCli, runProcess, runTool, type ProcessResult } from '../../helpers/run.js';

/** An index of linux/amd64 and linux/arm64 images in an image layout; the manifest digest of each platform's image. */
async function buildTwoPlatformIndex(dir: string): Promise<{ reference: string; images: Map<string, Digest> }> {
  const layoutPath = join(dir, 'layout');
  const images = new Map<string, Digest>();
  const entries = [];
  for (const architecture of ['amd64', 'arm64']) {
    const platform = { os: 'linux', architecture };
    await mkdir(join(dir, architecture, 'bin'), { recursive: true });
    await writeFile(join(dir, architecture, 'bin', 'tool'), randomBytes(50_000));
    const built = await buildImage({ layers: [{ directory: join(dir, architecture) }], platform, cmd: ['/bin/tool'] }, `oci:${layoutPath}:${architecture}`, { mtime: 0 });
    images.set(`linux/${architecture}`, built.manifest.digest);
    entries.push({ ...built.manifest, platform });
  }
  const layout = await OciLayout.open(layoutPath);
  const index: ImageIndex = { schemaVersion: 2, mediaType: MediaType.imageIndex, manifests: entries };
  await layout.setTag('multi', await layout.writeBlob(Buffer.from(JSON.stringify(index)), MediaType.imageIndex));
  return { reference: `oci:${layoutPath}:multi`, images };
}

function json(t: Test, result: ProcessResult, what: string): any {
  t.equal(result.code, 0, `${what}: ${result.stderr}`);
  return JSON.parse(result.stdout);
}

t.test('garbage collection of untagged manifests keeps every release: a device still updates through the delta', async (t) => {
  const registry = await startRegistry(t);
  const dir = t.testdir();
  const keys = await generateReleaseKey(join(dir, 'keys'));
  const repo = `docker://${registry.host}/app-releases`;
  await ensureApplierBundle();
  // The images come from a local layout: the release repository is the only place that holds them.
  const v1 = await buildAppImage(t, `oci:${join(dir, 'images')}:1`, 1);
  const v2 = await buildAppImage(t, `oci:${join(dir, 'images')}:2`, 2);
  const release = (tag: string, version: number, ...extra: string[]) =>
    runCli(['release', '--image', `oci:${join(dir, 'images')}:${tag}`, '--channel', 'stable', '--release-version', String(version), '--key', keys.privateKey, '--store', repo, '--json', ...extra]);
  const update = (store: string) => runProcess(...bareApplierCommand(['update', '--source', repo, '--channel', 'stable', '--store', join(dir, store), '--trust', keys.trustRoot]));

  json(t, await release('1', 1), 'release 1');
  const multi = await buildTwoPlatformIndex(join(dir, 'multi'));
  json(t, await runCli(['release', '--image', multi.reference, '-c', 'multi', '--release-version', '1', '-k', keys.privateKey, '--store', repo, '--json']), 'a multi-platform release');
  const first = await update('device');
  t.equal(first.code, 0, first.stderr);
  const second = json(t, await release('2', 2, '--base-releases', '1'), 'release 2');
  t.ok(second.images[0].deltas.length >= 1, 'release 2 carries deltas from release 1');

  await registry.stop();
  const collected = await runProcess(REGISTRY_BINARY, ['garbage-collect', '--delete-untagged', registry.config]);
  t.equal(collected.code, 0, collected.stderr);
  t.match(collected.stdout, /manifest eligible for deletion/, 'the collection deleted untagged manifests (older artifacts of moved tags)');
  await registry.start();

  const updated = await update('device');
  t.equal(updated.code, 0, updated.stderr);
  t.match(updated.stderr, /"event":"layer.installed"[^\n]*"via":"delta"/, 'the device moves to release 2 by delta after the collection');
  const fresh = await update('fresh-device');
  t.equal(fresh.code, 0, fresh.stderr);
  t.match(fresh.stdout, /updated to version 2/, 'a new device installs release 2 in full');
  const tags = await runTool('skopeo', ['list-tags', '--tls-verify=false', repo]);
  t.same(JSON.parse(tags).Tags.filter((tag: string) => tag.startsWith('_releases.stable.')).sort(), [releaseImageTag('stable', 1), releaseImageTag('stable', 2)].sort(), 'each released image has its tag');
  for (const [version, digest] of [[1, v1], [2, v2]] as const) {
    const inspected = JSON.parse(await runTool('skopeo', ['inspect', '--tls-verify=false', `${repo}:${releaseImageTag('stable', version)}`]));
    t.equal(inspected.Digest, digest, `the tag of version ${version} names its image`);
  }

  const multiTags = JSON.parse(await runTool('skopeo', ['list-tags', '--tls-verify=false', repo])).Tags.filter((tag: string) => tag.startsWith('_releases.multi.'));
  t.same(multiTags.sort(), ['_releases.multi.1', '_releases.multi.1.linux-amd64', '_releases.multi.1.linux-arm64'], 'the index and each platform image are tagged');
  const store = new RegistryStore({ transport: 'docker', registry: registry.host, repository: 'app-releases' });
  for (const [platform, image] of multi.images) {
    const manifest = JSON.parse(await runTool('skopeo', ['inspect', '--raw', '--tls-verify=false', `${repo}@${image}`])) as ImageManifest;
    const present = await Promise.all([manifest.config, ...manifest.layers].map((blob) => store.hasBlob(blob.digest)));
    t.ok(present.every(Boolean), `the ${platform} image of the index survived the collection with its config and layers`);
  }
  const older = json(t, await release('2', 3, '--base-releases', '2'), 'release 3, with deltas from the collected releases');
  t.equal(older.version, 3);
});
