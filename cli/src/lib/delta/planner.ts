import { createWriteStream } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import type { DeltaHeader, DeltaOp } from '../../../../shared/delta/format.js';
import { basisLayers } from '../../../../shared/delta/header.js';
import { encodeDelta } from '../../../../shared/delta/writer.js';
import type { Digest } from '../../../../shared/digest.js';
import { PrtiqlError } from '../../../../shared/errors.js';
import { TAR_BLOCK_SIZE } from '../../../../shared/tar/split.js';
import { silentProgress, type ProgressFactory } from '../../progress.js';
import type { Layer } from '../image/image.js';
import { BasisIndex } from './basis-index.js';
import { coalesceOps } from './coalesce-ops.js';
import { inflatedBases } from './deflate-members.js';
import { emitOps, type EmitContext } from './emit-ops.js';
import { indexLayer, type IndexedLayer } from './layer-index.js';
import { DEFAULT_MAX_MEMORY, matchingBudget } from './match-memory.js';
import { MatchPool } from './match-pool.js';
import { planItems, usedLayers, type FileCounts } from './plan-items.js';
import { TarFiles } from './tar-files.js';

/** Match workers: one per core, at most two (the writer's brotli needs a core too). */
const DEFAULT_MATCH_WORKERS = Math.min(2, availableParallelism());

export type DeltaLayer = Pick<Layer, 'diffID' | 'openUncompressed'>;

export interface DeltaPlannerOptions {
  /** Scratch space: the planner keeps the base layers' tars there until `close`. */
  workDir: string;
  progress?: ProgressFactory;
  /** Peak memory of the whole command, in bytes (default DEFAULT_MAX_MEMORY): matching is scheduled within it. */
  maxMemory?: number;
  matchWorkers?: number;
}

/** How the target's bytes were sent. */
export interface DeltaStats {
  copiedBytes: number;
  patchedBytes: number;
  /** Of patchedBytes, those written by XPATCHes. */
  predictedBytes: number;
  literalBytes: number;
  /** Written by deflate members (their compressed size). */
  deflatedBytes: number;
  /** Tar headers made from an old header with a new size (TAR HEADER operations); their bytes count as patched. */
  resizedHeaders: number;
  /** Regular files with content, by how their content was encoded. */
  files: FileCounts;
}

export interface DeltaPlanResult {
  target: { diffID: Digest; size: number };
  /** diffIDs of the base layers the delta reads (its basis table), bottom first. */
  basisLayers: Digest[];
  stats: DeltaStats;
}

export interface DeltaPlanner {
  /** Writes the delta that rebuilds `target` from the base layers to `output`. */
  plan(target: DeltaLayer, output: string): Promise<DeltaPlanResult>;
  close(): Promise<void>;
}

function emptyStats(): DeltaStats {
  return {
    copiedBytes: 0,
    patchedBytes: 0,
    predictedBytes: 0,
    literalBytes: 0,
    deflatedBytes: 0,
    resizedHeaders: 0,
    files: { identical: 0, patched: 0, referencesPredicted: 0, lzMatched: 0, literalCheaper: 0, literal: 0, deflateMember: 0 },
  };
}

/**
 * Indexes the base image's layers once (each saved to `workDir`) and then writes deltas for
 * target layers against all of them. Memory: the indexes, one op at a time, and the matching
 * of changed files, which a pool of workers schedules within `maxMemory` (match-memory.ts).
 */
export async function createDeltaPlanner(base: readonly DeltaLayer[], options: DeltaPlannerOptions): Promise<DeltaPlanner> {
  const dir = await mkdtemp(join(options.workDir, 'planner-'));
  const files = new TarFiles();
  const matchBudget = matchingBudget(options.maxMemory ?? DEFAULT_MAX_MEMORY);
  const pool = new MatchPool(options.matchWorkers ?? DEFAULT_MATCH_WORKERS, matchBudget);
  const progress = options.progress ?? silentProgress;
  try {
    const layers: IndexedLayer[] = [];
    for (const [i, layer] of base.entries()) {
      const bar = progress(`Indexing base layer ${layer.diffID.slice(7, 19)}`);
      const indexed = await indexLayer(await layer.openUncompressed(), join(dir, `base-${i}.tar`), (n) => bar.advance(n));
      if (indexed.diffID !== layer.diffID) {
        throw new PrtiqlError('E_DIGEST_MISMATCH', `base layer ${layer.diffID} has diffID ${indexed.diffID}`);
      }
      bar.finish(`${indexed.entries.length} entries`);
      layers.push(indexed);
    }
    const context = { layers, index: new BasisIndex(layers), files, matchBudget, pool };
    let targets = 0;
    return {
      plan: (target, output) => planLayer(context, target, output, join(dir, `target-${targets++}.tar`)),
      close: async () => {
        await pool.close();
        await files.close();
        await rm(dir, { recursive: true, force: true });
      },
    };
  } catch (error) {
    await pool.close();
    await files.close();
    await rm(dir, { recursive: true, force: true });
    throw error;
  }
}

type PlannerContext = Omit<EmitContext, 'target' | 'basisOf' | 'memberBasisOf'>;

async function planLayer(context: PlannerContext, target: DeltaLayer, output: string, tarPath: string): Promise<DeltaPlanResult> {
  try {
    const indexed = await indexLayer(await target.openUncompressed(), tarPath);
    if (indexed.diffID !== target.diffID) {
      throw new PrtiqlError('E_DIGEST_MISMATCH', `target layer ${target.diffID} has diffID ${indexed.diffID}`);
    }
    const stats = emptyStats();
    const items = await planItems(context, indexed, stats.files);
    const used = usedLayers(items);
    const basisOf = new Map(used.map((layer, basis) => [layer, basis]));
    const members = inflatedBases(items, context.layers, used.length);
    const header: DeltaHeader = {
      target: { diffID: indexed.diffID, size: indexed.size },
      bases: [...used.map((layer) => ({ kind: 'tar' as const, layer: context.layers[layer]!.diffID, size: context.layers[layer]!.size })), ...members.bases],
    };
    const ops = counted(coalesceOps(emitOps({ ...context, target: indexed, basisOf, memberBasisOf: members.indexOf }, items, stats.files)), stats);
    await pipeline(encodeDelta(header, ops), createWriteStream(output));
    return { target: header.target, basisLayers: basisLayers(header), stats };
  } finally {
    await rm(tarPath, { force: true });
  }
}

/** Counts what each op sends, as it passes to the writer. */
async function* counted(ops: AsyncIterable<DeltaOp>, stats: DeltaStats): AsyncGenerator<DeltaOp> {
  for await (const op of ops) {
    if (op.type === 'copy') stats.copiedBytes += op.length;
    else if (op.type === 'literal') stats.literalBytes += op.bytes.byteLength;
    else if (op.type === 'deflate') stats.deflatedBytes += op.compressedSize;
    else if (op.type === 'tarHeader') {
      stats.resizedHeaders++;
      stats.patchedBytes += TAR_BLOCK_SIZE;
    }
    else {
      const written = op.triples.reduce((sum, triple) => sum + triple.diff.length + triple.extra.length, 0);
      stats.patchedBytes += written;
      if (op.type === 'xpatch') stats.predictedBytes += written;
    }
    yield op;
  }
}
