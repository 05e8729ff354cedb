import type { Digest } from '../../../shared/digest.js';
import { formatPlatform } from '../../../shared/platform.js';
import type { BuildResult } from '../lib/build/build-image.js';
import type { MultiPlatformBuildResult } from '../lib/dockerfile/build-dockerfile.js';
import { layerSummary, type LayerSummary } from './layer-summary.js';

/** One platform's image in a result: schemas/build.schema.json. */
export interface ImageSummary {
  /** os/arch[/variant]. */
  platform: string;
  /** Manifest digest. */
  digest: Digest;
  configDigest: Digest;
  layers: LayerSummary[];
}

/** What `prtiql build` reports: schemas/build.schema.json. */
export interface BuildOutput {
  /** `<written reference>@<digest>`. */
  reference: string;
  /** Digest of the manifest, or of the image index for a multi-platform build. */
  digest: Digest;
  mediaType: string;
  /** Every platform's image (one for a single-platform build). */
  images: ImageSummary[];
}

function imageSummary(image: Omit<BuildResult, 'reference'>): ImageSummary {
  return { platform: formatPlatform(image.platform), digest: image.manifest.digest, configDigest: image.config.digest, layers: image.layers.map(layerSummary) };
}

export function buildOutput(result: BuildResult | MultiPlatformBuildResult): BuildOutput {
  const top = 'index' in result ? result.index : result.manifest;
  const images = 'index' in result ? result.images : [result];
  return { reference: `${result.reference}@${top.digest}`, digest: top.digest, mediaType: top.mediaType, images: images.map(imageSummary) };
}
