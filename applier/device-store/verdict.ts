import { stat } from 'node:fs/promises';
import type { Digest } from '../../shared/digest.js';
import { readHealthRecords, recordFailed, recordHealthy, verdictOf, versionOf } from './health-record.js';
import { withStoreLock } from './lock.js';
import type { Logger } from '../log.js';
import { commitRollback } from './state-transitions.js';
import { STORE_LAYOUT, type InstalledRelease, type DeviceStore } from './device-store.js';

/** How long `run` waits for an update to release the store lock before giving up (E_BUSY). */
const LOCK_WAIT_MS = 60_000;

function locked<T>(store: DeviceStore, task: () => Promise<T>): Promise<T> {
  return withStoreLock(store.path(STORE_LAYOUT.lock), LOCK_WAIT_MS, task);
}

/** Records that the image passed the health check of its first start. */
export function markHealthy(store: DeviceStore, manifest: Digest): Promise<void> {
  return locked(store, async () =>
    recordHealthy(store, { version: versionOf(await store.readState(), manifest), manifest, at: new Date().toISOString() }),
  );
}

/**
 * Records that the current image failed its health check, then rolls back to `previous` if
 * there is one to go back to. Returns the release that is current now, or undefined when
 * the failed image stays current.
 */
export function markFailedAndRollBack(store: DeviceStore, manifest: Digest, reason: string, log: Logger): Promise<InstalledRelease | undefined> {
  return locked(store, async () => {
    const version = versionOf(await store.readState(), manifest);
    await recordFailed(store, { version, manifest, at: new Date().toISOString(), reason });
    log.error('health.failed', { manifest, version, reason });
    return rollBackLocked(store, manifest, log);
  });
}

/** Finishes a rollback a crash interrupted: the current image is already recorded as failed. */
export function rollBack(store: DeviceStore, failed: Digest, log: Logger): Promise<InstalledRelease | undefined> {
  return locked(store, () => rollBackLocked(store, failed, log));
}

/**
 * `previous` can replace a failed `current` if state.json knows its release, it has not
 * failed here itself (no ping-pong between two bad versions), and it is complete.
 */
export async function rollbackTarget(store: DeviceStore, failed: Digest): Promise<InstalledRelease | undefined> {
  const [current, previous, state, records] = await Promise.all([
    store.pointer('current'),
    store.pointer('previous'),
    store.readState(),
    readHealthRecords(store),
  ]);
  if (current !== failed || !previous || previous === failed) return undefined;
  const version = versionOf(state, previous);
  if (version === null || verdictOf(records, previous) === 'failed') return undefined;
  return (await isRunnable(store, previous)) ? { version, manifest: previous } : undefined;
}

/** Rolls back to the target rollbackTarget names, in the order commitRollback gives. */
async function rollBackLocked(store: DeviceStore, failed: Digest, log: Logger): Promise<InstalledRelease | undefined> {
  const target = await rollbackTarget(store, failed);
  const state = await store.readState();
  if (!target || !state) return undefined;
  const failedVersion = versionOf(state, failed);
  await commitRollback(store, state, target, failed, failedVersion);
  log.warn('release.rolled-back', { from: failed, fromVersion: failedVersion, to: target.manifest, toVersion: target.version });
  return target;
}

async function isRunnable(store: DeviceStore, manifest: Digest): Promise<boolean> {
  if (!(await store.hasImage(manifest))) return false;
  for (const layer of (await store.readImage(manifest)).layers) {
    if (!(await stat(layer.path).then((info) => info.isDirectory(), () => false))) return false;
  }
  return true;
}
