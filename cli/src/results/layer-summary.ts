import type { Digest } from '../../../shared/digest.js';
import type { PublishedDelta, PublishedLayer } from '../lib/release/publish-release.js';

/** One layer of an image in a command result. */
export interface LayerSummary {
  /** Digest of the layer blob as stored (usually gzip). */
  digest: Digest;
  /** sha256 of the uncompressed tar. */
  diffID: Digest;
  sizeBytes: number;
  uncompressedSizeBytes: number;
}

/** One delta blob in a command result. */
export interface DeltaSummary {
  /** Manifest digest of the image the delta starts from. */
  baseDigest: Digest;
  /** diffID of the target layer it rebuilds. */
  targetLayer: Digest;
  /** Digest of the delta blob. */
  digest: Digest;
  sizeBytes: number;
  /** diffIDs of the base layers whose files it reads. */
  basisLayers: Digest[];
  /** How many times smaller the delta is than the gzip layer it replaces. */
  ratio: number;
}

export function layerSummary(layer: PublishedLayer): LayerSummary {
  return { digest: layer.digest, diffID: layer.diffID, sizeBytes: layer.size, uncompressedSizeBytes: layer.uncompressedSize };
}

export function deltaSummary(delta: PublishedDelta): DeltaSummary {
  return { baseDigest: delta.base, targetLayer: delta.target, digest: delta.digest, sizeBytes: delta.size, basisLayers: delta.basisLayers, ratio: delta.ratio };
}
