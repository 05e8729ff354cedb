import { mkdir } from 'node:fs/promises';
import { isDeepStrictEqual } from 'node:util';
import { readCapped } from '../../shared/capped-read.js';
import { DigestCounter, digestHex, sha256Digest, type Digest } from '../../shared/digest.js';
import { PrtiqlError } from '../../shared/errors.js';
import type { Platform } from '../../shared/oci.js';
import { parseImageConfig, parseJson, parseManifest } from '../../shared/oci-json.js';
import { formatPlatform, hostPlatform, parsePlatform } from '../../shared/platform.js';
import { selectReleaseImage, type ReleaseDelta, type ReleaseImage, type ReleaseLayer } from '../../shared/release.js';
import { blobPath, checkChannelName } from '../../shared/store-layout.js';
import { splitTar } from '../../shared/tar/split.js';
import { parseOptions, requireOption, type Subcommand } from '../commands/subcommand.js';
import { readDeviceConfig } from '../runtime/device-config.js';
import { syncFileSystem } from '../../filesystem/durable.js';
import { extractLayer, extractLimits } from '../../filesystem/extract.js';
import { requireFreeSpace, spaceNeeded } from './free-space.js';
import { GarbagePacer } from './garbage-pacer.js';
import { useLeanRuntime } from './lean-runtime.js';
import { deltaLayerTar, fullLayerTar } from './layer-tar.js';
import { writeLayerMetaFile } from '../device-store/layer-meta-file.js';
import { acquireStoreLock } from '../device-store/lock.js';
import { refuseFailedRelease } from '../device-store/health-record.js';
import { createLogger, type Logger } from '../log.js';
import { fetchVerifiedRelease, recordVerified, verifiedFloors } from './verify/release-check.js';
import { DEFAULT_DEADLINE_SECONDS, retrying } from './fetch/retry.js';
import { openSource, readAuthorizationFile, type Source } from './fetch/source.js';
import { STORE_LAYOUT, Store, type StoreState } from '../device-store/device-store.js';
import { pinnedTrustRoot, readGivenTrustRoot, type GivenTrustRoot } from './verify/trust.js';
import { MAX_CONFIG_BYTES, MAX_DOCUMENT_BYTES } from '../../shared/limits.js';

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
 * `current` and state.json as they were and removes staging/.
 */
export async function update(request: UpdateRequest): Promise<UpdateOutcome> {
  const log = request.log ?? createLogger();
  checkChannelName(request.channel);
  const givenTrust = request.trustPath === undefined ? undefined : await readGivenTrustRoot(request.trustPath);
  const store = await Store.create(request.storeRoot);
  const lock = await acquireStoreLock(store.path(STORE_LAYOUT.lock));
  try {
    await store.clearStaging();
    const outcome = await updateLocked(store, request, givenTrust, log);
    await store.clearStaging();
    return outcome;
  } catch (error) {
    await store.clearStaging().catch(() => undefined);
    throw error;
  } finally {
    await lock.release();
  }
}

