import { isDigest, type Digest } from './digest.js';
import { openEnvelope, parseEnvelope } from './dsse.js';
import { PrtiqlError } from './errors.js';
import { MediaType } from './oci.js';
import type { LoadedTrustRoot } from './trust-root.js';

/** Largest signed release document a device will download. */
export const MAX_RELEASE_BYTES = 4 * 1024 * 1024;
export const CHANNEL_PATTERN = /^[a-z0-9][a-z0-9._-]{0,63}$/;

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

export interface Release {
  type: 'prtiql-release';
  channel: string;
  version: number;
  created: string;
  expires: string;
  deviceClass?: string;
  manifest: { mediaType: string; digest: Digest; size: number };
  config: { mediaType: string; digest: Digest; size: number };
  layers: ReleaseLayer[];
  deltas: ReleaseDelta[];
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
  const blob = value as BlobRef;
  if (!blob || typeof blob !== 'object' || typeof blob.mediaType !== 'string') fail(`${what} is malformed`);
  checkDigest(blob.digest, `${what} digest`);
  checkSize(blob.size, `${what} size`);
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

export function parseRelease(value: unknown): Release {
  const r = value as Release;
  if (!r || typeof r !== 'object' || r.type !== 'prtiql-release') fail('not a prtiql release document');
  if (typeof r.channel !== 'string' || !CHANNEL_PATTERN.test(r.channel)) fail('channel name is invalid');
  if (!Number.isSafeInteger(r.version) || r.version < 1) fail('version must be a positive integer');
  checkTime(r.created, 'created');
  checkTime(r.expires, 'expires');
  if (r.deviceClass !== undefined && typeof r.deviceClass !== 'string') fail('deviceClass must be a string');
  for (const key of ['manifest', 'config'] as const) {
    const d = r[key];
    if (!d || typeof d.mediaType !== 'string') fail(`${key} is malformed`);
    checkDigest(d.digest, `${key} digest`);
    checkSize(d.size, `${key} size`);
  }
  if (!Array.isArray(r.layers) || !Array.isArray(r.deltas)) fail('layers and deltas must be lists');
  r.layers.forEach((layer, i) => {
    checkDigest(layer.diffID, `layer ${i} diffID`);
    checkSize(layer.size, `layer ${i} size`);
    checkBlob(layer.blob, `layer ${i} blob`);
  });
  r.deltas.forEach((delta, i) => {
    checkDigest(delta.base, `delta ${i} base`);
    checkDigest(delta.target, `delta ${i} target`);
    if (!Array.isArray(delta.basisLayers)) fail(`delta ${i} basisLayers must be a list`);
    delta.basisLayers.forEach((d, j) => checkDigest(d, `delta ${i} basis layer ${j}`));
    checkBlob(delta.blob, `delta ${i} blob`);
    if (!r.layers.some((layer) => layer.diffID === delta.target)) fail(`delta ${i} targets a layer the release does not list`);
  });
  return r;
}

export function encodeRelease(release: Release): Buffer {
  return Buffer.from(JSON.stringify(parseRelease(release), null, 2) + '\n', 'utf8');
}

export interface ReleaseChecks {
  channel: string;
  /** Version installed on the device, if any. */
  installedVersion?: number;
  now: Date;
  deviceClass?: string;
}

export type ReleaseVerdict = { release: Release; upToDate: boolean };

/**
 * Opens a signed release and applies every check that must pass before any blob is fetched:
 * signature and threshold, channel, expiry, device class and version.
 */
export function verifyRelease(envelopeBytes: Uint8Array, trust: LoadedTrustRoot, checks: ReleaseChecks): ReleaseVerdict {
  let json: unknown;
  try {
    json = JSON.parse(Buffer.from(envelopeBytes).toString('utf8'));
  } catch {
    throw new PrtiqlError('E_BAD_INPUT', 'release is not valid JSON');
  }
  const envelope = parseEnvelope(json, 'release');
  const payload = openEnvelope(envelope, MediaType.release, trust.keys, trust.root.threshold, 'release');
  let parsed: unknown;
  try {
    parsed = JSON.parse(payload.toString('utf8'));
  } catch {
    throw new PrtiqlError('E_BAD_INPUT', 'release payload is not valid JSON');
  }
  const release = parseRelease(parsed);
  if (release.channel !== checks.channel) {
    throw new PrtiqlError('E_UNKNOWN_CHANNEL', `release is for channel ${release.channel}, not ${checks.channel}`);
  }
  if (Date.parse(release.expires) <= checks.now.getTime()) {
    throw new PrtiqlError('E_EXPIRED', `release ${release.version} of channel ${release.channel} expired at ${release.expires}`);
  }
  if (release.deviceClass !== undefined && checks.deviceClass !== undefined && release.deviceClass !== checks.deviceClass) {
    throw new PrtiqlError('E_BAD_INPUT', `release is for device class ${release.deviceClass}, this device is ${checks.deviceClass}`);
  }
  if (checks.installedVersion !== undefined && release.version < checks.installedVersion) {
    throw new PrtiqlError(
      'E_ROLLBACK',
      `release version ${release.version} is lower than the installed version ${checks.installedVersion}; refusing to roll back`,
    );
  }
  return { release, upToDate: checks.installedVersion === release.version };
}
