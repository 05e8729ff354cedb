import type { Digest } from '../../../../shared/digest.js';
import { PrtiqlError } from '../../../../shared/errors.js';
import { configPlatform } from '../../../../shared/oci-json.js';
import { formatPlatform } from '../../../../shared/platform.js';
import { releaseImages, type ReleaseDelta, type ReleaseDescriptor, type ReleaseImage } from '../../../../shared/release.js';
import { checkChannelName } from '../../../../shared/store-layout.js';
import type { ArtifactStore } from '../artifact-store/artifact-store.js';
import { openStoreImage } from '../artifact-store/store-image.js';
import { readStoredDeltaRecord } from '../delta/delta-record.js';
import type { HistoryEntry } from '../release/channel-history.js';
import { readPublishedChannel } from '../release/published-channel.js';
import { checkSignatures, followTrustChain, releaseVerdict, timestampVerdict, type CheckedSignature, type DocumentVerdict } from './signature-checks.js';

export interface InspectOptions {
  store: ArtifactStore;
  channel: string;
  /** A trust root (root.json bytes) to verify signatures against, as a device pinning it would. */
  trustRoot?: Uint8Array;
  /** The time expiry is judged at; now by default. */
  now?: Date;
}

export interface InspectedLayer {
  diffID: Digest;
  digest: Digest;
  sizeBytes: number;
  /** Known for the current release, which signs it. */
  uncompressedSizeBytes?: number;
}

export interface InspectedDelta {
  /** The image the delta starts from, and its version when it is one of the channel's releases. */
  baseDigest: Digest;
  baseVersion?: number;
  /** The diffID of the layer it rebuilds. */
  targetLayer: Digest;
  digest: Digest;
  sizeBytes: number;
  /** The gzip layer a device on `base` would download without the delta. */
  fullSizeBytes: number;
}

export interface InspectedImage {
  /** os/arch[/variant], from the image config. */
  platform: string;
  digest: Digest;
  layers: InspectedLayer[];
  deltas: InspectedDelta[];
  /** All layers in full. */
  sizeBytes: number;
}

/**
 * The signature state of a release: `unchecked` without a trust root; `unavailable` for an
 * earlier release, whose signed release.json the channel replaced (the history is unsigned).
 */
export type SignatureState = 'verified' | 'failed' | 'unchecked' | 'unavailable';

export interface InspectedRelease {
  version: number;
  created: string;
  current: boolean;
  /** The current release's expiry (earlier releases' are not kept). */
  expires?: string;
  deviceClass?: string;
  /** The released image: the index of a multi-platform release, else the image manifest. */
  digest: Digest;
  images: InspectedImage[];
  signature: SignatureState;
  signatureErrorCode?: string;
  signatureError?: string;
  signatures?: CheckedSignature[];
}

export interface InspectResult {
  store: string;
  channel: string;
  currentVersion: number;
  /** The root signatures were checked against: the given one, or the newest published after it. */
  trustRootVersion?: number;
  trustRootErrorCode?: string;
  trustRootError?: string;
  /**
   * The channel's timestamp, when it has one: `unchecked` without a trust root or when the root
   * names no timestamp keys (devices then do not read it); its expiry once verified.
   */
  timestampSignature?: 'verified' | 'failed' | 'unchecked';
  timestampExpires?: string;
  timestampErrorCode?: string;
  timestampError?: string;
  releases: InspectedRelease[];
}

interface ImageSource {
  manifest: ReleaseDescriptor;
  /** The signed image of the current release: its uncompressed layer sizes and deltas. */
  signed?: ReleaseImage;
}

function verdictFields(prefix: 'signature' | 'timestamp' | 'trustRoot', verdict: DocumentVerdict | undefined): Record<string, string> {
  if (!verdict?.errorCode || !verdict.error) return {};
  return { [`${prefix}ErrorCode`]: verdict.errorCode, [`${prefix}Error`]: verdict.error };
}

