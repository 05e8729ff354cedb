import type { Digest } from '../../../../shared/digest.js';
import { isDigest } from '../../../../shared/digest.js';
import { PrtiqlError } from '../../../../shared/errors.js';
import type { ReleaseDelta, ReleaseDescriptor } from '../../../../shared/release.js';
import type { ArtifactStore } from '../artifact-store/artifact-store.js';

/**
 * What `prtiql delta` leaves in a store for one (base image, target image) pair, so that
 * `prtiql release` (possibly another CI job) can publish those deltas without recomputing.
 */
export interface DeltaRecord {
  type: 'prtiql-delta-record';
  base: Digest;
  target: Digest;
  /** The target's manifest as released: what the deltas' artifact refers to in a registry store. */
  targetManifest: ReleaseDescriptor;
  deltas: ReleaseDelta[];
}

/** The delta record of a pair as stored, checked to be that pair's record; undefined when there is none. */
export async function readStoredDeltaRecord(store: ArtifactStore, base: Digest, target: Digest): Promise<DeltaRecord | undefined> {
  const document = { kind: 'delta-record', base, target } as const;
  const bytes = await store.readDocument(document);
  if (!bytes) return undefined;
  let record: DeltaRecord;
  try {
    record = JSON.parse(bytes.toString('utf8')) as DeltaRecord;
  } catch {
    throw new PrtiqlError('E_BAD_INPUT', `${store.documentLocation(document)} is not valid JSON`);
  }
  const valid = record?.type === 'prtiql-delta-record' && record.base === base && record.target === target && Array.isArray(record.deltas);
  if (!valid) throw new PrtiqlError('E_BAD_INPUT', `${store.documentLocation(document)} is not a delta record for this pair`);
  return record;
}

/** The recorded deltas of a pair, if a record exists and every blob it names is in the store. */
export async function readDeltaRecord(store: ArtifactStore, base: Digest, target: Digest): Promise<ReleaseDelta[] | undefined> {
  const record = await readStoredDeltaRecord(store, base, target);
  if (!record) return undefined;
  for (const delta of record.deltas) {
    if (!isDigest(delta?.blob?.digest) || !(await store.hasBlob(delta.blob.digest))) return undefined;
  }
  return record.deltas;
}

export async function writeDeltaRecord(store: ArtifactStore, base: Digest, targetManifest: ReleaseDescriptor, deltas: ReleaseDelta[]): Promise<void> {
  const record: DeltaRecord = { type: 'prtiql-delta-record', base, target: targetManifest.digest, targetManifest, deltas };
  await store.writeDocument({ kind: 'delta-record', base, target: targetManifest.digest }, Buffer.from(JSON.stringify(record, null, 2) + '\n'));
}
