import { MAX_DOCUMENT_BYTES } from '../../../../shared/limits.js';
import { parseIndex, parseJson } from '../../../../shared/oci-json.js';
import type { Platform } from '../../../../shared/oci.js';
import { repositoryScope } from '../../../../shared/registry-auth-protocol.js';
import { RegistryClient, type RegistryOptions } from '../registry/registry-client.js';
import type { Image } from './image.js';
import { indexImages, INDEX_TYPES } from './manifest-selection.js';
import { OciLayout } from './oci-layout.js';
import { openImage, type OpenImageOptions } from './open-image.js';
import { DEFAULT_TAG, parseImageReference, type ImageReference } from './reference.js';

/** The platforms of the images a reference's index names; undefined when it names a single image. */
async function indexPlatforms(reference: ImageReference, registry: RegistryOptions | undefined): Promise<Platform[] | undefined> {
  let index: { bytes: Uint8Array; what: string } | undefined;
  if (reference.transport === 'oci') {
    const layout = await OciLayout.open(reference.path);
    const descriptor = await layout.resolveTag(reference.tag ?? DEFAULT_TAG);
    if (INDEX_TYPES.has(descriptor.mediaType)) index = { bytes: await layout.readBlob(descriptor, MAX_DOCUMENT_BYTES), what: `image index ${descriptor.digest}` };
  } else if (reference.transport === 'docker') {
    const client = new RegistryClient(reference.registry, registry);
    const fetched = await client.getManifest(reference.repository, reference.digest ?? reference.tag ?? DEFAULT_TAG, [repositoryScope(reference.repository, 'pull')]);
    if (INDEX_TYPES.has(fetched.mediaType)) index = { bytes: fetched.bytes, what: `image index ${fetched.digest}` };
  }
  if (!index) return undefined;
  return indexImages(parseIndex(parseJson(index.bytes, index.what), index.what)).flatMap((entry) => (entry.platform ? [entry.platform] : []));
}

/**
 * Every image a reference names: each platform's image when it names a multi-platform index
 * (and no platform is chosen), else the one image openImage picks.
 */
export async function openPlatformImages(reference: string, options: OpenImageOptions = {}): Promise<Image[]> {
  const ref = parseImageReference(reference);
  const platforms = options.platform ? undefined : await indexPlatforms(ref, options.registry);
  if (!platforms || platforms.length < 2) return [await openImage(ref, options)];
  const images: Image[] = [];
  for (const platform of platforms) images.push(await openImage(ref, { ...options, platform }));
  return images;
}
