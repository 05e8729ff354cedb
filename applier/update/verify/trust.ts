import { readFile } from 'node:fs/promises';
import { readFileCapped } from '../../../shared/capped-read.js';
import { isPrtiqlError, PrtiqlError } from '../../../shared/errors.js';
import { MAX_ROOT_BYTES } from '../../../shared/limits.js';
import { rootPath } from '../../../shared/store-layout.js';
import { loadTrustRoot, verifyRootSuccessor, type LoadedTrustRoot } from '../../../shared/trust-root.js';
import { replaceFileDurably } from '../../../filesystem/durable.js';
import type { Logger } from '../../log.js';
import { fetchSignedDocument } from '../fetch/signed-metadata.js';
import type { Source } from '../fetch/source.js';
import { STORE_LAYOUT, type DeviceStore } from '../../device-store/device-store.js';

/** Most root rotations one update follows; the rest wait for the next update. */
export const MAX_ROOT_CHAIN_STEPS = 32;

async function readOptional(path: string): Promise<Buffer | null> {
  try {
    return await readFile(path);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw error;
  }
}

/** A trust root file given with --trust. */
export interface GivenTrustRoot {
  path: string;
  bytes: Buffer;
}

/** Reads (capped) and checks the --trust file, before the store is touched. */
export async function readGivenTrustRoot(path: string): Promise<GivenTrustRoot> {
  let bytes: Buffer;
  try {
    bytes = await readFileCapped(path, MAX_ROOT_BYTES, `trust root ${path}`);
  } catch (error) {
    if (error instanceof PrtiqlError) throw error;
    throw new PrtiqlError('E_NOT_FOUND', `cannot read trust root ${path}: ${(error as NodeJS.ErrnoException).code ?? String(error)}`);
  }
  loadTrustRoot(bytes);
  return { path, bytes };
}

/** Whether the verified roots are pinned into the store, or only used (`update --check`). */
export type Pinning = 'pin' | 'read-only';

/** Pins `bytes` as the store's trust root: temporary file, fsync, rename, fsync of trust/. */
async function pin(store: DeviceStore, bytes: Uint8Array, pinning: Pinning): Promise<void> {
  if (pinning === 'pin') await replaceFileDurably(store.path(STORE_LAYOUT.trustRoot), bytes);
}

interface PinnedRoot {
  trust: LoadedTrustRoot;
  bytes: Buffer;
}

/**
 * Follows the roots the artifact store publishes (roots/<version>.json): each must be the
 * signed successor of the one before (verifyRootSuccessor) and is pinned durably before the
 * next is fetched, so a crash keeps the last verified step. A missing next root ends the chain,
 * and so does one the store refuses to show (401/403).
 */
async function followPublishedRoots(store: DeviceStore, pinned: PinnedRoot, source: Source, log: Logger, pinning: Pinning): Promise<PinnedRoot> {
  let current = pinned;
  for (let step = 0; step < MAX_ROOT_CHAIN_STEPS; step++) {
    const path = rootPath(current.trust.root.version + 1);
    let bytes: Buffer;
    try {
      bytes = await fetchSignedDocument(source, path, MAX_ROOT_BYTES, `trust root ${path}`);
    } catch (error) {
      if (isPrtiqlError(error, 'E_NOT_FOUND')) return current;
      // An S3 bucket read with GetObject alone (no ListBucket) answers 403 for a missing key.
      // Ending the chain there concedes nothing a 404 would not; a store that refuses the
      // device outright still fails on the release fetched next.
      if (isPrtiqlError(error, 'E_UNAUTHORIZED')) {
        log.info('trust.next-root-forbidden', { path, error: error.message });
        return current;
      }
      throw error;
    }
    current = { trust: verifyRootSuccessor(current.trust, bytes), bytes };
    await pin(store, bytes, pinning);
    log.info('trust.rotated', { version: current.trust.root.version, from: path });
  }
  log.warn('trust.chain-capped', { version: current.trust.root.version, steps: MAX_ROOT_CHAIN_STEPS });
  return current;
}

/**
 * The trust root this update verifies against. Trust on first use: the first update pins
 * the file given with --trust into trust/root.json. Then the roots the source publishes are
 * followed, one signed successor at a time. A --trust file that differs from the result is
 * accepted only as its signed successor (and pinned); one older than it is a provisioning
 * file the published rotations have overtaken, and is ignored. `read-only` verifies the same
 * chain without writing any of it.
 */
export async function pinnedTrustRoot(
  store: DeviceStore,
  given: GivenTrustRoot | undefined,
  source: Source,
  log: Logger,
  pinning: Pinning = 'pin',
): Promise<LoadedTrustRoot> {
  const pinnedBytes = await readOptional(store.path(STORE_LAYOUT.trustRoot));
  let pinned: PinnedRoot;
  if (pinnedBytes) {
    pinned = { trust: loadTrustRoot(pinnedBytes), bytes: pinnedBytes };
  } else {
    if (!given) throw new PrtiqlError('E_USAGE', 'the store has no pinned trust root yet: pass --trust <root.json>');
    pinned = { trust: loadTrustRoot(given.bytes), bytes: given.bytes };
    await pin(store, given.bytes, pinning);
    log.info('trust.pinned', { version: pinned.trust.root.version });
  }
  pinned = await followPublishedRoots(store, pinned, source, log, pinning);
  if (!given || given.bytes.equals(pinned.bytes)) return pinned.trust;
  const givenVersion = loadTrustRoot(given.bytes).root.version;
  if (givenVersion < pinned.trust.root.version) {
    log.info('trust.given-root-superseded', { given: givenVersion, pinned: pinned.trust.root.version });
    return pinned.trust;
  }
  const successor = verifyRootSuccessor(pinned.trust, given.bytes);
  await pin(store, given.bytes, pinning);
  log.info('trust.rotated', { version: successor.root.version, from: given.path });
  return successor;
}
