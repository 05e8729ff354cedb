import { digestHex, type Digest } from './digest.js';
import { PrtiqlError } from './errors.js';

/**
 * The names inside every artifact store (docs/artifact-store.md), relative to its root or
 * prefix, '/'-separated: what `prtiql release` writes and devices fetch.
 */

export const BLOB_DIRECTORY = 'blobs/sha256';
/** The top-level names of an artifact store: a directory holding anything else is not one. */
export const ARTIFACT_STORE_ENTRIES: ReadonlySet<string> = new Set(['blobs', 'channels', 'roots', 'deltas']);

const CHANNEL_NAME = '[a-z0-9][a-z0-9._-]{0,63}';
const CHANNEL_PATTERN = new RegExp(`^${CHANNEL_NAME}$`);

/** Whether `name` is a channel name: one path component that can never leave `channels/`. */
export function isChannelName(name: unknown): name is string {
  return typeof name === 'string' && CHANNEL_PATTERN.test(name);
}

/** A channel name given on a command line (`--channel`); anything else is E_USAGE. */
export function checkChannelName(channel: string): string {
  if (!isChannelName(channel)) {
    throw new PrtiqlError(
      'E_USAGE',
      `invalid channel name ${JSON.stringify(channel)}: use 1-64 lowercase letters, digits, '.', '_' or '-', starting with a letter or digit`,
    );
  }
  return channel;
}

export function blobPath(digest: Digest): string {
  return `${BLOB_DIRECTORY}/${digestHex(digest)}`;
}

const BLOB_PATH = /^blobs\/sha256\/([0-9a-f]{64})$/;

/** The digest a blob path names, or undefined for any other path. */
export function parseBlobPath(path: string): Digest | undefined {
  const match = BLOB_PATH.exec(path);
  return match ? `sha256:${match[1]}` : undefined;
}

function channelDocumentPath(channel: string, name: string): string {
  return `channels/${checkChannelName(channel)}/${name}.json`;
}

/** The signed release of a channel: the pointer every device reads first. */
export function pointerPath(channel: string): string {
  return channelDocumentPath(channel, 'release');
}

/** The channel's short-lived signed timestamp, beside its release.json. */
export function timestampPath(channel: string): string {
  return channelDocumentPath(channel, 'timestamp');
}

/** The releases a channel has had, newest last (cli/src/lib/release/channel-history.ts). */
export function historyPath(channel: string): string {
  return channelDocumentPath(channel, 'history');
}

/** Where root version `version` is published (immutable once written). */
export function rootPath(version: number): string {
  return `roots/${version}.json`;
}

/** Deltas computed from one base image to one target image (`prtiql delta`). */
export function deltaRecordPath(base: Digest, target: Digest): string {
  return `deltas/${digestHex(base)}/${digestHex(target)}.json`;
}

/**
 * A document of an artifact store, by what it is: its path follows (documentPath), and a
 * store that keeps documents elsewhere than at paths (a registry) decides by its kind.
 */
export type StoreDocument =
  | { kind: 'release'; channel: string }
  | { kind: 'timestamp'; channel: string }
  | { kind: 'history'; channel: string }
  | { kind: 'root'; version: number }
  | { kind: 'delta-record'; base: Digest; target: Digest };

/** Where `document` lives, relative to the store root. */
export function documentPath(document: StoreDocument): string {
  switch (document.kind) {
    case 'release':
      return pointerPath(document.channel);
    case 'timestamp':
      return timestampPath(document.channel);
    case 'history':
      return historyPath(document.channel);
    case 'root':
      return rootPath(document.version);
    case 'delta-record':
      return deltaRecordPath(document.base, document.target);
  }
}

const CHANNEL_DOCUMENT = new RegExp(`^channels/(${CHANNEL_NAME})/(release|timestamp|history)\\.json$`);
const ROOT_DOCUMENT = /^roots\/([1-9][0-9]*)\.json$/;
const DELTA_RECORD = /^deltas\/([0-9a-f]{64})\/([0-9a-f]{64})\.json$/;

/** The document a store path names, or undefined for blobs and names this layout does not make. */
export function parseDocumentPath(path: string): StoreDocument | undefined {
  const channel = CHANNEL_DOCUMENT.exec(path);
  if (channel) return { kind: channel[2] as 'release' | 'timestamp' | 'history', channel: channel[1] };
  const root = ROOT_DOCUMENT.exec(path);
  if (root && Number.isSafeInteger(Number(root[1]))) return { kind: 'root', version: Number(root[1]) };
  const delta = DELTA_RECORD.exec(path);
  if (delta) return { kind: 'delta-record', base: `sha256:${delta[1]}`, target: `sha256:${delta[2]}` };
  return undefined;
}
