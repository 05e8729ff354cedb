import type { Digest } from '../../shared/digest.js';
import { PrtiqlError } from '../../shared/errors.js';
import { MAX_CONFIG_BYTES, MAX_DOCUMENT_BYTES } from '../../shared/limits.js';
import type { Platform } from '../../shared/oci.js';
import { formatPlatform, hostPlatform } from '../../shared/platform.js';
import { selectReleaseImage } from '../../shared/release.js';
import { checkChannelName } from '../../shared/store-layout.js';
import { STORE_LAYOUT, DeviceStore, type StoreState } from '../device-store/device-store.js';
import { refuseFailedRelease } from '../device-store/health-record.js';
import { acquireStoreLock } from '../device-store/lock.js';
import { commitInstall, recordVerified } from '../device-store/state-transitions.js';
import { createLogger, type Logger } from '../log.js';
import { isTransient } from './fetch/retry.js';
import type { Source } from './fetch/source.js';
import { downloadStaged } from './fetch/staged-download.js';
import { requireFreeSpace, spaceNeeded } from './free-space.js';
import { checkImageMatchesRelease, fetchDocument } from './image-documents.js';
import { installPlannedLayer } from './install-layer.js';
import { blobsToFetch, plannedBlob, planLayers } from './layer-plan.js';
import type { VerifiedBlobReader } from './layer-tar.js';
import { UpdateProgress, type ProgressTiming } from './progress.js';
import { fetchVerifiedRelease, verifiedFloors } from './verify/release-check.js';
import { pinnedTrustRoot, readGivenTrustRoot, type GivenTrustRoot } from './verify/trust.js';

export interface UpdateRequest {
  source: Source;
  channel: string;
  storeRoot: string;
  /** root.json to pin on first use (or a signed successor of the pinned one). */
  trustPath?: string;
  /** This device's class: releases for another class (or for a class, when unset) are refused. */
  deviceClass?: string;
  /** Which image of a multi-platform release to install; the platform Node reports by default. */
  platform?: Platform;
  now?: Date;
  log?: Logger;
  /** How often `update.progress` is logged while layers download and install. */
  progress?: ProgressTiming;
}

export interface UpdateOutcome {
  changed: boolean;
  channel: string;
  version: number;
  manifest: Digest;
  /** Layers that were downloaded and extracted (the rest were already on the device). */
  layersInstalled: number;
}

/**
 * DESIGN §6 steps 1-5: lock, verify the signed release, install missing layers durably,
 * record the image, swap `current`, record the state, collect garbage. Any failure leaves
 * `current` and state.json as they were and removes staging/, except the verified downloads
 * of a run the network stopped, which the next run resumes.
 */
export async function update(request: UpdateRequest): Promise<UpdateOutcome> {
  const log = request.log ?? createLogger();
  checkChannelName(request.channel);
  const givenTrust = request.trustPath === undefined ? undefined : await readGivenTrustRoot(request.trustPath);
  const store = await DeviceStore.create(request.storeRoot);
  const lock = await acquireStoreLock(store.path(STORE_LAYOUT.lock));
  try {
    await store.clearStagedWork();
    const outcome = await updateLocked(store, request, givenTrust, log);
    await store.clearStaging();
    return outcome;
  } catch (error) {
    await (isTransient(error) ? store.clearStagedWork() : store.clearStaging()).catch(() => undefined);
    throw error;
  } finally {
    await lock.release();
  }
}

async function updateLocked(store: DeviceStore, request: UpdateRequest, givenTrust: GivenTrustRoot | undefined, log: Logger): Promise<UpdateOutcome> {
  const { source, channel } = request;
  const state = await readStateOfChannel(store, channel);
  const trust = await pinnedTrustRoot(store, givenTrust, source, log);
  const checked = await fetchVerifiedRelease({ source, channel, trust, state, now: request.now ?? new Date(), deviceClass: request.deviceClass });
  const { release, upToDate } = checked;
  if (upToDate) {
    await recordVerified(store, state, channel, release.version, verifiedFloors(checked));
    // a run interrupted after its state.json was written still owes its garbage collection
    await collectGarbageLogged(store, log);
    log.info('update.up-to-date', { channel, version: release.version });
    return { changed: false, channel, version: release.version, manifest: state?.installed?.manifest ?? release.manifest.digest, layersInstalled: 0 };
  }
  const image = selectReleaseImage(release, request.platform ?? hostPlatform());
  await refuseFailedRelease(store, image.manifest.digest);
  log.info('release.verified', { channel, version: release.version, manifest: image.manifest.digest, ...(image.platform && { platform: formatPlatform(image.platform) }) });
  await recordVerified(store, state, channel, release.version, verifiedFloors(checked));

  const manifestBytes = await fetchDocument(source, image.manifest, MAX_DOCUMENT_BYTES, 'manifest');
  const configBytes = await fetchDocument(source, image.config, MAX_CONFIG_BYTES, 'config');
  checkImageMatchesRelease(manifestBytes, configBytes, image);

  const missing = (await planLayers(store, image, state?.installed?.manifest)).filter((plan) => !plan.present);
  await store.keepOnlyDownloads(blobsToFetch(missing));
  await requireFreeSpace(store.root, spaceNeeded(missing));
  const progress = new UpdateProgress(log, sum(missing.map((plan) => plannedBlob(plan).size)), missing.length, request.progress);
  const read: VerifiedBlobReader = (blob, what) => downloadStaged(source, blob, what, store.downloadPath(blob.digest), progress, store.writeBack);
  for (const [index, plan] of missing.entries()) await installPlannedLayer(store, read, plan, progress, index + 1, log);
  const layersInstalled = missing.length;

  const manifest = image.manifest.digest;
  if (!(await store.hasImage(manifest))) await store.commitImage(manifest, manifestBytes, configBytes);
  await commitInstall(store, state, channel, { version: release.version, manifest }, verifiedFloors(checked));
  log.info('update.committed', { channel, version: release.version, manifest, layersInstalled });
  await collectGarbageLogged(store, log);
  return { changed: true, channel, version: release.version, manifest, layersInstalled };
}

async function collectGarbageLogged(store: DeviceStore, log: Logger): Promise<void> {
  const removed = await store.collectGarbage();
  if (removed.images.length + removed.layers.length > 0) {
    log.info('store.garbage-collected', { images: removed.images.length, layers: removed.layers.length });
  }
}

function sum(values: number[]): number {
  return values.reduce((total, value) => total + value, 0);
}

/** The store's state, refusing a store that follows another channel (version numbers are per channel). */
export async function readStateOfChannel(store: DeviceStore, channel: string): Promise<StoreState | null> {
  const state = await store.readState();
  if (state && state.channel !== channel) {
    throw new PrtiqlError('E_USAGE', `the store follows channel ${state.channel}, not ${channel}; use another --store`);
  }
  return state;
}

