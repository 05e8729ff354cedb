import type { KeyObject } from 'node:crypto';
import { keyIdOf } from '../../../../shared/dsse.js';
import { PrtiqlError } from '../../../../shared/errors.js';
import { MediaType } from '../../../../shared/oci.js';
import { encodeTimestamp, timestampFor, type Timestamp } from '../../../../shared/timestamp.js';
import { loadTrustRoot, verifyRootSuccessor } from '../../../../shared/trust-root.js';
import type { ArtifactStore } from '../artifact-store/artifact-store.js';
import { parseCurrentRelease } from './current-release.js';
import { asSigner, publicKeyOf, signEnvelopeWith, type Signer } from '../signer/signer.js';

export interface PublishedRoot {
  version: number;
  /** Where the root was written (or already was). */
  location: string;
  /** True when the store already held exactly these bytes. */
  unchanged: boolean;
}

/**
 * Publishes root.json as roots/<version>.json, where devices discover rotations. Roots are
 * immutable: the same bytes again change nothing, other bytes for a published version are
 * E_VERSION_EXISTS. When the store holds the previous version, the new root must be its signed
 * successor (the devices' own check), so a rotation devices would refuse is never published.
 */
export async function publishRoot(store: ArtifactStore, rootBytes: Uint8Array): Promise<PublishedRoot> {
  const { root } = loadTrustRoot(rootBytes);
  const document = { kind: 'root', version: root.version } as const;
  const location = store.documentLocation(document);
  const existing = await store.readDocument(document);
  if (existing) {
    if (existing.equals(rootBytes)) return { version: root.version, location, unchanged: true };
    throw new PrtiqlError('E_VERSION_EXISTS', `${location} already holds another trust root version ${root.version}; published roots are never replaced`);
  }
  const previous = root.version > 1 ? await store.readDocument({ kind: 'root', version: root.version - 1 }) : undefined;
  if (previous) verifyRootSuccessor(loadTrustRoot(previous), rootBytes);
  await store.writeDocument(document, rootBytes);
  return { version: root.version, location, unchanged: false };
}

/** The bytes of a timestamp.json: `timestamp` signed by the online timestamp key (or its external signer). */
export async function signTimestamp(timestamp: Timestamp, key: KeyObject | Signer): Promise<Buffer> {
  const envelope = await signEnvelopeWith(MediaType.timestamp, encodeTimestamp(timestamp), [asSigner(key)]);
  return Buffer.from(`${JSON.stringify(envelope, null, 2)}\n`, 'utf8');
}

export interface SignedTimestamp {
  timestamp: Timestamp;
  bytes: Buffer;
}

/** A timestamp naming `releaseBytes`, the channel's release.json, signed (not yet written). */
export async function signTimestampFor(channel: string, releaseBytes: Uint8Array, key: KeyObject | Signer, created: Date, expires: Date): Promise<SignedTimestamp> {
  const timestamp = timestampFor(channel, releaseBytes, created, expires);
  return { timestamp, bytes: await signTimestamp(timestamp, key) };
}

export interface WrittenTimestamp {
  timestamp: Timestamp;
  /** Where timestamp.json was written. */
  location: string;
}

/** Writes channels/<channel>/timestamp.json. */
export async function writeTimestamp(store: ArtifactStore, channel: string, signed: SignedTimestamp): Promise<WrittenTimestamp> {
  const document = { kind: 'timestamp', channel } as const;
  await store.writeDocument(document, signed.bytes);
  return { timestamp: signed.timestamp, location: store.documentLocation(document) };
}

/**
 * Renews a channel's timestamp for the release.json the channel holds now (what a cron job
 * runs). The release must parse as a release of that channel; its signature is the devices'
 * business, since the timestamp key holds no release key.
 */
export async function refreshTimestamp(store: ArtifactStore, channel: string, key: KeyObject | Signer, created: Date, expires: Date): Promise<WrittenTimestamp & { version: number }> {
  const document = { kind: 'release', channel } as const;
  const releaseBytes = await store.readDocument(document);
  if (!releaseBytes) throw new PrtiqlError('E_UNKNOWN_CHANNEL', `channel ${channel} has no release at ${store.documentLocation(document)}`);
  const release = parseCurrentRelease(releaseBytes, channel, undefined, `the current release of channel ${channel} (${store.documentLocation(document)})`);
  return { ...(await writeTimestamp(store, channel, await signTimestampFor(channel, releaseBytes, key, created, expires))), version: release.version };
}

/**
 * Before anything is written: the release key must be one of the root's release keys, and
 * the timestamp key one of its timestamp keys; a root that names timestamp keys needs a
 * timestamp key, or devices would refuse the release until the next timestamp refresh.
 */
export function checkKeysAgainstRoot(rootBytes: Uint8Array, signingKey: KeyObject, timestampKey: KeyObject | undefined): void {
  const trust = loadTrustRoot(rootBytes);
  const what = `trust root version ${trust.root.version}`;
  if (!trust.keys.has(keyIdOf(publicKeyOf(signingKey)))) {
    throw new PrtiqlError('E_UNTRUSTED_KEY', `the signing key is not one of the release keys of ${what}`);
  }
  if (trust.timestamp && !timestampKey) throw new PrtiqlError('E_USAGE', `${what} names timestamp keys: pass --timestamp-key`);
  if (timestampKey && !trust.timestamp?.keys.has(keyIdOf(publicKeyOf(timestampKey)))) {
    throw new PrtiqlError('E_UNTRUSTED_KEY', `the timestamp key is not one of the timestamp keys of ${what}`);
  }
}
