import { PrtiqlError } from '../../../../shared/errors.js';

export const DEFAULT_RELEASE_LIFETIME = '90d';
/** A channel timestamp is refreshed often (a cron job): a day without one and devices stop updating. */
export const DEFAULT_TIMESTAMP_LIFETIME = '1d';
/**
 * A release carries deltas from the channel's newest release unless told otherwise: the
 * devices that updated last time download a delta, and each further base costs a delta computation.
 */
export const DEFAULT_BASE_RELEASES = 1;

const SECONDS_PER_UNIT: Record<string, number> = { s: 1, m: 60, h: 3600, d: 86_400, w: 604_800 };
const DURATION_PATTERN = /^(\d+)([smhdw])$/;
const RFC3339_PATTERN = /^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$/;

export function parseReleaseVersion(text: string): number {
  const version = /^[0-9]+$/.test(text) ? Number(text) : NaN;
  if (!Number.isSafeInteger(version) || version < 1) {
    throw new PrtiqlError('E_USAGE', `release version ${JSON.stringify(text)} is not a positive integer`);
  }
  return version;
}

/** `--expires`: a duration from `now` (90d, 12h, 2w, 30m, 45s) or an RFC 3339 time; must lie in the future. */
export function parseExpiry(text: string, now: Date): Date {
  const duration = DURATION_PATTERN.exec(text);
  let expires: Date;
  if (duration) {
    expires = new Date(now.getTime() + Number(duration[1]) * SECONDS_PER_UNIT[duration[2]] * 1000);
  } else if (RFC3339_PATTERN.test(text) && !Number.isNaN(Date.parse(text))) {
    expires = new Date(text);
  } else {
    throw new PrtiqlError('E_USAGE', `expiry ${JSON.stringify(text)} is neither a duration (90d, 12h, 2w) nor an RFC 3339 time`);
  }
  if (Number.isNaN(expires.getTime()) || expires.getTime() <= now.getTime()) {
    throw new PrtiqlError('E_USAGE', `expiry ${JSON.stringify(text)} is not in the future`);
  }
  return expires;
}
