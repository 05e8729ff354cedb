import { PrtiqlError } from '../../../../shared/errors.js';
import type { Platform } from '../../../../shared/oci.js';
import { releaseImages, type Release, type ReleaseDescriptor } from '../../../../shared/release.js';
import type { ArtifactStore } from '../artifact-store/artifact-store.js';

/** One release a channel had: its version and the image of each platform. */
export interface HistoryEntry {
  version: number;
  created: string;
  images: { platform?: Platform; manifest: ReleaseDescriptor }[];
  /** Multi-platform releases: the image index naming the images. */
  index?: ReleaseDescriptor;
}

/**
 * `channels/<channel>/history.json`: the channel's releases, oldest first, written before each
 * new pointer. It is unsigned bookkeeping for publishers (`--base-releases`); devices never read it.
 */
export interface ChannelHistory {
  type: 'prtiql-channel-history';
  channel: string;
  releases: HistoryEntry[];
}

/** The history keeps this many releases: enough bases for any fleet, small enough to stay one small document. */
export const MAX_HISTORY_ENTRIES = 100;

export function historyEntryOf(release: Release): HistoryEntry {
  return {
    version: release.version,
    created: release.created,
    images: releaseImages(release).map((image) => ({ ...(image.platform && { platform: image.platform }), manifest: image.manifest })),
    ...(release.index && { index: release.index }),
  };
}

/**
 * The channel's history. A channel released before histories existed starts from its current
 * release, so its newest release is still a base.
 */
export async function readChannelHistory(store: ArtifactStore, channel: string, current: Release | undefined): Promise<ChannelHistory> {
  const document = { kind: 'history', channel } as const;
  const bytes = await store.readDocument(document);
  if (!bytes) return { type: 'prtiql-channel-history', channel, releases: current ? [historyEntryOf(current)] : [] };
  const location = store.documentLocation(document);
  let history: ChannelHistory;
  try {
    history = JSON.parse(bytes.toString('utf8')) as ChannelHistory;
  } catch {
    throw new PrtiqlError('E_BAD_INPUT', `${location} is not valid JSON`);
  }
  const valid = history?.type === 'prtiql-channel-history' && history.channel === channel && Array.isArray(history.releases) &&
    history.releases.every((entry) => Number.isSafeInteger(entry?.version) && Array.isArray(entry.images) && entry.images.every((image) => typeof image?.manifest?.digest === 'string'));
  if (!valid) throw new PrtiqlError('E_BAD_INPUT', `${location} is not the release history of channel ${channel}; fix or remove it`);
  return history;
}

/** The history with `entry` in place of any entry of its version, sorted, cut to MAX_HISTORY_ENTRIES. */
export function withRelease(history: ChannelHistory, entry: HistoryEntry): ChannelHistory {
  const releases = [...history.releases.filter((other) => other.version !== entry.version), entry].sort((a, b) => a.version - b.version);
  return { ...history, releases: releases.slice(-MAX_HISTORY_ENTRIES) };
}

export async function writeChannelHistory(store: ArtifactStore, history: ChannelHistory): Promise<void> {
  await store.writeDocument({ kind: 'history', channel: history.channel }, Buffer.from(`${JSON.stringify(history, null, 2)}\n`));
}

/** The `count` newest releases before `version`, newest first. */
export function releasesBefore(history: ChannelHistory, version: number, count: number): HistoryEntry[] {
  return history.releases.filter((entry) => entry.version < version).sort((a, b) => b.version - a.version).slice(0, count);
}