async function updateLocked(store: Store, request: UpdateRequest, givenTrust: GivenTrustRoot | undefined, log: Logger): Promise<UpdateOutcome> {
  const { source, channel } = request;
  const state = await store.readState();
  if (state && state.channel !== channel) {
    throw new PrtiqlError('E_USAGE', `the store follows channel ${state.channel}, not ${channel}; use another --store`);
  }
  const trust = await pinnedTrustRoot(store, givenTrust, source, log);
  const checked = await fetchVerifiedRelease({ source, channel, trust, state, now: request.now ?? new Date(), deviceClass: request.deviceClass });
  const { release, upToDate } = checked;
  if (upToDate) {
    await recordVerified(store, channel, state, checked);
    // a run interrupted after its state.json was written still owes its garbage collection
    await collectGarbageLogged(store, log);
    log.info('update.up-to-date', { channel, version: release.version });
    return { changed: false, channel, version: release.version, manifest: state?.installed?.manifest ?? release.manifest.digest, layersInstalled: 0 };
  }
  const image = selectReleaseImage(release, request.platform ?? hostPlatform());
  await refuseFailedRelease(store, image.manifest.digest);
  log.info('release.verified', { channel, version: release.version, manifest: image.manifest.digest, ...(image.platform && { platform: formatPlatform(image.platform) }) });
  await recordVerified(store, channel, state, checked);

  const manifestBytes = await fetchDocument(source, image.manifest, MAX_DOCUMENT_BYTES, 'manifest');
  const configBytes = await fetchDocument(source, image.config, MAX_CONFIG_BYTES, 'config');
  checkImageMatchesRelease(manifestBytes, configBytes, image);

  const missing: ReleaseLayer[] = [];
  for (const layer of uniqueLayers(image.layers)) if (!(await store.hasLayer(layer.diffID))) missing.push(layer);
  await requireFreeSpace(store.root, spaceNeeded(missing));
  for (const layer of missing) {
    const delta = await usableDelta(store, image, state?.installed?.manifest, layer);
    await installLayerWithFallback(store, source, layer, delta, log);
  }
  const layersInstalled = missing.length;

  const manifest = image.manifest.digest;
  if (!(await store.hasImage(manifest))) await store.commitImage(manifest, manifestBytes, configBytes);
  await store.swapCurrent(manifest);
  const replaced = state?.installed && state.installed.manifest !== manifest ? state.installed : (state?.previous ?? null);
  const next: StoreState = { channel, installed: { version: release.version, manifest }, previous: replaced, highestSeen: release.version, ...verifiedFloors(checked) };
  await store.writeState(next);
  log.info('update.committed', { channel, version: release.version, manifest, layersInstalled });
  await collectGarbageLogged(store, log);
  return { changed: true, channel, version: release.version, manifest, layersInstalled };
}

async function collectGarbageLogged(store: Store, log: Logger): Promise<void> {
  const removed = await store.collectGarbage();
  if (removed.images.length + removed.layers.length > 0) {
    log.info('store.garbage-collected', { images: removed.images.length, layers: removed.layers.length });
  }
}

async function fetchDocument(source: Source, descriptor: { digest: Digest; size: number }, limit: number, what: string): Promise<Buffer> {
  if (descriptor.size > limit) {
    throw new PrtiqlError('E_TOO_LARGE', `${what} of ${descriptor.size} bytes exceeds the ${limit}-byte limit`);
  }
  const bytes = await retrying(source.retry, what, async () => {
    const fetched = await source.fetch(blobPath(descriptor.digest), { maxBytes: descriptor.size });
    return readCapped(fetched.body, descriptor.size, what);
  });
  if (bytes.length !== descriptor.size) {
    throw new PrtiqlError('E_SIZE_MISMATCH', `${what} ${descriptor.digest} has ${bytes.length} bytes, expected ${descriptor.size}`);
  }
  const actual = sha256Digest(bytes);
  if (actual !== descriptor.digest) throw new PrtiqlError('E_DIGEST_MISMATCH', `${what} has digest ${actual}, expected ${descriptor.digest}`);
  return bytes;
}

/**
 * The signed release and the image documents must describe the same layers, in order: a
 * manifest or config from another publication (mix-and-match) is refused before any layer
 * or delta blob is fetched.
 */
function checkImageMatchesRelease(manifestBytes: Buffer, configBytes: Buffer, release: ReleaseImage): void {
  const manifestWhat = `manifest ${release.manifest.digest}`;
  const configWhat = `config ${release.config.digest}`;
  const manifest = parseManifest(parseJson(manifestBytes, manifestWhat), manifestWhat);
  const config = parseImageConfig(parseJson(configBytes, configWhat), configWhat);
  const mismatch = (what: string): never => {
    throw new PrtiqlError('E_MIX_AND_MATCH', `manifest ${release.manifest.digest}: ${what} does not match the release`);
  };
  if (manifest.config.digest !== release.config.digest || manifest.config.size !== release.config.size) mismatch('config descriptor');
  const listed = manifest.layers.map((layer) => ({ digest: layer.digest, size: layer.size }));
  const signed = release.layers.map((layer) => ({ digest: layer.blob.digest, size: layer.blob.size }));
  if (!isDeepStrictEqual(listed, signed)) mismatch('layer list');
  if (!isDeepStrictEqual(config.rootfs.diff_ids, release.layers.map((layer) => layer.diffID))) mismatch("config's diff_ids");
}

