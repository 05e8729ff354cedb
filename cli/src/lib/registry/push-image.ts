import { Readable } from 'node:stream';
import type { Digest } from '../../../../shared/digest.js';
import { PrtiqlError } from '../../../../shared/errors.js';
import { MediaType } from '../../../../shared/oci.js';
import { repositoryScope } from '../../../../shared/registry-auth-protocol.js';
import { silentProgress, type ProgressFactory } from '../../progress.js';
import type { BlobCounts, Image, WrittenImage } from '../image/image.js';
import { DEFAULT_TAG, formatImageReference, type RegistryReference } from '../image/reference.js';
import { layerOrigin } from '../image/registry-image.js';
import { pushBlob, type BlobToPush } from './blob-upload.js';
import { RegistryClient, type RegistryOptions } from './registry-client.js';

/** The other repositories of the target registry that hold some of the image's layers. */
function mountSources(image: Image, reference: RegistryReference): Map<Digest, string> {
  const sources = new Map<Digest, string>();
  for (const layer of image.layers) {
    const origin = layerOrigin(layer);
    if (origin && origin.registry === reference.registry && origin.repository !== reference.repository) {
      sources.set(layer.descriptor.digest, origin.repository);
    }
  }
  return sources;
}

/**
 * Pushes an image to a registry: every layer blob, then the config, and the manifest last,
 * byte for byte (its digest is kept). Blobs the repository has are skipped after a HEAD;
 * layers read from another repository of the same registry are mounted, not uploaded.
 */
export async function pushImage(image: Image, reference: RegistryReference, options: RegistryOptions = {}, progress: ProgressFactory = silentProgress): Promise<WrittenImage> {
  if (reference.digest && reference.digest !== image.manifestDigest) {
    throw new PrtiqlError('E_BAD_REFERENCE', `cannot push manifest ${image.manifestDigest} as ${formatImageReference(reference)}: the digests differ`);
  }
  const client = new RegistryClient(reference.registry, options);
  const sources = mountSources(image, reference);
  const scopes = [repositoryScope(reference.repository, 'pull,push'), ...[...new Set(sources.values())].map((source) => repositoryScope(source, 'pull'))];
  const blobs: BlobCounts = { written: 0, skipped: 0, mounted: 0 };
  const pushed = new Set<Digest>();
  const push = async (blob: BlobToPush, label: string, mountFrom?: string) => {
    if (pushed.has(blob.digest)) return;
    pushed.add(blob.digest);
    const outcome = await pushBlob(client, reference.repository, blob, { scopes, mountFrom, progress: (total) => progress(label, total) });
    blobs[outcome]++;
  };

  for (const [i, layer] of image.layers.entries()) {
    const { digest, size } = layer.descriptor;
    await push({ digest, size, open: () => layer.openCompressed() }, `Pushing layer ${i + 1}/${image.layers.length}`, sources.get(digest));
  }
  const { digest, size } = image.manifest.config;
  await push({ digest, size, open: async () => Readable.from([image.configBytes]) }, 'Pushing config');

  const tag = reference.tag ?? reference.digest ?? DEFAULT_TAG;
  await client.putManifest(reference.repository, tag, image.manifestBytes, image.manifest.mediaType ?? MediaType.imageManifest, scopes);
  const written = reference.digest ? reference : { ...reference, tag };
  return { reference: formatImageReference(written), manifestDigest: image.manifestDigest, blobs };
}
