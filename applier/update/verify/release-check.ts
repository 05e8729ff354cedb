import { isPrtiqlError, PrtiqlError } from '../../../shared/errors.js';
import { MAX_DOCUMENT_BYTES, MAX_TIMESTAMP_BYTES } from '../../../shared/limits.js';
import { verifyRelease, type ReleaseVerdict } from '../../../shared/release.js';
import { pointerPath, timestampPath } from '../../../shared/store-layout.js';
import { checkReleaseMatchesTimestamp, verifyTimestamp, type Timestamp } from '../../../shared/timestamp.js';
import type { LoadedTrustRoot } from '../../../shared/trust-root.js';
import { fetchSignedDocument } from '../fetch/signed-metadata.js';
import type { Source } from '../fetch/source.js';
import type { StoreState, TimestampFloor } from '../../device-store/device-store.js';

export interface ReleaseCheckRequest {
  source: Source;
  channel: string;
  trust: LoadedTrustRoot;
  /** The store's state before this update, or null for a new store. */
  state: StoreState | null;
  /** The device clock. */
  now: Date;
  deviceClass?: string;
}

export interface CheckedRelease extends ReleaseVerdict {
  /** The newest time signed by the release keys verified so far, this release included (RFC 3339). */
  timeFloor: string;
  /** The newest timestamp time verified so far under the root's current timestamp keys. */
  timestampFloor?: TimestampFloor;
}

function later(a: string | undefined, b: string): string {
  return a !== undefined && Date.parse(a) >= Date.parse(b) ? a : b;
}

function laterDate(a: Date, b: string | undefined): Date {
  const time = b === undefined ? NaN : Date.parse(b);
  return Number.isNaN(time) || time <= a.getTime() ? a : new Date(time);
}

/**
 * The time release expiry is checked against: the device clock, but never earlier than the
 * newest time signed by the release keys that the device has verified, so a clock that is
 * wrong (reset to 1970 after a power loss, or moved by an attacker) cannot make an expired
 * release look valid again.
 */
export function timeFloorOf(now: Date, state: StoreState | null): Date {
  return laterDate(now, state?.timeFloor);
}

function sameKeys(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((key, index) => key === b[index]);
}

function timestampKeyIds(trust: LoadedTrustRoot): string[] {
  return [...(trust.timestamp?.keys.keys() ?? [])].sort();
}

/**
 * The timestamp floor recorded under the root's current timestamp keys. A rotation of those
 * keys discards it (TUF's recovery from fast-forward attacks): what a stolen timestamp key
 * signed stops counting once the publisher replaces the key.
 */
function currentTimestampFloor(state: StoreState | null, trust: LoadedTrustRoot): TimestampFloor | undefined {
  const floor = state?.timestampFloor;
  return floor && sameKeys(floor.keys, timestampKeyIds(trust)) ? floor : undefined;
}

/**
 * A signed time moves a floor at most to the expiry of the release it vouches for: a
 * statement "at time T this is the newest release" is void once that release has expired,
 * so no single signed time can push a floor past the life of a release the key holders
 * actually published.
 */
function boundedByRelease(signedTime: string, release: { expires: string }): string {
  const time = Math.min(Date.parse(signedTime), Date.parse(release.expires));
  return new Date(time).toISOString();
}

async function fetchRelease(source: Source, channel: string): Promise<Buffer> {
  try {
    return await fetchSignedDocument(source, pointerPath(channel), MAX_DOCUMENT_BYTES, `release of channel ${channel}`);
  } catch (error) {
    if (isPrtiqlError(error, 'E_NOT_FOUND')) {
      throw new PrtiqlError('E_UNKNOWN_CHANNEL', `channel ${channel} has no release at ${source.url}`);
    }
    throw error;
  }
}

async function fetchTimestamp(source: Source, request: ReleaseCheckRequest, now: Date): Promise<Timestamp> {
  let bytes: Buffer;
  try {
    bytes = await fetchSignedDocument(source, timestampPath(request.channel), MAX_TIMESTAMP_BYTES, `timestamp of channel ${request.channel}`);
  } catch (error) {
    if (isPrtiqlError(error, 'E_NOT_FOUND')) {
      throw new PrtiqlError('E_NOT_FOUND', `channel ${request.channel} has no timestamp at ${source.url}, and the trust root requires one`);
    }
    throw error;
  }
  return verifyTimestamp(bytes, request.trust, { channel: request.channel, now });
}

/**
 * DESIGN §6 step 2, before any blob is fetched: the timestamp when the root names timestamp
 * keys (valid, unexpired, naming exactly the release file served), then the release
 * (signature, threshold, channel, expiry, device class, version against the installed one
 * and against the highest this device has seen). Expiry is judged at the time floor.
 */
export async function fetchVerifiedRelease(request: ReleaseCheckRequest): Promise<CheckedRelease> {
  const { source, channel, trust, state } = request;
  const releaseFloor = timeFloorOf(request.now, state);
  const timestampFloor = currentTimestampFloor(state, trust);
  const timestamp = trust.timestamp ? await fetchTimestamp(source, request, laterDate(releaseFloor, timestampFloor?.time)) : undefined;
  const bytes = await fetchRelease(source, channel);
  if (timestamp) checkReleaseMatchesTimestamp(bytes, timestamp);
  const verdict = verifyRelease(bytes, trust, { channel, installedVersion: state?.installed?.version, now: releaseFloor, deviceClass: request.deviceClass });
  const highestSeen = state?.highestSeen ?? 0;
  if (verdict.release.version < highestSeen) {
    throw new PrtiqlError('E_ROLLBACK', `release version ${verdict.release.version} is lower than version ${highestSeen} this device has already seen`);
  }
  const release = verdict.release;
  return {
    ...verdict,
    timeFloor: later(state?.timeFloor, boundedByRelease(release.created, release)),
    ...(timestamp && {
      timestampFloor: { time: later(timestampFloor?.time, boundedByRelease(timestamp.created, release)), keys: timestampKeyIds(trust) },
    }),
  };
}

/** The floors a state records after `checked` was verified. */
export function verifiedFloors(checked: CheckedRelease): Pick<StoreState, 'timeFloor' | 'timestampFloor'> {
  return { timeFloor: checked.timeFloor, ...(checked.timestampFloor && { timestampFloor: checked.timestampFloor }) };
}
