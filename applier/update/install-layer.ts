import { mkdir } from 'node:fs/promises';
import { DigestCounter, digestHex, type Digest } from '../../shared/digest.js';
import { PrtiqlError } from '../../shared/errors.js';
import type { ReleaseDelta, ReleaseImage, ReleaseLayer } from '../../shared/release.js';
import { splitTar } from '../../shared/tar/split.js';
import { syncFileSystem } from '../../filesystem/durable.js';
import { extractLayer, extractLimits } from '../../filesystem/extract.js';
import type { DeviceStore } from '../device-store/device-store.js';
import { writeLayerMetaFile } from '../device-store/layer-meta-file.js';
import type { Logger } from '../log.js';
import type { Source } from './fetch/source.js';
import { GarbagePacer } from './garbage-pacer.js';
import { deltaLayerTar, fullLayerTar } from './layer-tar.js';

/**
 * The smallest delta that rebuilds `layer` from the image this device runs, if every layer it
 * reads is here. A delta from any other base is never used.
 */
export async function usableDelta(store: DeviceStore, release: ReleaseImage, installed: Digest | undefined, layer: ReleaseLayer): Promise<ReleaseDelta | undefined> {
  if (!installed) return undefined;
  const candidates = release.deltas.filter((delta) => delta.base === installed && delta.target === layer.diffID).sort((a, b) => a.blob.size - b.blob.size);
  for (const delta of candidates) {
    const present = await Promise.all(delta.basisLayers.map((basis) => store.hasLayer(basis)));
    if (present.every(Boolean)) return delta;
  }
  return undefined;
}

/** Installs a layer from its delta; on any failure discards that attempt and installs the full layer. */
export async function installLayerWithFallback(store: DeviceStore, source: Source, layer: ReleaseLayer, delta: ReleaseDelta | undefined, log: Logger): Promise<void> {
  if (delta) {
    log.info('layer.fetch', { diffID: layer.diffID, blob: delta.blob.digest, bytes: delta.blob.size, via: 'delta' });
    try {
      await installLayer(store, layer, deltaLayerTar(source, store, delta));
      log.info('layer.installed', { diffID: layer.diffID, via: 'delta', transferred: delta.blob.size, bytes: layer.size });
      return;
    } catch (error) {
      log.warn('layer.delta-failed', { diffID: layer.diffID, delta: delta.blob.digest, error: (error as Error).message, fallback: 'full' });
      await store.clearStaging();
    }
  }
  log.info('layer.fetch', { diffID: layer.diffID, blob: layer.blob.digest, bytes: layer.blob.size, via: 'full' });
  await installLayer(store, layer, fullLayerTar(source, layer));
  log.info('layer.installed', { diffID: layer.diffID, via: 'full', transferred: layer.blob.size, bytes: layer.size });
}

/** Hashes and counts the tar as it streams; refuses bytes beyond the signed size at once. Paces garbage collection. */
async function* measured(tar: AsyncIterable<Uint8Array>, layer: ReleaseLayer, counter: DigestCounter): AsyncGenerator<Uint8Array> {
  const pacer = new GarbagePacer();
  for await (const chunk of tar) {
    counter.update(chunk);
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
export async function installLayer(store: DeviceStore, layer: ReleaseLayer, tar: AsyncIterable<Uint8Array>): Promise<void> {
  const hex = digestHex(layer.diffID);
  const root = await store.stagingPath(hex);
  const skeletonPath = await store.stagingPath(`${hex}.skeleton`);
  const metaPath = await store.stagingPath(`${hex}.meta`);
  await mkdir(root, { mode: 0o755 });
  const counter = new DigestCounter();
  const meta = await extractLayer(splitTar(measured(tar, layer, counter)), { root, skeletonPath, diffID: layer.diffID }, extractLimits(layer.size));
  if (counter.size !== layer.size) {
    throw new PrtiqlError('E_SIZE_MISMATCH', `layer ${layer.diffID} has ${counter.size} bytes, signed size is ${layer.size}`);
  }
  const actual = counter.digest();
  if (actual !== layer.diffID) throw new PrtiqlError('E_DIGEST_MISMATCH', `layer tar has digest ${actual}, expected diffID ${layer.diffID}`);
  await writeLayerMetaFile(metaPath, meta, skeletonPath);
  await syncFileSystem(root);
  await store.commitLayer(layer.diffID, root, metaPath);
}
