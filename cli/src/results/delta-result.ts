import type { Digest } from '../../../shared/digest.js';
import type { ImageDeltasResult } from '../lib/delta/image-deltas.js';
import type { Image } from '../lib/image/image.js';
import { downloadSize } from '../lib/release/download-size.js';
import { publishedDelta } from '../lib/release/publish-release.js';
import { deltaSummary, type DeltaSummary } from './layer-summary.js';

/** What `prtiql delta` reports: schemas/delta.schema.json. */
export interface DeltaOutput {
  /** Manifest digest of the base image, as the deltas name it. */
  baseDigest: Digest;
  /** Manifest digest of the target image. */
  targetDigest: Digest;
  /** Where the store records the pair (what `prtiql release` reuses). */
  location: string;
  /** True when the store already recorded the pair and nothing was computed. */
  reused: boolean;
  deltas: DeltaSummary[];
  /** Target layers the base already has. */
  sharedLayers: Digest[];
  /** Target layers sent whole: no delta was smaller than the gzip layer. */
  fullLayers: Digest[];
  /** Layer bytes a device on the base downloads for the target. */
  downloadBytes: number;
  /** Layer bytes of the whole target image. */
  fullBytes: number;
}

export function deltaOutput(result: ImageDeltasResult, base: Image, target: Image, location: string): DeltaOutput {
  const layers = target.layers.map((layer) => ({ diffID: layer.diffID, size: layer.descriptor.size }));
  const layerSizes = new Map(layers.map((layer) => [layer.diffID, layer.size]));
  const baseLayers = new Set(base.layers.map((layer) => layer.diffID));
  return {
    baseDigest: result.base,
    targetDigest: result.target,
    location,
    reused: result.reused,
    deltas: result.deltas.map((delta) => deltaSummary(publishedDelta(delta, layerSizes))),
    sharedLayers: result.sharedLayers,
    fullLayers: result.fullLayers,
    ...downloadSize(layers, result.deltas, result.base, baseLayers),
  };
}
