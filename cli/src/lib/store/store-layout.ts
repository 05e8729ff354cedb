import { digestHex, type Digest } from '../../../../shared/digest.js';
import { PrtiqlError } from '../../../../shared/errors.js';
import { CHANNEL_PATTERN } from '../../../../shared/release.js';

/** Names inside every artifact store (docs/artifact-store.md), relative to its root or prefix, '/'-separated. */
export const BLOB_DIRECTORY = 'blobs/sha256';
export const RELEASE_POINTER_FILE = 'release.json';

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
