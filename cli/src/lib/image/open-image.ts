import type { Platform } from '../../../../shared/oci.js';
import type { RegistryOptions } from '../registry/registry-client.js';
import { openDockerArchiveImage } from './docker-archive.js';
import type { Image } from './image.js';
import { openLayoutImage } from './layout-image.js';
import { parseImageReference, type ImageReference } from './reference.js';
import { openRegistryImage } from './registry-image.js';

export interface OpenImageOptions {
  /**
   * Which image to take when the reference names a multi-platform index. Without it: the
   * index's only image, else the one for linux/<arch of this Node>.
   */
  platform?: Platform;
  /** How to reach docker:// registries (plain HTTP, credentials). */
  registry?: RegistryOptions;
}

/**
 * Opens one single-platform image from any supported reference: an OCI layout, a docker
 * save archive or a registry. Manifest and config are verified now; layer bytes as they
 * are streamed.
 */
export async function openImage(reference: string | ImageReference, options: OpenImageOptions = {}): Promise<Image> {
  const ref = typeof reference === 'string' ? parseImageReference(reference) : reference;
  switch (ref.transport) {
    case 'oci':
      return openLayoutImage(ref, options.platform);
    case 'docker-archive':
      return openDockerArchiveImage(ref);
    case 'docker':
      return openRegistryImage(ref, options.platform, options.registry);
  }
}
