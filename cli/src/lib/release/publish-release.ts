import type { KeyObject } from 'node:crypto';
import { Readable } from 'node:stream';
import type { Digest } from '../../../../shared/digest.js';
import { PrtiqlError } from '../../../../shared/errors.js';
import { formatPlatform } from '../../../../shared/platform.js';
import type { Platform } from '../../../../shared/oci.js';
import type { Release, ReleaseDelta, ReleaseImage } from '../../../../shared/release.js';
import { countProgress, silentProgress, type ProgressFactory } from '../../progress.js';
import type { Image } from '../image/image.js';
import { publishImageDeltas } from '../delta/image-deltas.js';
import type { ArtifactStore } from '../artifact-store/artifact-store.js';
import { readCurrentRelease } from './current-release.js';
import { configPlatform } from '../../../../shared/oci-json.js';
import { historyEntryOf, readChannelHistory, releasesBefore, withRelease, writeChannelHistory } from './channel-history.js';
import { basesFor, openReleasedImages } from './release-bases.js';
import { downloadSize, type DownloadSize } from './download-size.js';
import { checkDistinctPlatforms, describeImage, descriptorOf, releaseIndex, type DescribedImage, type IndexBlob } from './release-images.js';
import { signRelease } from './sign-release.js';
import { checkKeysAgainstRoot, publishRoot, writeTimestamp, type PublishedRoot } from './trust-documents.js';
import { checkChannelName } from '../../../../shared/store-layout.js';

export interface PublishReleaseOptions {
  /** The image to release, or one image per platform: a multi-platform release (docs/release-format.md). */
  image: Image | readonly Image[];
  store: ArtifactStore;
  channel: string;
  version: number;
  /** Ed25519 private key that signs the release. */
  signingKey: KeyObject;
  expires: Date;
  /** The release's creation time; now by default. */
  created?: Date;
  deviceClass?: string;
  /** Images devices may be running: each target image carries a delta from those of its platform. */
  bases?: readonly Image[];
  /** Also take as bases the images of this many of the channel's newest earlier releases (its history). */
  baseReleases?: number;
  /** A root.json to publish as roots/<version>.json before the release (a key rotation). */
  root?: Uint8Array;
  /** Signs channels/<channel>/timestamp.json for the new release with this online key. */
  timestamp?: { key: KeyObject; expires: Date };
  /** Peak memory of the delta computation, in bytes (see match-memory.ts). */
  maxMemory?: number;
  progress?: ProgressFactory;
}

export interface PublishedDelta {
  base: Digest;
  target: Digest;
  digest: Digest;
  size: number;
  basisLayers: Digest[];
  /** How many times smaller the delta is than the gzip layer it replaces. */
  ratio: number;
}

export interface PublishedLayer {
  diffID: Digest;
  digest: Digest;
  size: number;
  uncompressedSize: number;
}

/** One image of a release, as published. */
export interface PublishedImage {
  /** os/arch[/variant]. */
  platform: string;
  manifestDigest: Digest;
  layers: PublishedLayer[];
  deltas: PublishedDelta[];
}

/** What devices running one base image download for the release's image of their platform. */
export interface PublishedBase extends DownloadSize {
  platform: string;
  /** The base's manifest digest, as the release's deltas name it. */
  digest: Digest;
  /** The channel's version that released the base, when it came from the channel's history. */
  version?: number;
}

/** Mirrors the release: the top level is its (first) image, `platforms` the other platforms' images. */
export interface PublishReleaseResult extends PublishedImage {
  channel: string;
  version: number;
  /** Multi-platform releases: the published image index. */
  index?: Digest;
  platforms?: PublishedImage[];
  blobsUploaded: number;
  blobsSkipped: number;
  /** Where the signed release was written. */
  release: string;
  /** True when the channel already held exactly this release: nothing was written. */
  unchanged: boolean;
  /** Every base a delta was computed from, per platform; empty for an unchanged release. */
  bases: PublishedBase[];
  /** The root published with `root`. */
  trustRoot?: PublishedRoot;
  /** Where the timestamp was written. */
  timestamp?: string;
}

interface PendingBlob {
  digest: Digest;
  size: number;
  label: string;
  open(): Promise<Readable>;
}

/** `layerSizes`: the gzip size of each target layer by diffID, which the delta's ratio compares with. */
export function publishedDelta(delta: ReleaseDelta, layerSizes: ReadonlyMap<Digest, number>): PublishedDelta {
  return {
    base: delta.base,
    target: delta.target,
    digest: delta.blob.digest,
    size: delta.blob.size,
    basisLayers: delta.basisLayers,
    ratio: Number(((layerSizes.get(delta.target) ?? 0) / Math.max(1, delta.blob.size)).toFixed(2)),
  };
}

