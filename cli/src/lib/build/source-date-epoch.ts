import { PrtiqlError } from '../../../../shared/errors.js';

/** Seconds since the epoch for every timestamp of a build (reproducible-builds.org spec); 0 when unset. */
export function sourceDateEpoch(env: NodeJS.ProcessEnv = process.env): number {
  const value = env.SOURCE_DATE_EPOCH;
  if (value === undefined || value === '') return 0;
  if (!/^[0-9]+$/.test(value) || !Number.isSafeInteger(Number(value))) {
    throw new PrtiqlError('E_BAD_INPUT', `SOURCE_DATE_EPOCH must be a non-negative integer of seconds, got ${JSON.stringify(value)}`);
  }
  return Number(value);
}

/** RFC 3339 without fractional seconds, as Go-based tools print image timestamps. */
export function rfc3339(seconds: number): string {
  return new Date(seconds * 1000).toISOString().replace(/\.\d{3}Z$/, 'Z');
}
