import type { Digest } from '../../../../shared/digest.js';
import type { ReleaseDelta } from '../../../../shared/release.js';

/** A target layer: its diffID and the size of its gzip blob. */
export interface SizedLayer {
  diffID: Digest;
  size: number;
}

/** What a device running one base image downloads for a target image, against the whole image. */
export interface DownloadSize {
  /** Layer bytes the device fetches: nothing for layers it has, the smallest delta from its base, else the gzip layer. */
  downloadBytes: number;
  /** Layer bytes of the whole target image: what a device without a usable base fetches. */
  fullBytes: number;
}

/**
 * The layer bytes a device on `base` (whose layers are `baseLayers`) fetches to install the
 * target, choosing as the applier does: a layer it has costs nothing, else the smallest delta
 * from its base to that layer, else the gzip layer. Manifest and config (a few KB) are not counted.
 */
export function downloadSize(layers: readonly SizedLayer[], deltas: readonly ReleaseDelta[], base: Digest, baseLayers: ReadonlySet<Digest>): DownloadSize {
  const sizes = new Map(layers.map((layer) => [layer.diffID, layer.size]));
  let downloadBytes = 0;
  let fullBytes = 0;
  for (const [diffID, size] of sizes) {
    fullBytes += size;
    if (baseLayers.has(diffID)) continue;
    const deltaSizes = deltas.filter((delta) => delta.base === base && delta.target === diffID).map((delta) => delta.blob.size);
    downloadBytes += Math.min(size, ...deltaSizes);
  }
  return { downloadBytes, fullBytes };
}
