import { createHash } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { digestHex, type Digest } from '../../../shared/digest.js';
import { MediaType, type ImageIndex, type Platform } from '../../../shared/oci.js';
import { buildImage } from '../../../cli/src/lib/build/build-image.js';
import { OciLayout } from '../../../cli/src/lib/image/oci-layout.js';
import { generateReleaseKey } from '../../../cli/src/lib/keys.js';
import { serveDirectory } from '../../../scripts/lib/static-server.js';
import { runApplier } from '../../helpers/applier-bundle.js';
import { runCli, type ProcessResult } from '../../helpers/run.js';
import { APPLIER_EXIT_CODES } from '../../../shared/errors.js';

const PLATFORMS: Platform[] = [
  { os: 'linux', architecture: 'amd64' },
  { os: 'linux', architecture: 'arm64' },
];

/** Bytes that stand for a program built for one architecture: large, incompressible, stable per (arch, version). */
function program(architecture: string, version: number): Buffer {
  const parts: Buffer[] = [];
  for (let i = 0; i < 4000; i++) parts.push(createHash('sha256').update(`${architecture} ${i} ${i % 50 === 0 ? version : 0}`).digest());
  return Buffer.concat(parts);
}

interface BuiltIndex {
  reference: string;
  /** Manifest and layer digests of each platform's image, by architecture. */
  images: Map<string, { manifest: Digest; layers: Digest[] }>;
}

/** An index of amd64 and arm64 images built from the same sources (the program differs per architecture). */
async function buildIndex(dir: string, version: number): Promise<BuiltIndex> {
  const layoutPath = join(dir, 'layout');
  const common = join(dir, `v${version}`, 'common');
  await mkdir(join(common, 'app'), { recursive: true });
  await writeFile(join(common, 'app', 'main.js'), `console.log('version ${version}');\n`);
  const images = new Map<string, { manifest: Digest; layers: Digest[] }>();
  const entries = [];
  for (const platform of PLATFORMS) {
    const binary = join(dir, `v${version}`, platform.architecture);
    await mkdir(join(binary, 'bin'), { recursive: true });
    await writeFile(join(binary, 'bin', 'tool'), program(platform.architecture, version));
    const built = await buildImage({ layers: [{ directory: common }, { directory: binary }], platform, cmd: ['/bin/tool'] }, `oci:${layoutPath}:v${version}-${platform.architecture}`, { mtime: 0 });
    images.set(platform.architecture, { manifest: built.manifest.digest, layers: built.layers.map((layer) => layer.digest) });
    entries.push({ ...built.manifest, platform });
  }
  const layout = await OciLayout.open(layoutPath);
  const index: ImageIndex = { schemaVersion: 2, mediaType: MediaType.imageIndex, manifests: entries };
  await layout.setTag(`v${version}`, await layout.writeBlob(Buffer.from(JSON.stringify(index)), MediaType.imageIndex));
  return { reference: `oci:${layoutPath}:v${version}`, images };
}

function jsonOf(t: Test, result: ProcessResult): Record<string, unknown> & { [key: string]: any } {
  t.equal(result.code, 0, result.stderr);
  return JSON.parse(result.stdout);
}

