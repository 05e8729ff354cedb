import type { Digest } from '../../shared/digest.js';
import { readHealthRecords, verdictOf, type FailureRecord, type HealthRecord } from './health-record.js';
import { DeviceStore, type InstalledRelease } from './device-store.js';

export interface StoreStatus {
  store: string;
  channel: string | null;
  installed: InstalledRelease | null;
  previous: InstalledRelease | null;
  highestSeen: number;
  /** The image `current` points at, with its layer directories bottom to top. */
  current: { manifest: Digest; layers: { diffID: Digest; path: string }[] } | null;
  /** Verdicts of first starts (health.json): `current` is that of the current image. */
  health: { current: 'healthy' | 'failed' | 'unchecked' | null; healthy: HealthRecord[]; failed: FailureRecord[] };
}

/** Reads the store without locking it: every file it reads is replaced atomically. */
export async function storeStatus(root: string): Promise<StoreStatus> {
  const store = await DeviceStore.open(root);
  const state = await store.readState();
  const current = await store.pointedImage('current');
  const records = await readHealthRecords(store);
  return {
    store: root,
    channel: state?.channel ?? null,
    installed: state?.installed ?? null,
    previous: state?.previous ?? null,
    highestSeen: state?.highestSeen ?? 0,
    current: current && { manifest: current.manifestDigest, layers: current.layers },
    health: { current: current && (verdictOf(records, current.manifestDigest) ?? 'unchecked'), ...records },
  };
}
