import type { Digest } from '../../shared/digest.js';
import { formatPlatform, hostPlatform } from '../../shared/platform.js';
import { selectReleaseImage } from '../../shared/release.js';
import { checkChannelName } from '../../shared/store-layout.js';
import { DeviceStore, type InstalledRelease } from '../device-store/device-store.js';
import { refuseFailedRelease } from '../device-store/health-record.js';
import { silentLogger } from '../log.js';
import { stagedVerifiedBytes } from './fetch/staged-download.js';
import { plannedBlob, planLayers } from './layer-plan.js';
import { readStateOfChannel, type UpdateRequest } from './update.js';
import { fetchVerifiedRelease } from './verify/release-check.js';
import { pinnedTrustRoot, readGivenTrustRoot } from './verify/trust.js';

export interface LayerCheck {
  diffID: Digest;
  /** `present`: already in the store; else how the update would fetch it. */
  via: 'present' | 'delta' | 'full';
  /** Bytes the update would download for it: its delta's or full blob's size, less what is staged verified. */
  download: number;
  /** Verified bytes of that blob already staged by an earlier, interrupted run. */
  staged: number;
  /** The layer's full (compressed) blob. */
  fullSize: number;
}

/** What `update` would do, found without changing the store. */
export interface UpdateCheck {
  channel: string;
  installed: InstalledRelease | null;
  available: InstalledRelease & { platform?: string };
  upToDate: boolean;
  /** Each distinct layer of the available image; empty when up to date. */
  layers: LayerCheck[];
  /** Bytes to download in all. */
  download: number;
  /** What the layers to fetch would cost in full, without deltas or staged downloads. */
  fullSize: number;
}

/**
 * `update --check`: the same argument, trust and release checks as `update` (the published
 * root rotations followed but not pinned, no state recorded, no lock taken, nothing created),
 * then what it would download for each layer.
 */
export async function checkForUpdate(request: UpdateRequest): Promise<UpdateCheck> {
  const { source, channel } = request;
  checkChannelName(channel);
  const givenTrust = request.trustPath === undefined ? undefined : await readGivenTrustRoot(request.trustPath);
  const store = await DeviceStore.inspect(request.storeRoot);
  const state = await readStateOfChannel(store, channel);
  const trust = await pinnedTrustRoot(store, givenTrust, source, silentLogger, 'read-only');
  const { release, upToDate } = await fetchVerifiedRelease({ source, channel, trust, state, now: request.now ?? new Date(), deviceClass: request.deviceClass });
  const installed = state?.installed ?? null;
  if (upToDate) {
    return { channel, installed, available: { version: release.version, manifest: installed?.manifest ?? release.manifest.digest }, upToDate, layers: [], download: 0, fullSize: 0 };
  }
  const image = selectReleaseImage(release, request.platform ?? hostPlatform());
  await refuseFailedRelease(store, image.manifest.digest);
  const layers: LayerCheck[] = [];
  for (const plan of await planLayers(store, image, installed?.manifest)) {
    const blob = plannedBlob(plan);
    const staged = plan.present ? 0 : stagedVerifiedBytes(store.downloadPath(blob.digest), blob);
    layers.push({
      diffID: plan.layer.diffID,
      via: plan.present ? 'present' : plan.delta ? 'delta' : 'full',
      download: plan.present ? 0 : blob.size - staged,
      staged,
      fullSize: plan.layer.blob.size,
    });
  }
  const fetched = layers.filter((layer) => layer.via !== 'present');
  return {
    channel,
    installed,
    available: { version: release.version, manifest: image.manifest.digest, ...(image.platform && { platform: formatPlatform(image.platform) }) },
    upToDate,
    layers,
    download: fetched.reduce((sum, layer) => sum + layer.download, 0),
    fullSize: fetched.reduce((sum, layer) => sum + layer.fullSize, 0),
  };
}
