import { PrtiqlError } from '../../shared/errors.js';
import { createLogger } from '../log.js';
import { DeviceStore, type InstalledRelease } from './device-store.js';
import { markFailedAndRollBack, rollBack, rollbackTarget } from './verdict.js';

const MANUAL_ROLLBACK_REASON = 'rolled back by hand (applier rollback --mark-bad)';

/**
 * Makes `previous` current again: state.json and the pointers swap (applier/device-store/verdict.ts).
 * With `markBad` the release left is first recorded as failed, so `update` does not install it
 * again; without, the next update installs the channel's release again. E_NOT_FOUND when there
 * is nothing to go back to.
 */
export async function rollBackByHand(root: string, markBad: boolean): Promise<{ from: InstalledRelease; to: InstalledRelease }> {
  const store = await DeviceStore.open(root);
  const [current, state] = await Promise.all([store.pointer('current'), store.readState()]);
  const target = current && (await rollbackTarget(store, current));
  if (!current || !target || state?.installed?.manifest !== current) {
    throw new PrtiqlError('E_NOT_FOUND', `${root} has no previous release to roll back to`);
  }
  const log = createLogger();
  const rolledTo = markBad ? await markFailedAndRollBack(store, current, MANUAL_ROLLBACK_REASON, log) : await rollBack(store, current, log);
  if (!rolledTo) throw new PrtiqlError('E_NOT_FOUND', `${root} has no previous release to roll back to`);
  return { from: state.installed, to: rolledTo };
}
