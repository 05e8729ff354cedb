import { PrtiqlError } from '../../shared/errors.js';
import { disableSync } from '../../filesystem/durable.js';
import type { Logger } from '../log.js';

/**
 * TEST ONLY. With both variables set exactly so, the applier skips every fsync and
 * syncfs: the power-cut test's negative control uses it to prove that the test detects a
 * store written without them (docs/RELIABILITY.md). A device must never set them.
 */
export const UNSAFE_NO_FSYNC = 'PRTIQL_UNSAFE_NO_FSYNC';
export const UNSAFE_NO_FSYNC_ACK = 'PRTIQL_UNSAFE_NO_FSYNC_ACK';
export const UNSAFE_NO_FSYNC_ACK_VALUE = 'this-store-may-be-corrupted-by-a-power-cut';

/**
 * Applies the switch. One variable without the other, or any other value, is E_USAGE: a
 * half-set switch is a mistake to report, never to guess at.
 */
export function applyUnsafeNoFsync(env: NodeJS.ProcessEnv, log: Logger): void {
  const switched = env[UNSAFE_NO_FSYNC];
  const acknowledged = env[UNSAFE_NO_FSYNC_ACK];
  if (switched === undefined && acknowledged === undefined) return;
  if (switched !== '1' || acknowledged !== UNSAFE_NO_FSYNC_ACK_VALUE) {
    throw new PrtiqlError(
      'E_USAGE',
      `${UNSAFE_NO_FSYNC} is a test-only switch that needs ${UNSAFE_NO_FSYNC}=1 and ${UNSAFE_NO_FSYNC_ACK}=${UNSAFE_NO_FSYNC_ACK_VALUE}; unset both on a device`,
    );
  }
  disableSync();
  log.warn('durability.disabled', { reason: `${UNSAFE_NO_FSYNC}: no fsync or syncfs; a power cut may corrupt the store` });
}