/** `platform`: the image's platform when the release does not name it (single-platform releases). */
function summarizeImage(image: ReleaseImage, platform: Platform): PublishedImage {
  const layerSizes = new Map(image.layers.map((layer) => [layer.diffID, layer.blob.size]));
  return {
    platform: formatPlatform(image.platform ?? platform),
    manifestDigest: image.manifest.digest,
    layers: image.layers.map((layer) => ({ diffID: layer.diffID, digest: layer.blob.digest, size: layer.blob.size, uncompressedSize: layer.size })),
    deltas: image.deltas.map((delta) => publishedDelta(delta, layerSizes)),
  };
}

/** `platform`: the platform of the first image, which a single-platform release does not name. */
function summarizeRelease(release: Release, platform: Platform): Pick<PublishReleaseResult, keyof PublishedImage | 'index' | 'platforms'> {
  return {
    ...summarizeImage(release, platform),
    ...(release.index && { index: release.index.digest }),
    ...(release.platforms && { platforms: release.platforms.map((image) => summarizeImage(image, image.platform!)) }),
  };
}

function checkOptions(options: PublishReleaseOptions, created: Date): void {
  checkChannelName(options.channel);
  if (!Number.isSafeInteger(options.version) || options.version < 1) {
    throw new PrtiqlError('E_USAGE', `release version ${options.version} is not a positive integer`);
  }
  if (options.expires.getTime() <= created.getTime()) {
    throw new PrtiqlError('E_USAGE', `release would expire at ${options.expires.toISOString()}, before it is created`);
  }
  if (options.deviceClass === '') throw new PrtiqlError('E_USAGE', 'device class must not be empty');
  if (options.baseReleases !== undefined && (!Number.isSafeInteger(options.baseReleases) || options.baseReleases < 0)) {
    throw new PrtiqlError('E_USAGE', `the number of base releases ${options.baseReleases} is not a whole number`);
  }
  if (options.signingKey.type !== 'private' || options.signingKey.asymmetricKeyType !== 'ed25519') {
    throw new PrtiqlError('E_BAD_INPUT', 'the signing key is not an Ed25519 private key');
  }
}

/** Uploads what the store lacks; each distinct blob is counted once. */
async function uploadBlobs(store: ArtifactStore, blobs: PendingBlob[], progress: ProgressFactory): Promise<{ uploaded: number; skipped: number }> {
  const seen = new Set<Digest>();
  let uploaded = 0;
  let skipped = 0;
  for (const blob of blobs) {
    if (seen.has(blob.digest)) continue;
    seen.add(blob.digest);
    if (await store.hasBlob(blob.digest)) {
      skipped++;
      continue;
    }
    const bar = progress(`Uploading ${blob.label}`, blob.size);
    const source = await blob.open();
    try {
      if (await store.putBlob(blob.digest, blob.size, countProgress(source, bar))) uploaded++;
      else skipped++;
    } finally {
      source.destroy();
    }
    bar.finish(`${blob.size} bytes`);
  }
  return { uploaded, skipped };
}

/** The blobs a release's images need in the store: layers, configs, manifests, and the index. */
function imageBlobs(images: readonly DescribedImage[], index: IndexBlob | undefined): PendingBlob[] {
  const blobs: PendingBlob[] = images.flatMap(({ image, platform, layers, manifest }) => {
    const label = images.length > 1 ? `${formatPlatform(platform)} ` : '';
    const config = image.manifest.config;
    return [
      ...layers.map((layer, i) => ({ ...layer.blob, label: `${label}layer ${i + 1}/${layers.length}`, open: layer.open })),
      { digest: config.digest, size: config.size, label: `${label}config`, open: async () => Readable.from([image.configBytes]) },
      { digest: manifest.digest, size: manifest.bytes.length, label: `${label}manifest`, open: async () => Readable.from([manifest.bytes]) },
    ];
  });
  if (index) blobs.push({ ...index.descriptor, label: 'index', open: async () => Readable.from([index.bytes]) });
  return blobs;
}

interface ImageDeltas {
  deltas: ReleaseDelta[];
  /** Each base of the image's platform: its published manifest digest and layers. */
  bases: { digest: Digest; layers: ReadonlySet<Digest> }[];
}

/** Deltas to one target image from every base of its platform (reusing recorded ones). */
async function imageDeltas(described: DescribedImage, bases: readonly Image[], store: ArtifactStore, progress: ProgressFactory, maxMemory: number | undefined): Promise<ImageDeltas> {
  const result: ImageDeltas = { deltas: [], bases: [] };
  for (const base of basesFor(described.image, described.manifest.digest, bases)) {
    const { mediaType, digest, bytes } = described.manifest;
    const targetManifest = { mediaType, digest, size: bytes.length };
    const published = await publishImageDeltas({ base, target: described.image, targetManifest, store, progress, maxMemory });
    result.deltas.push(...published.deltas);
    result.bases.push({ digest: published.base, layers: new Set(base.layers.map((layer) => layer.diffID)) });
  }
  return result;
}

