import { configPlatform } from '../../../../shared/oci-json.js';
import type { Platform } from '../../../../shared/oci.js';
import type { ProgressFactory } from '../../progress.js';
import { formatPlatform } from '../build/platform.js';
import type { RegistryOptions } from '../registry/registry-client.js';
import type { WrittenImage } from './image.js';
import { openImage } from './open-image.js';
import { formatImageReference, outputReference, parseImageReference } from './reference.js';
import { writeImage } from './write-image.js';

export interface CopyImageOptions {
  platform?: Platform;
  registry?: RegistryOptions;
  progress?: ProgressFactory;
}

export interface CopyImageResult extends WrittenImage {
  source: string;
  /** os/arch[/variant] of the image copied. */
  platform: string;
}

/** Copies one image between any two references (what `prtiql pull` and `prtiql push` do). */
export async function copyImage(source: string, destination: string, options: CopyImageOptions = {}): Promise<CopyImageResult> {
  const from = parseImageReference(source);
  const to = outputReference(destination);
  const image = await openImage(from, { platform: options.platform, registry: options.registry });
  const written = await writeImage(image, to, { registry: options.registry, progress: options.progress });
  return { source: formatImageReference(from), ...written, platform: formatPlatform(configPlatform(image.config)) };
}
