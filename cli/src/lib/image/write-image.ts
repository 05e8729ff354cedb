import type { ProgressFactory } from '../../progress.js';
import { pushImage } from '../registry/push-image.js';
import type { RegistryOptions } from '../registry/registry-client.js';
import { writeDockerArchive } from './docker-archive.js';
import type { Image, WrittenImage } from './image.js';
import { writeLayoutImage } from './layout-image.js';
import { DEFAULT_TAG, parseImageReference, type ImageReference } from './reference.js';

export interface WriteImageOptions {
  /** How to reach docker:// registries (plain HTTP, credentials, upload chunk size). */
  registry?: RegistryOptions;
  progress?: ProgressFactory;
}

/**
 * Writes an image to any supported reference: into an OCI layout (tagged), as a docker
 * save archive, or pushed to a registry. A reference without a tag gets DEFAULT_TAG.
 */
export async function writeImage(image: Image, reference: string | ImageReference, options: WriteImageOptions = {}): Promise<WrittenImage> {
  const ref = typeof reference === 'string' ? parseImageReference(reference) : reference;
  switch (ref.transport) {
    case 'oci':
      return writeLayoutImage(image, { ...ref, tag: ref.tag ?? DEFAULT_TAG }, options.progress);
    case 'docker-archive':
      return writeDockerArchive(image, ref, options.progress);
    case 'docker':
      return pushImage(image, ref, options.registry, options.progress);
  }
}
