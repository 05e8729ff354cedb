import type { KeyObject } from 'node:crypto';
import { Readable } from 'node:stream';
import type { Digest } from '../../../../shared/digest.js';
import { PrtiqlError } from '../../../../shared/errors.js';
import type { Release, ReleaseDelta } from '../../../../shared/release.js';
import { countProgress, silentProgress, type ProgressFactory } from '../../progress.js';
import type { Image } from '../image/image.js';
import { publishImageDeltas } from '../delta/image-deltas.js';
import type { ArtifactStore } from '../store/artifact-store.js';
import { readCurrentRelease } from './current-release.js';
import { describeLayerBlob, type GzipLayerBlob } from './layer-blob.js';
import { checkChannelName } from './release-options.js';
import { signRelease } from './sign-release.js';
import { storeManifest } from './store-manifest.js';
import { checkKeysAgainstRoot, publishRoot, writeTimestamp, type PublishedRoot } from './trust-documents.js';
import { pointerPath } from '../store/store-layout.js';

export interface PublishReleaseOptions {
  image: Image;
  store: ArtifactStore;
  channel: string;
  version: number;
  /** Ed25519 private key that signs the release. */
  signingKey: KeyObject;
  expires: Date;
  /** The release's creation time; now by default. */
  created?: Date;
  deviceClass?: string;
  /** Images devices may be running: the release carries a delta from each to `image`. */
  bases?: readonly Image[];
  /** A root.json to publish as roots/<version>.json before the release (a key rotation). */
  root?: Uint8Array;
  /** Signs channels/<channel>/timestamp.json for the new release with this online key. */
  timestamp?: { key: KeyObject; expires: Date };
  progress?: ProgressFactory;
}

export interface PublishedDelta {
  base: Digest;
  target: Digest;
  digest: Digest;
  size: number;
  basisLayers: Digest[];
}

export interface PublishReleaseResult {
  channel: string;
  version: number;
  manifestDigest: Digest;
  layers: { diffID: Digest; digest: Digest; size: number; uncompressedSize: number }[];
  deltas: PublishedDelta[];
  blobsUploaded: number;
  blobsSkipped: number;
  /** Where the signed release was written. */
  release: string;
  /** True when the channel already held exactly this release: nothing was written. */
  unchanged: boolean;
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

function summarizeDelta(delta: ReleaseDelta): PublishedDelta {
  return { base: delta.base, target: delta.target, digest: delta.blob.digest, size: delta.blob.size, basisLayers: delta.basisLayers };
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
  if (options.signingKey.type !== 'private' || options.signingKey.asymmetricKeyType !== 'ed25519') {
    throw new PrtiqlError('E_BAD_INPUT', 'the signing key is not an Ed25519 private key');
  }
}

async function describeLayers(image: Image, progress: ProgressFactory): Promise<GzipLayerBlob[]> {
  const described: GzipLayerBlob[] = [];
  for (const [i, layer] of image.layers.entries()) {
    const bar = progress(`Checking layer ${i + 1}/${image.layers.length}`, layer.descriptor.size);
    const blob = await describeLayerBlob(layer, `layer ${i + 1} (${layer.descriptor.digest})`, (count) => bar.advance(count));
    bar.finish(`${blob.uncompressedSize} bytes, diffID verified`);
    described.push(blob);
  }
  return described;
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

/**
 * Publishes a full-layer release of `image` on a channel (docs/release-format.md): checks
 * every layer against its diffID, uploads the gzip layers, config and manifest the store
 * lacks, then writes the signed release as the channel pointer, last. The version must be
 * greater than the channel's current one; publishing the same version of the same image
 * again changes nothing. Every check runs before the first byte is written.
 */
export async function publishRelease(options: PublishReleaseOptions): Promise<PublishReleaseResult> {
  const { image, store, channel, version } = options;
  const created = options.created ?? new Date();
  const progress = options.progress ?? silentProgress;
  checkOptions(options, created);
  if (options.root) checkKeysAgainstRoot(options.root, options.signingKey, options.timestamp?.key);

  const current = await readCurrentRelease(store, channel, options.signingKey);
  if (current && version < current.version) {
    throw new PrtiqlError('E_ROLLBACK', `version ${version} is lower than version ${current.version}, the current release of channel ${channel}`);
  }
  const layers = await describeLayers(image, progress);
  const manifest = storeManifest(image, layers);
  const result = {
    channel,
    version,
    manifestDigest: manifest.digest,
    layers: layers.map((layer) => ({ diffID: layer.diffID, digest: layer.blob.digest, size: layer.blob.size, uncompressedSize: layer.uncompressedSize })),
    release: store.documentLocation(pointerPath(channel)),
  };
  if (current && version === current.version) {
    if (current.manifest.digest === manifest.digest) {
      return { ...result, deltas: current.deltas.map(summarizeDelta), blobsUploaded: 0, blobsSkipped: 0, unchanged: true };
    }
    throw new PrtiqlError(
      'E_VERSION_EXISTS',
      `channel ${channel} already has version ${current.version} (manifest ${current.manifest.digest}); release this image (${manifest.digest}) as version ${current.version + 1} or later`,
    );
  }

  const config = image.manifest.config;
  const { uploaded, skipped } = await uploadBlobs(
    store,
    [
      ...layers.map((layer, i) => ({ ...layer.blob, label: `layer ${i + 1}/${layers.length}`, open: layer.open })),
      { digest: config.digest, size: config.size, label: 'config', open: async () => Readable.from([image.configBytes]) },
      { digest: manifest.digest, size: manifest.bytes.length, label: 'manifest', open: async () => Readable.from([manifest.bytes]) },
    ],
    progress,
  );
  const deltas: ReleaseDelta[] = [];
  for (const base of options.bases ?? []) {
    deltas.push(...(await publishImageDeltas({ base, target: image, store, progress })).deltas);
  }

  const release: Release = {
    type: 'prtiql-release',
    channel,
    version,
    created: created.toISOString(),
    expires: options.expires.toISOString(),
    ...(options.deviceClass !== undefined && { deviceClass: options.deviceClass }),
    manifest: { mediaType: manifest.mediaType, digest: manifest.digest, size: manifest.bytes.length },
    config: { mediaType: config.mediaType, digest: config.digest, size: config.size },
    layers: layers.map((layer) => ({ diffID: layer.diffID, size: layer.uncompressedSize, blob: layer.blob })),
    deltas,
  };
  const trustRoot = options.root && (await publishRoot(store, options.root));
  const releaseBytes = signRelease(release, options.signingKey);
  await store.writeDocument(pointerPath(channel), releaseBytes);
  const timestamp = options.timestamp && (await writeTimestamp(store, channel, releaseBytes, options.timestamp.key, created, options.timestamp.expires));
  return {
    ...result,
    deltas: deltas.map(summarizeDelta),
    blobsUploaded: uploaded,
    blobsSkipped: skipped,
    unchanged: false,
    ...(trustRoot && { trustRoot }),
    ...(timestamp && { timestamp: timestamp.location }),
  };
}
