import type { Digest } from '../../shared/digest.js';
import type { InstalledRelease, DeviceStore, StoreState } from './device-store.js';

/**
 * Every change of the device's state: state.json and the `current` and `previous` pointers.
 * Each is one durable replacement; where a transition changes both, its order is chosen so
 * that a crash between the two writes leaves a store the next command finishes correctly.
 */

/** The signed times a verified release moves, as StoreState records them. */
export type VerifiedFloors = Pick<StoreState, 'timeFloor' | 'timestampFloor'>;

/**
 * A release of `version` was verified: records the highest version seen and the newest signed
 * times, when any moved. The pointers do not change.
 */
export async function recordVerified(store: DeviceStore, state: StoreState | null, channel: string, version: number, floors: VerifiedFloors): Promise<void> {
  const highestSeen = Math.max(state?.highestSeen ?? 0, version);
  const unchanged =
    state?.highestSeen === highestSeen && state.timeFloor === floors.timeFloor && JSON.stringify(state.timestampFloor) === JSON.stringify(floors.timestampFloor);
  if (unchanged) return;
  await store.writeState({ ...floors, channel, installed: state?.installed ?? null, previous: state?.previous ?? null, highestSeen });
}

/**
 * `update` installed `installed`: the pointers first (previous := current, current := the new
 * image), then state.json. A crash in between leaves `current` on the new image while
 * state.json still names the old one installed: the next update finds the release newer than
 * the installed one, has its layers and image already, and records it.
 */
export async function commitInstall(store: DeviceStore, state: StoreState | null, channel: string, installed: InstalledRelease, floors: VerifiedFloors): Promise<void> {
  await store.swapCurrent(installed.manifest);
  const replaced = state?.installed && state.installed.manifest !== installed.manifest ? state.installed : (state?.previous ?? null);
  await store.writeState({ channel, installed, previous: replaced, highestSeen: installed.version, ...floors });
}

/**
 * A failed image makes way for `target`: state.json first (installed := target, previous :=
 * the failed release), then the pointers (current := target, previous := failed). A crash in
 * between leaves the failed image current and recorded as failed, and the next `run` finishes
 * the rollback; `update` meanwhile refuses the failed release.
 */
export async function commitRollback(store: DeviceStore, state: StoreState, target: InstalledRelease, failed: Digest, failedVersion: number | null): Promise<void> {
  await store.writeState({
    ...state,
    installed: target,
    previous: failedVersion === null ? null : { version: failedVersion, manifest: failed },
  });
  await store.swapCurrent(target.manifest);
}
