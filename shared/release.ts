import { isDigest, type Digest } from './digest.js';
import { openSignedJson } from './dsse.js';
import { PrtiqlError } from './errors.js';
import { MAX_DOCUMENT_BYTES } from './limits.js';
import { MediaType, type Platform } from './oci.js';
import { formatPlatform } from './platform.js';
import { isChannelName } from './store-layout.js';
import type { LoadedTrustRoot } from './trust-root.js';


/** A blob in the store, with the per-chunk hashes a device checks before using any byte. */
export interface BlobRef {
  mediaType: string;
  digest: Digest;
  size: number;
  chunkSize: number;
  chunks: string[];
}

export interface ReleaseLayer {
  /** sha256 of the uncompressed layer tar; the layer's name on the device. */
  diffID: Digest;
  /** Uncompressed tar size. */
  size: number;
  /** The whole layer, gzip-compressed: the fallback when no delta applies. */
  blob: BlobRef;
}

export interface ReleaseDelta {
  /** Manifest digest of the image this delta starts from. */
  base: Digest;
  /** diffID of the target layer the delta rebuilds. */
  target: Digest;
  /** diffIDs of the layers whose files the delta reads; all must be on the device. */
  basisLayers: Digest[];
  blob: BlobRef;
}

/** A manifest, index or config blob in the store. */
export interface ReleaseDescriptor {
  mediaType: string;
  digest: Digest;
  size: number;
}

/** What a device installs: one image, with its layers and the deltas that rebuild them. */
export interface ReleaseImage {
  /** The image's platform: set on every image of a multi-platform release, absent otherwise. */
  platform?: Platform;
  manifest: ReleaseDescriptor;
  config: ReleaseDescriptor;
  layers: ReleaseLayer[];
  deltas: ReleaseDelta[];
}

/**
 * A signed release. Its own image fields describe the (first) image; a multi-platform
 * release adds `index` and the other platforms' images in `platforms` (docs/release-format.md).
 */
export interface Release extends ReleaseImage {
  type: 'prtiql-release';
  channel: string;
  version: number;
  created: string;
  expires: string;
  deviceClass?: string;
  /** Multi-platform releases: the image index naming every platform's manifest. */
  index?: ReleaseDescriptor;
  /** Multi-platform releases: the images of every platform but the first. */
  platforms?: ReleaseImage[];
}

function fail(message: string): never {
  throw new PrtiqlError('E_BAD_INPUT', `release: ${message}`);
}

function checkSize(value: unknown, what: string): number {
  if (!Number.isSafeInteger(value) || (value as number) < 0) fail(`${what} is not a valid size`);
  return value as number;
}

function checkDigest(value: unknown, what: string): Digest {
  if (!isDigest(value)) fail(`${what} is not a sha256 digest`);
  return value;
}

function checkBlob(value: unknown, what: string): BlobRef {
  const blob = checkDescriptor(value, what) as BlobRef;
  if (!Number.isSafeInteger(blob.chunkSize) || blob.chunkSize < 1024 || blob.chunkSize > 16 * 1024 * 1024) {
    fail(`${what} chunk size is out of range`);
  }
  if (!Array.isArray(blob.chunks) || blob.chunks.length !== Math.ceil(blob.size / blob.chunkSize)) {
    fail(`${what} chunk list does not cover its size`);
  }
  if (!blob.chunks.every((c) => typeof c === 'string' && /^[0-9a-f]{64}$/.test(c))) fail(`${what} has a malformed chunk hash`);
  return blob;
}

function checkTime(value: unknown, what: string): string {
  if (typeof value !== 'string' || Number.isNaN(Date.parse(value))) fail(`${what} is not a timestamp`);
  return value;
}

function checkDescriptor(value: unknown, what: string): ReleaseDescriptor {
  const d = value as ReleaseDescriptor;
  if (!d || typeof d !== 'object' || typeof d.mediaType !== 'string') fail(`${what} is malformed`);
  checkDigest(d.digest, `${what} digest`);
  checkSize(d.size, `${what} size`);
  return d;
}

const PLATFORM_PART = /^[a-z0-9_]+$/;

function checkPlatform(value: unknown, what: string): Platform {
  const p = value as Platform;
  const valid = (part: unknown) => typeof part === 'string' && PLATFORM_PART.test(part);
  if (!p || typeof p !== 'object' || !valid(p.os) || !valid(p.architecture) || (p.variant !== undefined && !valid(p.variant))) {
    fail(`${what} platform is malformed`);
  }
  return p;
}

/** Checks one image's fields; `what` prefixes messages ("" for the top level). */
function checkImage(image: ReleaseImage, what: string): void {
  for (const key of ['manifest', 'config'] as const) checkDescriptor(image[key], `${what}${key}`);
  if (image.platform !== undefined) checkPlatform(image.platform, what || 'the release');
  if (!Array.isArray(image.layers) || !Array.isArray(image.deltas)) fail(`${what}layers and deltas must be lists`);
  image.layers.forEach((layer, i) => {
    if (!layer || typeof layer !== 'object') fail(`${what}layer ${i} is malformed`);
    checkDigest(layer.diffID, `${what}layer ${i} diffID`);
    checkSize(layer.size, `${what}layer ${i} size`);
    checkBlob(layer.blob, `${what}layer ${i} blob`);
  });
  image.deltas.forEach((delta, i) => {
    if (!delta || typeof delta !== 'object') fail(`${what}delta ${i} is malformed`);
    checkDigest(delta.base, `${what}delta ${i} base`);
    checkDigest(delta.target, `${what}delta ${i} target`);
    if (!Array.isArray(delta.basisLayers)) fail(`${what}delta ${i} basisLayers must be a list`);
    delta.basisLayers.forEach((d, j) => checkDigest(d, `${what}delta ${i} basis layer ${j}`));
    checkBlob(delta.blob, `${what}delta ${i} blob`);
    if (!image.layers.some((layer) => layer.diffID === delta.target)) fail(`${what}delta ${i} targets a layer the image does not list`);
  });
}

