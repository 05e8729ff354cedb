import { digestHex, type Digest } from '../../../../shared/digest.js';
import { PrtiqlError } from '../../../../shared/errors.js';
import { CHANNEL_PATTERN, MAX_RELEASE_BYTES } from '../../../../shared/release.js';

/** Names inside every artifact store (docs/artifact-store.md), relative to its root or prefix, '/'-separated. */
export const BLOB_DIRECTORY = 'blobs/sha256';
export const RELEASE_POINTER_FILE = 'release.json';
/** The top-level names of an artifact store: a directory holding anything else is not one. */
export const ARTIFACT_STORE_ENTRIES: ReadonlySet<string> = new Set(['blobs', 'channels', 'roots', 'deltas']);

export function checkChannel(channel: string): string {
  if (!CHANNEL_PATTERN.test(channel)) {
    throw new PrtiqlError('E_BAD_INPUT', `invalid channel name ${JSON.stringify(channel)}`);
  }
  return channel;
}

export function blobPath(digest: Digest): string {
  return `${BLOB_DIRECTORY}/${digestHex(digest)}`;
}

export function channelDirectory(channel: string): string {
  return `channels/${checkChannel(channel)}`;
}

export function pointerPath(channel: string): string {
  return `${channelDirectory(channel)}/${RELEASE_POINTER_FILE}`;
}

/** The releases a channel has had, newest last (release/channel-history.ts). */
export function historyPath(channel: string): string {
  return `${channelDirectory(channel)}/history.json`;
}

/** Largest mutable document (a signed release, a delta record) a store hands back. */
export const MAX_DOCUMENT_BYTES = MAX_RELEASE_BYTES;

const DOCUMENT_NAME = /^[a-z0-9][a-z0-9._-]*(\/[a-z0-9][a-z0-9._-]*)*$/;

/** Document names are made here, never taken from users: anything else is a bug. */
export function checkDocumentName(name: string): string {
  if (!DOCUMENT_NAME.test(name) || name.split('/').includes('..')) {
    throw new PrtiqlError('E_INTERNAL', `invalid store document name ${JSON.stringify(name)}`);
  }
  return name;
}

/** Deltas computed from one base image to one target image (`prtiql delta`). */
export function deltaRecordPath(base: Digest, target: Digest): string {
  return `deltas/${digestHex(base)}/${digestHex(target)}.json`;
}

const DELTA_RECORD_PATH = /^deltas\/([0-9a-f]{64})\/([0-9a-f]{64})\.json$/;

/** The (base, target) pair a delta record's document name stands for, or undefined for other names. */
export function parseDeltaRecordPath(name: string): { base: Digest; target: Digest } | undefined {
  const match = DELTA_RECORD_PATH.exec(name);
  return match ? { base: `sha256:${match[1]}`, target: `sha256:${match[2]}` } : undefined;
}
