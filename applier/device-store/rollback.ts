import { PrtiqlError } from '../../shared/errors.js';
import { createLogger } from '../log.js';
import { DeviceStore, type InstalledRelease } from './device-store.js';
import { markFailedAndRollBack, rollbackTarget } from './verdict.js';

export const MANUAL_ROLLBACK_REASON = 'rolled back by hand (applier rollback)';

/**
 * Makes `previous` current again, as a failed health check does (applier/device-store/verdict.ts): the
 * current release is recorded as failed, so `update` does not install it again, and state.json
 * and the pointers swap. E_NOT_FOUND when there is nothing to go back to.
 */
export async function rollBackByHand(root: string): Promise<{ from: InstalledRelease; to: InstalledRelease }> {
  const store = await DeviceStore.open(root);
  const [current, state] = await Promise.all([store.pointer('current'), store.readState()]);
  const target = current && (await rollbackTarget(store, current));
  if (!current || !target || state?.installed?.manifest !== current) {
    throw new PrtiqlError('E_NOT_FOUND', `${root} has no previous release to roll back to`);
  }
  const rolledTo = await markFailedAndRollBack(store, current, MANUAL_ROLLBACK_REASON, createLogger());
  if (!rolledTo) throw new PrtiqlError('E_NOT_FOUND', `${root} has no previous release to roll back to`);
  return { from: state.installed, to: rolledTo };
}
