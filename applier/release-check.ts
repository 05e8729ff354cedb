import { isPrtiqlError, PrtiqlError } from '../shared/errors.js';
import { MAX_RELEASE_BYTES, verifyRelease, type ReleaseVerdict } from '../shared/release.js';
import { checkReleaseMatchesTimestamp, MAX_TIMESTAMP_BYTES, timestampDocumentName, verifyTimestamp, type Timestamp } from '../shared/timestamp.js';
import type { LoadedTrustRoot } from '../shared/trust-root.js';
import { fetchSignedDocument } from './signed-metadata.js';
import type { Source } from './source.js';
import type { Store, StoreState } from './store.js';

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
  /** The newest signed time verified so far, this update's documents included (RFC 3339). */
  timeFloor: string;
}

function later(a: string | undefined, b: string): string {
  return a !== undefined && Date.parse(a) >= Date.parse(b) ? a : b;
}

/**
 * The time expiry is checked against: the device clock, but never earlier than the newest
 * signed time the device has verified, so a clock that is wrong (reset to 1970 after a power
 * loss, or moved by an attacker) cannot make an expired release look valid again.
 */
export function timeFloorOf(now: Date, state: StoreState | null): Date {
  const floor = state?.timeFloor === undefined ? NaN : Date.parse(state.timeFloor);
  return Number.isNaN(floor) || floor <= now.getTime() ? now : new Date(floor);
}

async function fetchRelease(source: Source, channel: string): Promise<Buffer> {
  const path = `channels/${channel}/release.json`;
  try {
    return await fetchSignedDocument(source, path, MAX_RELEASE_BYTES, `release of channel ${channel}`);
  } catch (error) {
    if (isPrtiqlError(error, 'E_NOT_FOUND')) {
      throw new PrtiqlError('E_UNKNOWN_CHANNEL', `channel ${channel} has no release at ${source.url}`);
    }
    throw error;
  }
}

async function fetchTimestamp(source: Source, request: ReleaseCheckRequest, now: Date): Promise<Timestamp> {
  const path = timestampDocumentName(request.channel);
  let bytes: Buffer;
  try {
    bytes = await fetchSignedDocument(source, path, MAX_TIMESTAMP_BYTES, `timestamp of channel ${request.channel}`);
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
  const now = timeFloorOf(request.now, state);
  const timestamp = trust.timestamp ? await fetchTimestamp(source, request, now) : undefined;
  const bytes = await fetchRelease(source, channel);
  if (timestamp) checkReleaseMatchesTimestamp(bytes, timestamp);
  const verdict = verifyRelease(bytes, trust, { channel, installedVersion: state?.installed?.version, now, deviceClass: request.deviceClass });
  const highestSeen = state?.highestSeen ?? 0;
  if (verdict.release.version < highestSeen) {
    throw new PrtiqlError('E_ROLLBACK', `release version ${verdict.release.version} is lower than version ${highestSeen} this device has already seen`);
  }
  const signedTime = timestamp ? later(timestamp.created, verdict.release.created) : verdict.release.created;
  return { ...verdict, timeFloor: later(state?.timeFloor, new Date(signedTime).toISOString()) };
}

/** Records the highest version and the newest signed time verified, when either moved. */
export async function recordVerified(store: Store, channel: string, state: StoreState | null, checked: CheckedRelease): Promise<void> {
  const highestSeen = Math.max(state?.highestSeen ?? 0, checked.release.version);
  if (state && state.highestSeen === highestSeen && state.timeFloor === checked.timeFloor) return;
  await store.writeState({ channel, installed: state?.installed ?? null, previous: state?.previous ?? null, highestSeen, timeFloor: checked.timeFloor });
}