function uniqueLayers(layers: ReleaseLayer[]): ReleaseLayer[] {
  const seen = new Set<Digest>();
  return layers.filter((layer) => !seen.has(layer.diffID) && seen.add(layer.diffID));
}

/**
 * The smallest delta that rebuilds `layer` from the image this device runs, if every layer it
 * reads is here. A delta from any other base is never used.
 */
async function usableDelta(store: Store, release: ReleaseImage, installed: Digest | undefined, layer: ReleaseLayer): Promise<ReleaseDelta | undefined> {
  if (!installed) return undefined;
  const candidates = release.deltas.filter((delta) => delta.base === installed && delta.target === layer.diffID).sort((a, b) => a.blob.size - b.blob.size);
  for (const delta of candidates) {
    const present = await Promise.all(delta.basisLayers.map((basis) => store.hasLayer(basis)));
    if (present.every(Boolean)) return delta;
  }
  return undefined;
}

/** Installs a layer from its delta; on any failure discards that attempt and installs the full layer. */
async function installLayerWithFallback(store: Store, source: Source, layer: ReleaseLayer, delta: ReleaseDelta | undefined, log: Logger): Promise<void> {
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
export async function installLayer(store: Store, layer: ReleaseLayer, tar: AsyncIterable<Uint8Array>): Promise<void> {
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

/** --platform, else the device config's `platform`, else the platform Node reports. */
async function devicePlatform(option: string | undefined, configPath: string | undefined): Promise<Platform> {
  if (option === undefined) return (await readDeviceConfig(configPath)).platform ?? hostPlatform();
  try {
    return parsePlatform(option);
  } catch (error) {
    throw new PrtiqlError('E_USAGE', `update: ${(error as Error).message}`);
  }
}

export const updateCommand: Subcommand = {
  summary:
    'update --source <url> --channel <name> --store <dir> [--trust <root.json>] [--device-class <class>] [--platform <os/arch[/variant]>] [--config <device.json>] [--auth-file <file>] [--deadline <seconds>]: install the newest signed release',
  async run(args) {
    useLeanRuntime();
    const values = parseOptions('update', args, {
      source: { type: 'string' },
      channel: { type: 'string' },
      store: { type: 'string' },
      trust: { type: 'string' },
      'device-class': { type: 'string' },
      platform: { type: 'string' },
      config: { type: 'string' },
      'auth-file': { type: 'string' },
      deadline: { type: 'string' },
    });
    const log = createLogger();
    const deadlineSeconds = values.deadline === undefined ? DEFAULT_DEADLINE_SECONDS : Number(values.deadline);
    if (!Number.isSafeInteger(deadlineSeconds) || deadlineSeconds < 1) throw new PrtiqlError('E_USAGE', 'update: --deadline must be a whole number of seconds');
    const source = openSource(requireOption('update', values.source, 'source'), {
      authorization: values['auth-file'] === undefined ? undefined : await readAuthorizationFile(values['auth-file']),
      retry: {
        deadline: Date.now() + deadlineSeconds * 1000,
        onRetry: ({ what, attempt, delayMs, error }) => log.warn('network.retry', { what, attempt, delayMs, error: error.message }),
      },
    });
    const outcome = await update({
      source,
      channel: requireOption('update', values.channel, 'channel'),
      storeRoot: requireOption('update', values.store, 'store'),
      trustPath: values.trust,
      deviceClass: values['device-class'],
      platform: await devicePlatform(values.platform, values.config),
      log,
    });
    process.stdout.write(
      outcome.changed
        ? `channel ${outcome.channel} updated to version ${outcome.version} (${outcome.manifest}, ${outcome.layersInstalled} layer(s) installed)\n`
        : `channel ${outcome.channel} is already at version ${outcome.version}; nothing to do\n`,
    );
    return 0;
  },
};
