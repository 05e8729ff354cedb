import { stat } from 'node:fs/promises';
import type { Digest } from '../../shared/digest.js';
import { PrtiqlError } from '../../shared/errors.js';
import { clearVerdict, readHealthRecords, recordFailed, recordHealthy, verdictOf, versionOf, type HealthRecord, type HealthRecords } from './health-record.js';
import { withStoreLock } from './lock.js';
import type { Logger } from '../log.js';
import { commitRollback } from './state-transitions.js';
import { STORE_LAYOUT, type InstalledRelease, type DeviceStore, type StoreState } from './device-store.js';

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

/** A release as an operator names it: its version, or its image's manifest digest. */
export type ReleaseName = { version: number } | { manifest: Digest };

/** `applier health mark-good`, `mark-bad` and `clear`. */
export type VerdictByHand = 'good' | 'bad' | 'clear';

export const MARKED_BAD_REASON = 'marked bad by hand (applier health mark-bad)';

/**
 * Records a verdict an operator gives, or forgets the release's verdict. A release marked
 * good is not health-checked and `update` installs it; one marked bad `update` refuses, and
 * `run` rolls back from it at its next start; a cleared one is checked at its next first
 * start and installable again. Returns the release the name resolved to.
 */
export function setVerdictByHand(store: DeviceStore, name: ReleaseName, verdict: VerdictByHand): Promise<Omit<HealthRecord, 'at'>> {
  return locked(store, async () => {
    const release = resolveRelease(await store.readState(), await readHealthRecords(store), name);
    const at = new Date().toISOString();
    if (verdict === 'good') await recordHealthy(store, { ...release, at });
    else if (verdict === 'bad') await recordFailed(store, { ...release, at, reason: MARKED_BAD_REASON });
    else await clearVerdict(store, release.manifest);
    return release;
  });
}

/** The version and manifest of a named release, from state.json, else from its verdicts. */
function resolveRelease(state: StoreState | null, records: HealthRecords, name: ReleaseName): Omit<HealthRecord, 'at'> {
  const recorded = [...records.failed, ...records.healthy];
  if ('manifest' in name) {
    const version = versionOf(state, name.manifest) ?? recorded.find((record) => record.manifest === name.manifest)?.version ?? null;
    return { version, manifest: name.manifest };
  }
  const known = [state?.installed, state?.previous, ...recorded].find((release) => release?.version === name.version);
  if (!known) throw new PrtiqlError('E_NOT_FOUND', `release version ${name.version} is neither installed, previous, nor in health.json; name its image by manifest digest instead`);
  return { version: name.version, manifest: known.manifest };
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

/**
 * Rolls back from the current image without recording a verdict: finishes a rollback a crash
 * interrupted (the image is already recorded as failed), or rolls back by hand.
 */
export function rollBack(store: DeviceStore, from: Digest, log: Logger): Promise<InstalledRelease | undefined> {
  return locked(store, () => rollBackLocked(store, from, log));
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
