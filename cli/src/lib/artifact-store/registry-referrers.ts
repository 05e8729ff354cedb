import { setTimeout as sleep } from 'node:timers/promises';
import { readCapped } from '../../../../shared/capped-read.js';
import type { Digest } from '../../../../shared/digest.js';
import { isPrtiqlError, PrtiqlError } from '../../../../shared/errors.js';
import { MAX_DOCUMENT_BYTES } from '../../../../shared/limits.js';
import { parseIndex, parseJson } from '../../../../shared/oci-json.js';
import { MediaType, type Descriptor, type ImageIndex } from '../../../../shared/oci.js';
import { referrersTag } from '../../../../shared/registry-artifacts.js';
import type { RegistryClient } from '../registry/registry-client.js';
import { RegistryError } from '../registry/registry-errors.js';

/** Rounds of read, add, write before giving up on a fallback index that other writers keep replacing. */
const FALLBACK_INDEX_ROUNDS = 8;
/** First backoff between rounds; it doubles up to 32 times this. */
const BACKOFF_MS = 50;

/** The `sha256-<hex>` fallback index of `subject`, or undefined when there is none. */
async function fallbackIndex(client: RegistryClient, repository: string, subject: Digest, scopes: readonly string[]): Promise<ImageIndex | undefined> {
  const tag = referrersTag(subject);
  try {
    const { bytes } = await client.getManifest(repository, tag, scopes);
    const what = `referrers index ${client.registry}/${repository}:${tag}`;
    return parseIndex(parseJson(bytes, what), what);
  } catch (error) {
    if (isPrtiqlError(error, 'E_NOT_FOUND')) return undefined;
    throw error;
  }
}

/**
 * The artifacts of `artifactType` that refer to `subject`, oldest first where the registry
 * keeps an order: through the referrers API (OCI distribution spec 1.1), or, where the registry
 * answers it with 404 (distribution 2.8 has no such API), the `sha256-<hex>` tag fallback.
 */
export async function listReferrers(client: RegistryClient, repository: string, subject: Digest, artifactType: string, scopes: readonly string[]): Promise<Descriptor[]> {
  const target = client.url(`/v2/${repository}/referrers/${subject}`);
  target.searchParams.set('artifactType', artifactType);
  const what = `listing the referrers of ${subject} in ${client.registry}/${repository}`;
  const response = await client.request(target, { method: 'GET', scopes, what, headers: { accept: MediaType.imageIndex } }, [200, 404]);
  let index: ImageIndex | undefined;
  if (response.statusCode === 200) {
    index = parseIndex(parseJson(await readCapped(response.body, MAX_DOCUMENT_BYTES, what), what), what);
  } else {
    await response.body.dump();
    index = await fallbackIndex(client, repository, subject, scopes);
  }
  // Registries may ignore the artifactType filter (they say so in OCI-Filters-Applied): filter here too.
  return (index?.manifests ?? []).filter((descriptor) => descriptor.artifactType === artifactType);
}

/** Contention on one tag: distribution answers concurrent writes with 5xx or DIGEST_INVALID now and then. */
export function isContention(error: unknown): boolean {
  return isPrtiqlError(error, 'E_NETWORK') || (error instanceof RegistryError && error.registryCode === 'DIGEST_INVALID');
}

/**
 * Adds `referrer` to the fallback index of `subject` (read, add, write), for registries
 * without the referrers API. Registries offer no conditional writes, so each round reads the
 * index back first and adds the entry again if a concurrent writer replaced the index;
 * contention is waited out with jittered backoff for a few rounds.
 */
export async function addFallbackReferrer(client: RegistryClient, repository: string, subject: Digest, referrer: Descriptor, scopes: readonly string[]): Promise<void> {
  const tag = referrersTag(subject);
  for (let round = 1; ; round++) {
    try {
      const manifests = (await fallbackIndex(client, repository, subject, scopes))?.manifests ?? [];
      if (manifests.some((descriptor) => descriptor.digest === referrer.digest)) return;
      if (round > FALLBACK_INDEX_ROUNDS) {
        throw new PrtiqlError('E_NETWORK', `the referrers index ${client.registry}/${repository}:${tag} kept being replaced by other writers; try again`);
      }
      const index: ImageIndex = { schemaVersion: 2, mediaType: MediaType.imageIndex, manifests: [...manifests, referrer] };
      await client.putManifest(repository, tag, Buffer.from(JSON.stringify(index)), MediaType.imageIndex, scopes);
    } catch (error) {
      if (round > FALLBACK_INDEX_ROUNDS || !isContention(error)) throw error;
    }
    await sleep(Math.random() * BACKOFF_MS * 2 ** Math.min(round, 5));
  }
}