/** A multi-platform release names its index and a distinct platform on every image. */
function checkPlatforms(r: Release): void {
  if (r.platforms === undefined) {
    if (r.index !== undefined) fail('index is set but platforms is not');
    return;
  }
  if (!Array.isArray(r.platforms)) fail('platforms must be a list');
  checkDescriptor(r.index, 'index');
  if (r.platform === undefined) fail('a multi-platform release must name the platform of its first image');
  r.platforms.forEach((image, i) => {
    if (!image || typeof image !== 'object') fail(`platforms[${i}] is malformed`);
    if (image.platform === undefined) fail(`platforms[${i}] names no platform`);
    checkImage(image, `platforms[${i}] `);
  });
  const names = releaseImages(r).map((image) => formatPlatform(image.platform!));
  const repeated = names.find((name, i) => names.indexOf(name) !== i);
  if (repeated !== undefined) fail(`platform ${repeated} is listed twice`);
}

export function parseRelease(value: unknown): Release {
  const r = value as Release;
  if (!r || typeof r !== 'object' || r.type !== 'prtiql-release') fail('not a prtiql release document');
  if (!isChannelName(r.channel)) fail('channel name is invalid');
  if (!Number.isSafeInteger(r.version) || r.version < 1) fail('version must be a positive integer');
  checkTime(r.created, 'created');
  checkTime(r.expires, 'expires');
  if (r.deviceClass !== undefined && typeof r.deviceClass !== 'string') fail('deviceClass must be a string');
  checkImage(r, '');
  checkPlatforms(r);
  return r;
}

/** Every image of a release: the top-level one first, then the other platforms'. */
export function releaseImages(release: Release): ReleaseImage[] {
  return [release, ...(release.platforms ?? [])];
}

function samePlatform(a: Platform, b: Platform): boolean {
  return a.os === b.os && a.architecture === b.architecture;
}

/**
 * The image of a release a device with `platform` installs. A release whose images name no
 * platform (a single-platform release) is for every device. Otherwise the image whose
 * os, architecture and variant all match; else the only one whose os and architecture
 * match where one side names no variant. Anything else is E_NOT_FOUND listing the platforms.
 */
export function selectReleaseImage(release: Release, platform: Platform): ReleaseImage {
  const images = releaseImages(release);
  if (images.every((image) => image.platform === undefined)) return release;
  const candidates = images.filter((image) => image.platform !== undefined && samePlatform(image.platform, platform));
  const exact = candidates.find((image) => image.platform!.variant === platform.variant);
  if (exact) return exact;
  const loose = candidates.filter((image) => image.platform!.variant === undefined || platform.variant === undefined);
  if (loose.length === 1) return loose[0];
  const available = images.map((image) => (image.platform ? formatPlatform(image.platform) : 'unspecified')).join(', ');
  throw new PrtiqlError(
    'E_NOT_FOUND',
    `release ${release.version} of channel ${release.channel} has no image for ${formatPlatform(platform)} (platforms: ${available})`,
  );
}

export function encodeRelease(release: Release): Buffer {
  return Buffer.from(JSON.stringify(parseRelease(release), null, 2) + '\n', 'utf8');
}

export interface ReleaseChecks {
  channel: string;
  /** Version installed on the device, if any. */
  installedVersion?: number;
  /** The device's time floor: the later of its clock and the newest signed time it has seen. */
  now: Date;
  /** The device's class; a release naming a class is refused by devices of any other class or of none. */
  deviceClass?: string;
}

export type ReleaseVerdict = { release: Release; upToDate: boolean };

/**
 * Opens a signed release and applies every check that must pass before any blob is fetched:
 * size, signature and threshold, channel, expiry, device class and version.
 */
export function verifyRelease(envelopeBytes: Uint8Array, trust: LoadedTrustRoot, checks: ReleaseChecks): ReleaseVerdict {
  const release = parseRelease(openSignedJson(envelopeBytes, 'release', MAX_DOCUMENT_BYTES, MediaType.release, { keys: trust.keys, threshold: trust.root.threshold }));
  if (release.channel !== checks.channel) {
    throw new PrtiqlError('E_UNKNOWN_CHANNEL', `release is for channel ${release.channel}, not ${checks.channel}`);
  }
  if (Date.parse(release.expires) <= checks.now.getTime()) {
    throw new PrtiqlError('E_EXPIRED', `release ${release.version} of channel ${release.channel} expired at ${release.expires}`);
  }
  if (release.deviceClass !== undefined && release.deviceClass !== checks.deviceClass) {
    throw new PrtiqlError(
      'E_DEVICE_CLASS',
      `release ${release.version} is for device class ${JSON.stringify(release.deviceClass)}, this device is ${checks.deviceClass === undefined ? 'of no declared class' : JSON.stringify(checks.deviceClass)}`,
    );
  }
  if (checks.installedVersion !== undefined && release.version < checks.installedVersion) {
    throw new PrtiqlError(
      'E_ROLLBACK',
      `release version ${release.version} is lower than the installed version ${checks.installedVersion}; refusing to roll back`,
    );
  }
  return { release, upToDate: checks.installedVersion === release.version };
}
