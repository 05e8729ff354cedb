import { isDigest, sha256Digest, type Digest } from './digest.js';
import { openSignedJson } from './dsse.js';
import { PrtiqlError } from './errors.js';
import { MAX_TIMESTAMP_BYTES } from './limits.js';
import { MediaType } from './oci.js';
import { isChannelName } from './store-layout.js';
import type { LoadedTrustRoot } from './trust-root.js';

/**
 * A short-lived statement by an online key: "the newest release of channel C is the
 * release.json with this sha256 and size". Devices whose root names timestamp keys require
 * a fresh one, so a mirror that keeps serving an old (still unexpired) release is noticed
 * once the timestamp expires, within a day instead of the release's months.
 */
export interface Timestamp {
  type: 'prtiql-timestamp';
  channel: string;
  created: string;
  expires: string;
  /** The exact bytes of channels/<channel>/release.json. */
  release: { digest: Digest; size: number };
}

function fail(message: string): never {
  throw new PrtiqlError('E_BAD_INPUT', `timestamp: ${message}`);
}

function checkTime(value: unknown, what: string): void {
  if (typeof value !== 'string' || Number.isNaN(Date.parse(value))) fail(`${what} is not a time`);
}

export function parseTimestamp(value: unknown): Timestamp {
  const t = value as Timestamp;
  if (!t || typeof t !== 'object' || t.type !== 'prtiql-timestamp') fail('not a prtiql timestamp document');
  if (!isChannelName(t.channel)) fail('channel name is invalid');
  checkTime(t.created, 'created');
  checkTime(t.expires, 'expires');
  const release = t.release;
  if (!release || typeof release !== 'object' || !isDigest(release.digest) || !Number.isSafeInteger(release.size) || release.size < 0) {
    fail('release must name a sha256 digest and a size');
  }
  return t;
}

/** The timestamp that binds `releaseBytes` as the newest release of `channel`. */
export function timestampFor(channel: string, releaseBytes: Uint8Array, created: Date, expires: Date): Timestamp {
  return parseTimestamp({
    type: 'prtiql-timestamp',
    channel,
    created: created.toISOString(),
    expires: expires.toISOString(),
    release: { digest: sha256Digest(releaseBytes), size: releaseBytes.byteLength },
  });
}

export function encodeTimestamp(timestamp: Timestamp): Buffer {
  return Buffer.from(JSON.stringify(parseTimestamp(timestamp), null, 2) + '\n', 'utf8');
}

/**
 * Opens a signed timestamp with the root's timestamp keys and checks its channel and expiry
 * against `now` (the device's time floor). The root must name timestamp keys.
 */
export function verifyTimestamp(bytes: Uint8Array, trust: LoadedTrustRoot, checks: { channel: string; now: Date }): Timestamp {
  if (!trust.timestamp) throw new PrtiqlError('E_INTERNAL', 'trust root names no timestamp keys');
  const timestamp = parseTimestamp(openSignedJson(bytes, 'timestamp', MAX_TIMESTAMP_BYTES, MediaType.timestamp, trust.timestamp));
  if (timestamp.channel !== checks.channel) {
    throw new PrtiqlError('E_UNKNOWN_CHANNEL', `timestamp is for channel ${timestamp.channel}, not ${checks.channel}`);
  }
  if (Date.parse(timestamp.expires) <= checks.now.getTime()) {
    throw new PrtiqlError('E_EXPIRED', `timestamp of channel ${timestamp.channel} expired at ${timestamp.expires}`);
  }
  return timestamp;
}

/** The release must be the exact file the timestamp names: anything else is a mix of two publications. */
export function checkReleaseMatchesTimestamp(releaseBytes: Uint8Array, timestamp: Timestamp): void {
  const digest = sha256Digest(releaseBytes);
  if (releaseBytes.byteLength !== timestamp.release.size || digest !== timestamp.release.digest) {
    throw new PrtiqlError(
      'E_MIX_AND_MATCH',
      `release of channel ${timestamp.channel} (${digest}, ${releaseBytes.byteLength} bytes) is not the one its timestamp names (${timestamp.release.digest}, ${timestamp.release.size} bytes)`,
    );
  }
}
