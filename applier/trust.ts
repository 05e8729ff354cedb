import { readFile } from 'node:fs/promises';
import { openEnvelope, parseEnvelope } from '../shared/dsse.js';
import { PrtiqlError } from '../shared/errors.js';
import { MediaType } from '../shared/oci.js';
import { loadTrustRoot, type LoadedTrustRoot } from '../shared/trust-root.js';
import { replaceFileDurably } from './durable.js';
import { STORE_LAYOUT, type Store } from './store.js';

async function readOptional(path: string): Promise<Buffer | null> {
  try {
    return await readFile(path);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw error;
  }
}

async function readGiven(path: string): Promise<Buffer> {
  try {
    return await readFile(path);
  } catch (error) {
    throw new PrtiqlError('E_NOT_FOUND', `cannot read trust root ${path}: ${(error as NodeJS.ErrnoException).code ?? String(error)}`);
  }
}

/**
 * Accepts `candidate` as the successor of `pinned` only if it is newer and signed by a
 * threshold of the pinned keys (its own keys have already signed it in loadTrustRoot).
 */
function checkSuccessor(pinned: LoadedTrustRoot, candidate: LoadedTrustRoot, bytes: Buffer): void {
  if (candidate.root.version <= pinned.root.version) {
    throw new PrtiqlError(
      'E_ROLLBACK',
      `trust root version ${candidate.root.version} differs from the pinned version ${pinned.root.version} and is not newer`,
    );
  }
  const envelope = parseEnvelope(JSON.parse(bytes.toString('utf8')), 'trust root');
  openEnvelope(envelope, MediaType.trustRoot, pinned.keys, pinned.root.threshold, `trust root version ${candidate.root.version}`);
}

/**
 * The trust root this update verifies against. Trust on first use: the first update pins
 * the file given with --trust into trust/root.json. Afterwards the pinned root decides;
 * --trust may be left out, and a different file is accepted only as a signed successor
 * (newer, signed by the pinned keys and its own), which then replaces the pinned one.
 */
export async function pinnedTrustRoot(store: Store, trustPath: string | undefined): Promise<LoadedTrustRoot> {
  const pinnedPath = store.path(STORE_LAYOUT.trustRoot);
  const pinnedBytes = await readOptional(pinnedPath);
  const givenBytes = trustPath === undefined ? null : await readGiven(trustPath);
  if (!pinnedBytes) {
    if (!givenBytes) throw new PrtiqlError('E_USAGE', 'the store has no pinned trust root yet: pass --trust <root.json>');
    const given = loadTrustRoot(givenBytes);
    await replaceFileDurably(pinnedPath, givenBytes);
    return given;
  }
  const pinned = loadTrustRoot(pinnedBytes);
  if (!givenBytes || givenBytes.equals(pinnedBytes)) return pinned;
  const candidate = loadTrustRoot(givenBytes);
  checkSuccessor(pinned, candidate, givenBytes);
  await replaceFileDurably(pinnedPath, givenBytes);
  return candidate;
}