function releaseImage(described: DescribedImage, deltas: ReleaseDelta[], multiPlatform: boolean): ReleaseImage {
  const config = described.image.manifest.config;
  return {
    ...(multiPlatform && { platform: described.platform }),
    manifest: descriptorOf(described.manifest),
    config: { mediaType: config.mediaType, digest: config.digest, size: config.size },
    layers: described.layers.map((layer) => ({ diffID: layer.diffID, size: layer.uncompressedSize, blob: layer.blob })),
    deltas,
  };
}

/**
 * Publishes a release of `image` (or of one image per platform) on a channel
 * (docs/release-format.md): checks every layer against its diffID, uploads the gzip layers,
 * configs, manifests (and the index) the store lacks, adds deltas from the bases of each
 * image's platform (given, and from the channel's history), records the release in the
 * history, then writes the signed release as the channel pointer, last. The version must be
 * greater than the channel's current one; publishing the same version of the same image
 * again changes nothing. Every check runs before the first byte is written.
 */
export async function publishRelease(options: PublishReleaseOptions): Promise<PublishReleaseResult> {
  const { store, channel, version } = options;
  const images = Array.isArray(options.image) ? options.image : [options.image as Image];
  const multiPlatform = images.length > 1;
  const created = options.created ?? new Date();
  const progress = options.progress ?? silentProgress;
  checkOptions(options, created);
  checkDistinctPlatforms(images);
  if (options.root) checkKeysAgainstRoot(options.root, options.signingKey, options.timestamp?.key);

  const current = await readCurrentRelease(store, channel, options.signingKey);
  if (current && version < current.version) {
    throw new PrtiqlError('E_ROLLBACK', `version ${version} is lower than version ${current.version}, the current release of channel ${channel}`);
  }
  const described: DescribedImage[] = [];
  for (const image of images) described.push(await describeImage(image, progress, multiPlatform ? `${formatPlatform(configPlatform(image.config))} ` : ''));
  const index = multiPlatform ? releaseIndex(described) : undefined;
  const identity = index?.descriptor.digest ?? described[0].manifest.digest;
  const location = store.documentLocation({ kind: 'release', channel });
  if (current && version === current.version) {
    const currentIdentity = current.index?.digest ?? current.manifest.digest;
    if (currentIdentity === identity) {
      return { channel, version, ...summarizeRelease(current, described[0].platform), blobsUploaded: 0, blobsSkipped: 0, release: location, unchanged: true, bases: [] };
    }
    throw new PrtiqlError(
      'E_VERSION_EXISTS',
      `channel ${channel} already has version ${current.version} (${current.index ? 'index' : 'manifest'} ${currentIdentity}); release this image (${identity}) as version ${current.version + 1} or later`,
    );
  }
  const history = await readChannelHistory(store, channel, current);

  const { uploaded, skipped } = await uploadBlobs(store, imageBlobs(described, index), progress);
  const earlierReleases = releasesBefore(history, version, options.baseReleases ?? 0);
  const releasedVersions = new Map(earlierReleases.flatMap((entry) => entry.images.map((image) => [image.manifest.digest, entry.version] as const)));
  const bases = [...(options.bases ?? []), ...(await openReleasedImages(store, earlierReleases))];
  const released: ReleaseImage[] = [];
  const publishedBases: PublishedBase[] = [];
  for (const image of described) {
    const { deltas, bases: imageBases } = await imageDeltas(image, bases, store, progress, options.maxMemory);
    const published = releaseImage(image, deltas, multiPlatform);
    released.push(published);
    const layers = published.layers.map((layer) => ({ diffID: layer.diffID, size: layer.blob.size }));
    for (const base of imageBases) {
      const version = releasedVersions.get(base.digest);
      publishedBases.push({ platform: formatPlatform(image.platform), digest: base.digest, ...(version !== undefined && { version }), ...downloadSize(layers, deltas, base.digest, base.layers) });
    }
  }

  const [first, ...others] = released;
  const release: Release = {
    type: 'prtiql-release',
    channel,
    version,
    created: created.toISOString(),
    expires: options.expires.toISOString(),
    ...(options.deviceClass !== undefined && { deviceClass: options.deviceClass }),
    ...first,
    ...(index && { index: index.descriptor, platforms: others }),
  };
  const trustRoot = options.root && (await publishRoot(store, options.root));
  await writeChannelHistory(store, withRelease(history, historyEntryOf(release)));
  const releaseBytes = signRelease(release, options.signingKey);
  await store.writeDocument({ kind: 'release', channel }, releaseBytes);
  const timestamp = options.timestamp && (await writeTimestamp(store, channel, releaseBytes, options.timestamp.key, created, options.timestamp.expires));
  return {
    channel,
    version,
    ...summarizeRelease(release, described[0].platform),
    blobsUploaded: uploaded,
    blobsSkipped: skipped,
    release: location,
    unchanged: false,
    bases: publishedBases,
    ...(trustRoot && { trustRoot }),
    ...(timestamp && { timestamp: timestamp.location }),
  };
}
