import { PrtiqlError } from '../../../../shared/errors.js';
import { MediaType, type Descriptor, type ImageIndex, type Platform } from '../../../../shared/oci.js';
import { formatPlatform, hostPlatform } from '../build/platform.js';

export const INDEX_TYPES: ReadonlySet<string> = new Set([MediaType.imageIndex, MediaType.dockerManifestList]);
export const MANIFEST_TYPES: ReadonlySet<string> = new Set([MediaType.imageManifest, MediaType.dockerManifest]);

function matches(entry: Descriptor, platform: Platform): boolean {
  return (
    entry.platform?.os === platform.os &&
    entry.platform.architecture === platform.architecture &&
    (platform.variant === undefined || entry.platform.variant === platform.variant)
  );
}

/** The images of an index: manifests, not attestations (platform unknown/unknown). */
export function indexImages(index: ImageIndex): Descriptor[] {
  return index.manifests.filter((entry) => MANIFEST_TYPES.has(entry.mediaType) && entry.platform?.os !== 'unknown');
}

/**
 * The one image of a multi-platform index for `platform`. Without a platform: the index's
 * only image, else the image for this host (linux/<arch of this Node>). Entries that are
 * no images (attestations: platform unknown/unknown) are never chosen.
 */
export function selectManifest(index: ImageIndex, platform: Platform | undefined, what: string): Descriptor {
  const images = indexImages(index);
  if (!platform && images.length === 1) return images[0];
  const wanted = platform ?? hostPlatform();
  const matching = images.filter((entry) => matches(entry, wanted));
  if (matching.length === 1) return matching[0];
  const available = images.map((entry) => (entry.platform ? formatPlatform(entry.platform) : 'unknown')).join(', ') || 'none';
  const problem = matching.length === 0 ? `has no image for ${formatPlatform(wanted)}` : `holds several images for ${formatPlatform(wanted)}; give a variant`;
  throw new PrtiqlError('E_NOT_FOUND', `${what} ${problem} (platforms: ${available}); choose one with --platform`);
}