t.test('a release of an index carries each platform; each device installs its own, never fetching another\'s blobs', async (t) => {
  const dir = t.testdir();
  const storeDir = join(dir, 'store');
  const keys = await generateReleaseKey(join(dir, 'keys'));
  const release = (reference: string, version: number, ...extra: string[]) =>
    runCli(['release', '--image', reference, '--channel', 'stable', '--release-version', String(version), '--key', keys.privateKey, '--store', storeDir, '--json', ...extra]);

  const v1 = await buildIndex(dir, 1);
  const metadataFile = join(dir, 'release-1.json');
  const first = jsonOf(t, await release(v1.reference, 1, '--metadata-file', metadataFile));
  t.same(JSON.parse(await readFile(metadataFile, 'utf8')), first, '--metadata-file holds what --json prints');
  t.match(first.images, [
    { platform: 'linux/amd64', digest: v1.images.get('amd64')!.manifest },
    { platform: 'linux/arm64', digest: v1.images.get('arm64')!.manifest },
  ], 'every platform\'s image, the index\'s first first');
  t.match(first.digest, /^sha256:[0-9a-f]{64}$/);
  const index = JSON.parse(await readFile(join(storeDir, 'blobs', 'sha256', digestHex(first.digest)), 'utf8')) as ImageIndex;
  t.same(index.manifests.map((entry) => [entry.digest, entry.platform]), PLATFORMS.map((platform) => [v1.images.get(platform.architecture)!.manifest, platform]), 'the store holds the index too');

  const server = await serveDirectory(storeDir);
  t.teardown(() => server.close());
  const requests: string[] = [];
  server.server.on('request', (request: { url?: string }) => requests.push(request.url ?? ''));
  const update = (store: string, ...extra: string[]) =>
    runApplier(['update', '--source', server.url, '--channel', 'stable', '--store', join(dir, store), '--trust', keys.trustRoot, ...extra]);
  const installed = async (store: string) => JSON.parse((await runApplier(['status', '--store', join(dir, store), '--json'])).stdout).installed;

  const arm = await update('arm-device', '--platform', 'linux/arm64');
  t.equal(arm.code, 0, arm.stderr);
  t.match(arm.stderr, /"event":"release.verified".*"platform":"linux\/arm64"/);
  t.equal((await installed('arm-device')).manifest, v1.images.get('arm64')!.manifest, 'the arm64 device runs the arm64 image');
  const amd64Only = [v1.images.get('amd64')!.manifest, ...v1.images.get('amd64')!.layers.filter((layer) => !v1.images.get('arm64')!.layers.includes(layer))];
  t.ok(amd64Only.length >= 2, 'the images share the common layer only');
  t.same(requests.filter((url) => amd64Only.some((digest) => url.endsWith(digestHex(digest)))), [], 'no amd64 blob was fetched');

  const v2 = await buildIndex(dir, 2);
  const second = jsonOf(t, await release(v2.reference, 2, '--base-releases', '1'));
  const [amd64Image, arm64Image] = second.images;
  t.same([...new Set(amd64Image.deltas.map((delta: { baseDigest: string }) => delta.baseDigest))], [v1.images.get('amd64')!.manifest], 'amd64 deltas start from the amd64 image');
  t.same([...new Set(arm64Image.deltas.map((delta: { baseDigest: string }) => delta.baseDigest))], [v1.images.get('arm64')!.manifest], 'arm64 deltas from the arm64 image');
  t.ok(arm64Image.deltas.every((delta: { ratio: number }) => delta.ratio > 1));
  t.match(second.bases, [
    { platform: 'linux/amd64', version: 1, digest: v1.images.get('amd64')!.manifest },
    { platform: 'linux/arm64', version: 1, digest: v1.images.get('arm64')!.manifest },
  ], 'devices of each platform on version 1: what they download');

  requests.length = 0;
  const armUpdate = await update('arm-device', '--platform', 'linux/arm64');
  t.equal(armUpdate.code, 0, armUpdate.stderr);
  t.match(armUpdate.stderr, /"event":"layer.installed"[^\n]*"via":"delta"/, 'the arm64 device moves by delta');
  t.equal((await installed('arm-device')).manifest, v2.images.get('arm64')!.manifest);
  // the common layer's delta has the same bytes for both platforms, so it is one blob of both
  const armDeltas: Digest[] = arm64Image.deltas.map((delta: { digest: Digest }) => delta.digest);
  const amd64OnlyDeltas = amd64Image.deltas.map((delta: { digest: Digest }) => delta.digest).filter((digest: Digest) => !armDeltas.includes(digest));
  t.ok(amd64OnlyDeltas.length >= 1, 'the amd64 layer of its own has a delta of its own');
  t.same(requests.filter((url) => [v2.images.get('amd64')!.manifest, ...amd64OnlyDeltas].some((digest) => url.endsWith(digestHex(digest)))), [], 'nor an amd64 delta');

  const configFile = join(dir, 'device.json');
  await writeFile(configFile, JSON.stringify({ platform: 'linux/amd64' }));
  const amd = await update('amd-device', '--config', configFile);
  t.equal(amd.code, 0, amd.stderr);
  t.equal((await installed('amd-device')).manifest, v2.images.get('amd64')!.manifest, 'the device config names the platform');

  const other = await update('riscv-device', '--platform', 'linux/riscv64');
  t.equal(other.code, APPLIER_EXIT_CODES.E_NOT_FOUND, 'no image for this platform');
  t.match(other.stderr, /release 2 of channel stable has no image for linux\/riscv64 \(platforms: linux\/amd64, linux\/arm64\)/);
  const bad = await update('bad-device', '--platform', 'arm64');
  t.equal(bad.code, APPLIER_EXIT_CODES.E_USAGE, 'a malformed --platform is a usage error');

  const again = jsonOf(t, await release(v2.reference, 2, '--base-releases', '1'));
  t.equal(again.unchanged, true, 'the same index again changes nothing');
  const single = await runCli(['release', '--image', v2.reference, '--platform', 'linux/arm64', '--channel', 'stable', '--release-version', '2', '--key', keys.privateKey, '--store', storeDir, '--json']);
  t.equal(single.code, 7, 'one platform of it under the same version is another release');
  t.match(JSON.parse(single.stdout).error.message, /already has version 2 \(index sha256:[0-9a-f]{64}\)/);
});