async function inspectImage(store: ArtifactStore, source: ImageSource, deltas: readonly ReleaseDelta[], versions: ReadonlyMap<Digest, number>): Promise<InspectedImage> {
  const image = await openStoreImage(store, source.manifest);
  const uncompressed = new Map(source.signed?.layers.map((layer) => [layer.diffID, layer.size]));
  const layers = image.layers.map((layer) => ({
    diffID: layer.diffID,
    digest: layer.descriptor.digest,
    sizeBytes: layer.descriptor.size,
    ...(uncompressed.has(layer.diffID) && { uncompressedSizeBytes: uncompressed.get(layer.diffID)! }),
  }));
  const fullSize = new Map(layers.map((layer) => [layer.diffID, layer.sizeBytes]));
  return {
    platform: formatPlatform(configPlatform(image.config)),
    digest: source.manifest.digest,
    layers,
    deltas: deltas.map((delta) => ({
      baseDigest: delta.base,
      ...(versions.has(delta.base) && { baseVersion: versions.get(delta.base)! }),
      targetLayer: delta.target,
      digest: delta.blob.digest,
      sizeBytes: delta.blob.size,
      fullSizeBytes: fullSize.get(delta.target) ?? 0,
    })),
    sizeBytes: layers.reduce((sum, layer) => sum + layer.sizeBytes, 0),
  };
}

/** The deltas `prtiql delta` or earlier releases recorded to `target`, from any base. */
async function recordedDeltas(store: ArtifactStore, records: readonly { base: Digest; target: Digest }[], target: Digest): Promise<ReleaseDelta[]> {
  const deltas: ReleaseDelta[] = [];
  for (const record of records.filter((candidate) => candidate.target === target)) {
    deltas.push(...((await readStoredDeltaRecord(store, record.base, record.target))?.deltas ?? []));
  }
  return deltas;
}

/**
 * `prtiql inspect`: the channel's releases, newest first, as the store holds them: the current
 * one from its signed release.json (layers, deltas and, with a trust root, the device's verdict
 * on its signatures and timestamp), the earlier ones from the channel's history, with the deltas
 * recorded to their images.
 */
export async function inspectChannel(options: InspectOptions): Promise<InspectResult> {
  const { store } = options;
  const channel = checkChannelName(options.channel);
  const now = options.now ?? new Date();
  const { release, releaseBytes, history } = await readPublishedChannel(store, channel);
  if (!release || !releaseBytes) throw new PrtiqlError('E_UNKNOWN_CHANNEL', `channel ${channel} has no release at ${store.documentLocation({ kind: 'release', channel })}`);
  const chain = options.trustRoot && (await followTrustChain(store, options.trustRoot));

  const versions = new Map<Digest, number>();
  for (const entry of history.releases) for (const { manifest } of entry.images) versions.set(manifest.digest, entry.version);
  const records = (await store.listDocuments()).flatMap((document) => (document.kind === 'delta-record' ? [document] : []));

  const current = chain ? releaseVerdict(releaseBytes, release, chain.trust, now) : undefined;
  const releases: InspectedRelease[] = [];
  const images: InspectedImage[] = [];
  for (const image of releaseImages(release)) images.push(await inspectImage(store, { manifest: image.manifest, signed: image }, image.deltas, versions));
  releases.push({
    version: release.version,
    created: release.created,
    current: true,
    expires: release.expires,
    ...(release.deviceClass !== undefined && { deviceClass: release.deviceClass }),
    digest: release.index?.digest ?? release.manifest.digest,
    images,
    signature: current?.verdict ?? 'unchecked',
    ...verdictFields('signature', current),
    ...(chain && { signatures: checkSignatures(releaseBytes, chain.trust) }),
  });

  const earlier: HistoryEntry[] = history.releases.filter((entry) => entry.version !== release.version).sort((a, b) => b.version - a.version);
  for (const entry of earlier) {
    const entryImages: InspectedImage[] = [];
    for (const { manifest } of entry.images) entryImages.push(await inspectImage(store, { manifest }, await recordedDeltas(store, records, manifest.digest), versions));
    releases.push({ version: entry.version, created: entry.created, current: false, digest: entry.index?.digest ?? entry.images[0].manifest.digest, images: entryImages, signature: 'unavailable' });
  }

  const timestampBytes = await store.readDocument({ kind: 'timestamp', channel });
  const timestamp = timestampBytes && chain?.trust.timestamp ? timestampVerdict(timestampBytes, releaseBytes, channel, chain.trust, now) : undefined;
  return {
    store: store.location,
    channel,
    currentVersion: release.version,
    ...(chain && { trustRootVersion: chain.trust.root.version, ...verdictFields('trustRoot', chain.error) }),
    ...(timestampBytes && { timestampSignature: timestamp?.verdict ?? 'unchecked', ...(timestamp?.expires && { timestampExpires: timestamp.expires }), ...verdictFields('timestamp', timestamp) }),
    releases,
  };
}
