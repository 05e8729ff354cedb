import { mkdir } from 'node:fs/promises';
import { DigestCounter, digestHex } from '../../shared/digest.js';
import { PrtiqlError } from '../../shared/errors.js';
import type { ReleaseLayer } from '../../shared/release.js';
import { splitTar } from '../../shared/tar/split.js';
import { syncFileSystem } from '../../filesystem/durable.js';
import { extractLayer, extractLimits } from '../../filesystem/extract.js';
import type { DeviceStore } from '../device-store/device-store.js';
import { writeLayerMetaFile } from '../device-store/layer-meta-file.js';
import type { Logger } from '../log.js';
import { isTransient } from './fetch/retry.js';
import { GarbagePacer } from './garbage-pacer.js';
import type { LayerPlan } from './layer-plan.js';
import { deltaLayerTar, fullLayerTar, type VerifiedBlobReader } from './layer-tar.js';
import type { UpdateProgress } from './progress.js';

/**
 * Installs a missing layer from its delta; on any failure discards that attempt and installs
 * the full layer. The delta's staged download is kept only when the network stopped it, for
 * the next run to resume; the layer's staged downloads go once it is committed.
 */
export async function installPlannedLayer(store: DeviceStore, read: VerifiedBlobReader, plan: LayerPlan, progress: UpdateProgress, index: number, log: Logger): Promise<void> {
  const { layer, delta } = plan;
  const work = { index, diffID: layer.diffID, tarBytes: layer.size };
  if (delta) {
    log.info('layer.fetch', { diffID: layer.diffID, blob: delta.blob.digest, bytes: delta.blob.size, via: 'delta' });
    progress.startLayer({ ...work, via: 'delta' });
    try {
      await installLayer(store, layer, deltaLayerTar(read, store, delta), progress);
      await store.discardDownload(delta.blob.digest);
      log.info('layer.installed', { diffID: layer.diffID, via: 'delta', transferred: delta.blob.size, bytes: layer.size });
      return;
    } catch (error) {
      log.warn('layer.delta-failed', { diffID: layer.diffID, delta: delta.blob.digest, error: (error as Error).message, fallback: 'full' });
      await store.clearStagedWork();
      if (!isTransient(error)) await store.discardDownload(delta.blob.digest);
      progress.addDownload(layer.blob.size);
    }
  }
  log.info('layer.fetch', { diffID: layer.diffID, blob: layer.blob.digest, bytes: layer.blob.size, via: 'full' });
  progress.startLayer({ ...work, via: 'full' });
  await installLayer(store, layer, fullLayerTar(read, layer), progress);
  await store.discardDownload(layer.blob.digest);
  if (delta) await store.discardDownload(delta.blob.digest);
  log.info('layer.installed', { diffID: layer.diffID, via: 'full', transferred: layer.blob.size, bytes: layer.size });
}

/** Hashes and counts the tar as it streams; refuses bytes beyond the signed size at once. Paces garbage collection. */
async function* measured(tar: AsyncIterable<Uint8Array>, layer: ReleaseLayer, counter: DigestCounter, progress: UpdateProgress | undefined): AsyncGenerator<Uint8Array> {
  const pacer = new GarbagePacer();
  for await (const chunk of tar) {
    counter.update(chunk);
    progress?.extractedBytes(chunk.byteLength);
    pacer.account(chunk.byteLength);
    if (counter.size > layer.size) {
      throw new PrtiqlError('E_SIZE_MISMATCH', `layer ${layer.diffID} is larger than its signed ${layer.size} bytes`);
    }
    yield chunk;
  }
}

/**
 * Extracts one layer into staging/<hex>/ while hashing its tar, checks the diffID, writes
 * the metadata, makes it all durable, then moves it into layers/.
 */
export async function installLayer(store: DeviceStore, layer: ReleaseLayer, tar: AsyncIterable<Uint8Array>, progress?: UpdateProgress): Promise<void> {
  const hex = digestHex(layer.diffID);
  const root = await store.stagingPath(hex);
  const skeletonPath = await store.stagingPath(`${hex}.skeleton`);
  const metaPath = await store.stagingPath(`${hex}.meta`);
  await mkdir(root, { mode: 0o755 });
  const counter = new DigestCounter();
  const meta = await extractLayer(splitTar(measured(tar, layer, counter, progress)), { root, skeletonPath, diffID: layer.diffID, writeBack: store.writeBack }, extractLimits(layer.size));
  if (counter.size !== layer.size) {
    throw new PrtiqlError('E_SIZE_MISMATCH', `layer ${layer.diffID} has ${counter.size} bytes, signed size is ${layer.size}`);
  }
  const actual = counter.digest();
  if (actual !== layer.diffID) throw new PrtiqlError('E_DIGEST_MISMATCH', `layer tar has digest ${actual}, expected diffID ${layer.diffID}`);
  progress?.enter('commit');
  await writeLayerMetaFile(metaPath, meta, skeletonPath);
  await syncFileSystem(root);
  await store.commitLayer(layer.diffID, root, metaPath);
}
