import { readFile } from 'node:fs/promises';
import { isDigest, type Digest } from '../../shared/digest.js';
import { PrtiqlError } from '../../shared/errors.js';
import { replaceFileDurably } from '../../filesystem/durable.js';
import { STORE_LAYOUT, type DeviceStore, type StoreState } from './device-store.js';

/**
 * `health.json` in the store: the verdict of each image's first start (docs/running.md).
 * It lives beside state.json rather than in it because `update` owns state.json and
 * rewrites it whole; `run` writes this file, under the store lock, and `update` only reads it.
 */
export interface HealthRecord {
  /** The release version, where state.json knew it. */
  version: number | null;
  manifest: Digest;
  /** ISO 8601 time of the verdict. */
  at: string;
}

export interface FailureRecord extends HealthRecord {
  reason: string;
}

export interface HealthRecords {
  healthy: HealthRecord[];
  failed: FailureRecord[];
}

export type Verdict = 'healthy' | 'failed';

/** Newest records kept per list; an image is in at most one list (its latest verdict). */
const MAX_RECORDS = 16;

export async function readHealthRecords(store: DeviceStore): Promise<HealthRecords> {
  const path = store.path(STORE_LAYOUT.health);
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return { healthy: [], failed: [] };
    throw error;
  }
  let records: HealthRecords;
  try {
    records = JSON.parse(text) as HealthRecords;
  } catch {
    throw new PrtiqlError('E_BAD_INPUT', `${path} is not valid JSON`);
  }
  const valid = (list: unknown) =>
    Array.isArray(list) && list.every((record: HealthRecord) => isDigest(record?.manifest) && typeof record.at === 'string');
  if (!valid(records?.healthy) || !valid(records.failed)) throw new PrtiqlError('E_BAD_INPUT', `${path} is malformed`);
  return records;
}

export function verdictOf(records: HealthRecords, manifest: Digest): Verdict | undefined {
  if (records.failed.some((record) => record.manifest === manifest)) return 'failed';
  if (records.healthy.some((record) => record.manifest === manifest)) return 'healthy';
  return undefined;
}

/** The release state.json records for an image (installed or previous), if any. */
export function versionOf(state: StoreState | null, manifest: Digest): number | null {
  if (state?.installed?.manifest === manifest) return state.installed.version;
  if (state?.previous?.manifest === manifest) return state.previous.version;
  return null;
}

/** Records that the image passed its health check. The caller holds the store lock. */
export async function recordHealthy(store: DeviceStore, record: HealthRecord): Promise<void> {
  const records = await readHealthRecords(store);
  await writeHealthRecords(store, {
    healthy: [...without(records.healthy, record.manifest), record],
    failed: without(records.failed, record.manifest),
  });
}

/** Records that the image failed its health check. The caller holds the store lock. */
export async function recordFailed(store: DeviceStore, record: FailureRecord): Promise<void> {
  const records = await readHealthRecords(store);
  await writeHealthRecords(store, {
    healthy: without(records.healthy, record.manifest),
    failed: [...without(records.failed, record.manifest), record],
  });
}

/** Forgets the image's verdict: `run` checks its next first start again, `update` installs it again. The caller holds the store lock. */
export async function clearVerdict(store: DeviceStore, manifest: Digest): Promise<void> {
  const records = await readHealthRecords(store);
  await writeHealthRecords(store, { healthy: without(records.healthy, manifest), failed: without(records.failed, manifest) });
}

/**
 * For `update`: a release whose image failed here is not installed again (E_RELEASE_FAILED),
 * so a device does not loop between installing it and rolling back. A fixed release has
 * another image, hence another manifest digest; the message says how to retry this one.
 */
export async function refuseFailedRelease(store: DeviceStore, manifest: Digest): Promise<void> {
  const failure = (await readHealthRecords(store)).failed.find((record) => record.manifest === manifest);
  if (!failure) return;
  const version = failure.version === null ? '' : ` version ${failure.version}`;
  throw new PrtiqlError(
    'E_RELEASE_FAILED',
    `release${version} (${manifest}) failed on this device at ${failure.at} (${failure.reason}); it is not installed again. ` +
      `To retry it: applier health clear ${failure.version ?? manifest} --store ${store.root}; or publish a newer version`,
  );
}

function without<T extends HealthRecord>(list: T[], manifest: Digest): T[] {
  return list.filter((record) => record.manifest !== manifest);
}

async function writeHealthRecords(store: DeviceStore, records: HealthRecords): Promise<void> {
  const bounded = { healthy: records.healthy.slice(-MAX_RECORDS), failed: records.failed.slice(-MAX_RECORDS) };
  await replaceFileDurably(store.path(STORE_LAYOUT.health), Buffer.from(`${JSON.stringify(bounded, null, 2)}\n`));
}
