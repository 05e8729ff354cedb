import { isDigest, type Digest } from '../../../../shared/digest.js';
import { isPrtiqlError, PrtiqlError } from '../../../../shared/errors.js';
import { releaseImages, type Release, type ReleaseDescriptor } from '../../../../shared/release.js';
import { checkChannelName, type StoreDocument } from '../../../../shared/store-layout.js';
import type { ArtifactStore } from '../artifact-store/artifact-store.js';
import { readStoredManifest } from '../artifact-store/store-image.js';
import { readStoredDeltaRecord } from '../delta/delta-record.js';
import { writeChannelHistory, type HistoryEntry } from '../release/channel-history.js';
import { readPublishedChannel } from '../release/published-channel.js';

export interface PruneOptions {
  store: ArtifactStore;
  channel: string;
  /** How many of the channel's newest releases to keep; the current one always stays. */
  keep: number;
  /** Only find what would be removed. */
  dryRun?: boolean;
}

export interface PruneResult {
  store: string;
  channel: string;
  keep: number;
  dryRun: boolean;
  keptVersions: number[];
  removedVersions: number[];
  /** Locations of the delta records removed. */
  removedDocuments: string[];
  /** Digests of the blobs removed, in the order they were (or would be) removed. */
  removedBlobs: Digest[];
}

type DeltaRecordDocument = Extract<StoreDocument, { kind: 'delta-record' }>;

/** What a store's releases and records need, and what the pruned releases held. */
interface Marks {
  needed: Set<Digest>;
  /** Images (manifest digests) of every release kept, in every channel. */
  keptImages: Set<Digest>;
  keptEntries: HistoryEntry[];
  removedEntries: HistoryEntry[];
}

function releaseBlobs(release: Release): Digest[] {
  return [
    ...(release.index ? [release.index.digest] : []),
    ...releaseImages(release).flatMap((image) => [image.manifest.digest, image.config.digest, ...image.layers.map((layer) => layer.blob.digest), ...image.deltas.map((delta) => delta.blob.digest)]),
  ];
}

/** The config and layer blobs a stored manifest names; none when the manifest is gone already. */
async function manifestBlobs(store: ArtifactStore, manifest: ReleaseDescriptor, required: boolean): Promise<Digest[]> {
  try {
    const parsed = await readStoredManifest(store, manifest);
    return [parsed.config.digest, ...parsed.layers.map((layer) => layer.digest)];
  } catch (error) {
    if (!required && isPrtiqlError(error, 'E_NOT_FOUND')) return [];
    throw error;
  }
}

/**
 * Marks what every channel's release and kept history entries need: for `channel`, its
 * `keep` newest releases (and its current one); for the other channels, everything.
 */
async function markReleases(store: ArtifactStore, channel: string, keep: number, channels: ReadonlySet<string>): Promise<Marks> {
  const marks: Marks = { needed: new Set(), keptImages: new Set(), keptEntries: [], removedEntries: [] };
  const described = new Set<Digest>();
  for (const name of [...channels].sort()) {
    const { release, history } = await readPublishedChannel(store, name);
    if (name === channel && !release) throw new PrtiqlError('E_UNKNOWN_CHANNEL', `channel ${channel} has no release at ${store.documentLocation({ kind: 'release', channel })}`);
    if (release) {
      for (const digest of releaseBlobs(release)) marks.needed.add(digest);
      for (const image of releaseImages(release)) {
        marks.keptImages.add(image.manifest.digest);
        described.add(image.manifest.digest);
      }
    }
    const newestFirst = [...history.releases].sort((a, b) => b.version - a.version);
    const kept = name === channel ? newestFirst.filter((entry, i) => i < keep || entry.version === release?.version) : newestFirst;
    if (name === channel) {
      marks.keptEntries = kept;
      marks.removedEntries = newestFirst.filter((entry) => !kept.includes(entry));
    }
    for (const entry of kept) {
      if (entry.index) marks.needed.add(entry.index.digest);
      for (const { manifest } of entry.images) {
        marks.keptImages.add(manifest.digest);
        marks.needed.add(manifest.digest);
        if (described.has(manifest.digest)) continue;
        described.add(manifest.digest);
        for (const digest of await manifestBlobs(store, manifest, true)) marks.needed.add(digest);
      }
    }
  }
  return marks;
}

/**
 * `prtiql prune` (docs/artifact-store.md, "Pruning"): keeps the channel's `keep` newest
 * releases; removes every delta record from or to an image only the older ones had, then the
 * older ones from the channel's history, then every blob no kept release of any channel and no
 * kept record names. Documents go before the blobs they name, indexes and manifests before the
 * blobs they name, so a crash at any point leaves no document naming a missing blob; running
 * prune again finishes the job (on a registry, which cannot list blobs, a run interrupted
 * after the history was rewritten leaves the removed releases' remaining blobs to the
 * registry's own garbage collection).
 */
export async function pruneChannel(options: PruneOptions): Promise<PruneResult> {
  const { store, keep } = options;
  const channel = checkChannelName(options.channel);
  if (!Number.isSafeInteger(keep) || keep < 1) throw new PrtiqlError('E_USAGE', `--keep ${keep}: keep at least the newest release`);
  const documents = await store.listDocuments();
  const channels = new Set([channel, ...documents.flatMap((document) => (document.kind === 'release' || document.kind === 'history' ? [document.channel] : []))]);
  const marks = await markReleases(store, channel, keep, channels);

  const removedImages = new Set(marks.removedEntries.flatMap((entry) => entry.images.map(({ manifest }) => manifest.digest)).filter((digest) => !marks.keptImages.has(digest)));
  const removedIndexes = marks.removedEntries.flatMap((entry) => (entry.index ? [entry.index.digest] : []));
  const candidates: Digest[] = [...removedIndexes, ...removedImages];
  for (const entry of marks.removedEntries) {
    for (const { manifest } of entry.images) if (removedImages.has(manifest.digest)) candidates.push(...(await manifestBlobs(store, manifest, false)));
  }

  const removedRecords: DeltaRecordDocument[] = [];
  for (const document of documents) {
    if (document.kind !== 'delta-record') continue;
    const record = await readStoredDeltaRecord(store, document.base, document.target);
    const blobs = (record?.deltas ?? []).map((delta) => delta.blob?.digest).filter(isDigest);
    if (removedImages.has(document.base) || removedImages.has(document.target)) {
      removedRecords.push(document);
      candidates.push(...blobs);
    } else {
      for (const digest of blobs) marks.needed.add(digest);
    }
  }
  candidates.push(...((await store.listBlobs()) ?? []).sort());
  const removedBlobs = [...new Set(candidates)].filter((digest) => !marks.needed.has(digest));

  const result: PruneResult = {
    store: store.location,
    channel,
    keep,
    dryRun: options.dryRun ?? false,
    keptVersions: marks.keptEntries.map((entry) => entry.version),
    removedVersions: marks.removedEntries.map((entry) => entry.version),
    removedDocuments: removedRecords.map((document) => store.documentLocation(document)),
    removedBlobs,
  };
  if (options.dryRun) return result;
  // Records first: while the history still lists the removed releases, a prune interrupted
  // here finds the same records again on its next run.
  for (const document of removedRecords) await store.deleteDocument(document);
  if (marks.removedEntries.length > 0) {
    const { history } = await readPublishedChannel(store, channel);
    await writeChannelHistory(store, { ...history, releases: history.releases.filter((entry) => marks.keptEntries.some((kept) => kept.version === entry.version)) });
  }
  for (const digest of removedBlobs) await store.deleteBlob(digest);
  return result;
}
