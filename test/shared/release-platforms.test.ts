import t from 'tap';
import { sha256Digest } from '../../shared/digest.js';
import { MediaType, type Platform } from '../../shared/oci.js';
import { encodeRelease, parseRelease, releaseImages, selectReleaseImage, type Release, type ReleaseImage } from '../../shared/release.js';

function image(name: string, platform?: Platform): ReleaseImage {
  const diffID = sha256Digest(`${name} tar`);
  return {
    ...(platform && { platform }),
    manifest: { mediaType: MediaType.imageManifest, digest: sha256Digest(`${name} manifest`), size: 10 },
    config: { mediaType: MediaType.imageConfig, digest: sha256Digest(`${name} config`), size: 10 },
    layers: [{ diffID, size: 3, blob: { mediaType: MediaType.layerGzip, digest: sha256Digest(name), size: 5, chunkSize: 4096, chunks: ['a'.repeat(64)] } }],
    deltas: [{ base: sha256Digest(`${name} base`), target: diffID, basisLayers: [], blob: { mediaType: MediaType.delta, digest: sha256Digest(`${name} delta`), size: 2, chunkSize: 4096, chunks: ['b'.repeat(64)] } }],
  };
}

function release(first: ReleaseImage, others?: ReleaseImage[]): Release {
  return {
    type: 'prtiql-release',
    channel: 'stable',
    version: 3,
    created: '2026-01-01T00:00:00Z',
    expires: '2026-03-01T00:00:00Z',
    ...first,
    ...(others && { index: { mediaType: MediaType.imageIndex, digest: sha256Digest('index'), size: 100 }, platforms: others }),
  };
}

const amd64 = { os: 'linux', architecture: 'amd64' };
const arm64 = { os: 'linux', architecture: 'arm64' };
const armv7 = { os: 'linux', architecture: 'arm', variant: 'v7' };
const armv6 = { os: 'linux', architecture: 'arm', variant: 'v6' };

t.test('a multi-platform release round-trips and each device gets its own image', async (t) => {
  const multi = release(image('amd64', amd64), [image('arm64', arm64), image('armv7', armv7)]);
  const parsed = parseRelease(JSON.parse(encodeRelease(multi).toString()));
  t.same(releaseImages(parsed).map((i) => i.platform), [amd64, arm64, armv7]);
  t.equal(selectReleaseImage(parsed, amd64).manifest.digest, sha256Digest('amd64 manifest'));
  t.equal(selectReleaseImage(parsed, arm64).manifest.digest, sha256Digest('arm64 manifest'));
  t.equal(selectReleaseImage(parsed, { ...arm64, variant: 'v8' }).manifest.digest, sha256Digest('arm64 manifest'), 'a variant the image does not name still matches');
  t.equal(selectReleaseImage(parsed, armv7).manifest.digest, sha256Digest('armv7 manifest'));
  t.throws(() => selectReleaseImage(parsed, armv6), { code: 'E_NOT_FOUND', message: /^release 3 of channel stable has no image for linux\/arm\/v6 \(platforms: linux\/amd64, linux\/arm64, linux\/arm\/v7\)$/ });
  t.throws(() => selectReleaseImage(parsed, { os: 'linux', architecture: 'riscv64' }), { code: 'E_NOT_FOUND' });
});

t.test('a release that names no platform is for every device; one that names a platform only for it', async (t) => {
  const single = parseRelease(release(image('only')));
  t.equal(selectReleaseImage(single, armv6), single);
  t.equal(selectReleaseImage(single, amd64), single);
  const pinned = parseRelease(release(image('pinned', arm64)));
  t.equal(selectReleaseImage(pinned, arm64), pinned);
  t.throws(() => selectReleaseImage(pinned, amd64), { code: 'E_NOT_FOUND' });
});

t.test('malformed multi-platform releases are refused', async (t) => {
  const refuse = (value: unknown, message: RegExp, name: string) => t.throws(() => parseRelease(value), { code: 'E_BAD_INPUT', message }, name);
  refuse(release(image('a'), [image('b', arm64)]), /must name the platform of its first image/, 'first image without platform');
  refuse(release(image('a', amd64), [image('b')]), /platforms\[0\] names no platform/, 'other image without platform');
  refuse(release(image('a', amd64), [image('b', amd64)]), /platform linux\/amd64 is listed twice/, 'platform twice');
  refuse({ ...release(image('a', amd64), [image('b', arm64)]), index: undefined }, /index is malformed/, 'no index');
  refuse({ ...release(image('a')), index: { mediaType: MediaType.imageIndex, digest: sha256Digest('i'), size: 1 } }, /index is set but platforms is not/, 'index alone');
  refuse(release(image('a', { os: 'Linux', architecture: 'amd64' })), /platform is malformed/, 'bad platform');
  const other = image('b', arm64);
  refuse(release(image('a', amd64), [{ ...other, deltas: [{ ...other.deltas[0], target: sha256Digest('elsewhere') }] }]), /platforms\[0\] delta 0 targets a layer the image does not list/, 'delta target per image');
});
