import { createReadStream } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ChunkHasher } from '../../../../shared/chunks.js';
import { DigestCounter, type Digest } from '../../../../shared/digest.js';
import { MediaType } from '../../../../shared/oci.js';
import type { BlobRef, ReleaseDelta, ReleaseDescriptor } from '../../../../shared/release.js';
import { silentProgress, type ProgressFactory } from '../../progress.js';
import type { Image, Layer } from '../image/image.js';
import { publishedManifest } from '../release/store-manifest.js';
import type { ArtifactStore } from '../artifact-store/artifact-store.js';
import { readDeltaRecord, writeDeltaRecord } from './delta-record.js';
import { createDeltaPlanner } from './planner.js';

export interface ImageDeltasOptions {
  base: Image;
  target: Image;
  store: ArtifactStore;
  progress?: ProgressFactory;
  /** The target's manifest as released, when the caller already knows it (saves streaming its layers). */
  targetManifest?: ReleaseDescriptor;
  /** Recompute even when the store holds a record for this pair. */
  force?: boolean;
  /** Peak memory of the delta computation, in bytes (see match-memory.ts). */
  maxMemory?: number;
}

export interface ImageDeltasResult {
  base: Digest;
  target: Digest;
  deltas: ReleaseDelta[];
  /** Target layers the base already has: the device needs nothing for them. */
  sharedLayers: Digest[];
  /** Target layers sent whole because no delta was smaller than the gzip layer. */
  fullLayers: Digest[];
  reused: boolean;
}

async function describeFile(path: string, mediaType: string): Promise<BlobRef> {
  const counter = new DigestCounter();
  const chunks = new ChunkHasher();
  for await (const chunk of createReadStream(path)) {
    counter.update(chunk);
    chunks.update(chunk);
  }
  const { chunkSize, chunks: hashes } = chunks.finish();
  return { mediaType, digest: counter.digest(), size: counter.size, chunkSize, chunks: hashes };
}

function uniqueByDiffID(layers: readonly Layer[]): Layer[] {
  const seen = new Set<Digest>();
  return layers.filter((layer) => !seen.has(layer.diffID) && seen.add(layer.diffID));
}

/**
 * Computes, uploads and records one delta for every layer of `target` that `base` lacks,
 * against all of `base`'s layers. A delta that is not smaller than the layer's gzip blob is
 * dropped: devices then fetch that layer whole. A record of the pair lets a later
 * `prtiql release` (or another CI job) reuse the deltas.
 */
export async function publishImageDeltas(options: ImageDeltasOptions): Promise<ImageDeltasResult> {
  const { base, target, store } = options;
  const progress = options.progress ?? silentProgress;
  const baseDigest = (await publishedManifest(base)).digest;
  const targetManifest = options.targetManifest ?? (await publishedManifest(target));
  const targetDigest = targetManifest.digest;
  const baseLayers = new Set(base.layers.map((layer) => layer.diffID));
  const missing = uniqueByDiffID(target.layers).filter((layer) => !baseLayers.has(layer.diffID));
  const sharedLayers = uniqueByDiffID(target.layers).filter((layer) => baseLayers.has(layer.diffID)).map((layer) => layer.diffID);

  if (!options.force) {
    const recorded = await readDeltaRecord(store, baseDigest, targetDigest);
    if (recorded) {
      const covered = new Set(recorded.map((delta) => delta.target));
      const fullLayers = missing.filter((layer) => !covered.has(layer.diffID)).map((layer) => layer.diffID);
      return { base: baseDigest, target: targetDigest, deltas: recorded, sharedLayers, fullLayers, reused: true };
    }
  }

  const workDir = await mkdtemp(join(tmpdir(), 'prtiql-delta-'));
  const planner = await createDeltaPlanner(base.layers, { workDir, progress, maxMemory: options.maxMemory });
  const deltas: ReleaseDelta[] = [];
  const fullLayers: Digest[] = [];
  try {
    for (const [i, layer] of missing.entries()) {
      const output = join(workDir, `delta-${i}`);
      const bar = progress(`Delta for layer ${layer.diffID.slice(7, 19)}`);
      const { basisLayers } = await planner.plan(layer, output);
      const blob = await describeFile(output, MediaType.delta);
      if (blob.size >= layer.descriptor.size) {
        bar.finish(`${blob.size} bytes, not smaller than the ${layer.descriptor.size}-byte layer: sent whole`);
        fullLayers.push(layer.diffID);
        continue;
      }
      await store.putBlob(blob.digest, blob.size, async () => createReadStream(output));
      deltas.push({ base: baseDigest, target: layer.diffID, basisLayers, blob });
      bar.finish(`${blob.size} bytes (${(layer.descriptor.size / Math.max(1, blob.size)).toFixed(1)}x smaller than gzip)`);
    }
  } finally {
    await planner.close();
    await rm(workDir, { recursive: true, force: true });
  }
  await writeDeltaRecord(store, baseDigest, targetManifest, deltas);
  return { base: baseDigest, target: targetDigest, deltas, sharedLayers, fullLayers, reused: false };
}
