import type { Release } from '../../../../shared/release.js';
import type { ArtifactStore } from '../artifact-store/artifact-store.js';
import { readChannelHistory, type ChannelHistory } from './channel-history.js';
import { parseCurrentRelease } from './current-release.js';

/** What a store holds of one channel: its signed release (parsed, not verified) and its history. */
export interface PublishedChannel {
  channel: string;
  /** The bytes of release.json, and the release they carry; absent when the channel has no release yet. */
  releaseBytes?: Buffer;
  release?: Release;
  history: ChannelHistory;
}

export async function readPublishedChannel(store: ArtifactStore, channel: string): Promise<PublishedChannel> {
  const document = { kind: 'release', channel } as const;
  const releaseBytes = await store.readDocument(document);
  const release = releaseBytes && parseCurrentRelease(releaseBytes, channel, undefined, `the current release of channel ${channel} (${store.documentLocation(document)})`);
  return { channel, ...(releaseBytes && release && { releaseBytes, release }), history: await readChannelHistory(store, channel, release) };
}
