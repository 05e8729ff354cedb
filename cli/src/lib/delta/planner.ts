import { createWriteStream } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import pLimit, { type LimitFunction } from 'p-limit';
import type { DeltaHeader, DeltaOp, PatchOp } from '../../../../shared/delta/format.js';
import { encodeDelta } from '../../../../shared/delta/writer.js';
import type { Digest } from '../../../../shared/digest.js';
import { PrtiqlError } from '../../../../shared/errors.js';
import { silentProgress, type ProgressFactory } from '../../progress.js';
import type { Layer } from '../image/image.js';
import { BasisIndex, type BasisEntryRef } from './basis-index.js';
import { blockMatch } from './block-match.js';
import { BSDIFF_MAX_INPUT_BYTES } from './bsdiff.js';
import { bsdiffIfItPays } from './bsdiff-choice.js';
import { coalesceOps } from './coalesce-ops.js';
import { indexLayer, type IndexedEntry, type IndexedLayer, type TarRange } from './layer-index.js';
import { TarFiles } from './tar-files.js';

/** bsdiff runs at once; each may take up to about 1.1 GiB (see BSDIFF_MAX_INPUT_BYTES). */
export const DEFAULT_BSDIFF_WORKERS = 2;
/** Base files concatenated into one bsdiff input, so that a new file can copy from several. */
const MAX_CANDIDATES = 3;

export type DeltaLayer = Pick<Layer, 'diffID' | 'openUncompressed'>;

export interface DeltaPlannerOptions {
  /** Scratch space: the planner keeps the base layers' tars there until `close`. */
  workDir: string;
  progress?: ProgressFactory;
  bsdiffWorkers?: number;
}

/** How the target's bytes were sent. */
export interface DeltaStats {
  copiedBytes: number;
  patchedBytes: number;
  literalBytes: number;
  /** Regular files with content, by how their content was encoded. */
  files: { identical: number; bsdiff: number; bsdiffNotWorthIt: number; blockMatched: number; literal: number };
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

/** One step of the target, decided before any bsdiff runs. Ranges are of the saved tars. */
type PlanItem =
  | { kind: 'copy'; layer: number; range: TarRange }
  | { kind: 'literal'; range: TarRange }
  /** Header bytes of equal length: sent as their bytewise difference to the old ones. */
  | { kind: 'header'; layer: number; old: TarRange; next: TarRange }
  | { kind: 'bsdiff'; candidates: BasisEntryRef[]; next: TarRange }
  | { kind: 'blocks'; candidate: BasisEntryRef; next: TarRange };

function emptyStats(): DeltaStats {
  return { copiedBytes: 0, patchedBytes: 0, literalBytes: 0, files: { identical: 0, bsdiff: 0, bsdiffNotWorthIt: 0, blockMatched: 0, literal: 0 } };
}

/**
 * Indexes the base image's layers once (each saved to `workDir`) and then writes deltas for
 * target layers against all of them. Memory: the indexes, one op at a time, and the results
 * of at most `bsdiffWorkers + 1` bsdiff runs, plus what the running bsdiffs take.
 */
export async function createDeltaPlanner(base: readonly DeltaLayer[], options: DeltaPlannerOptions): Promise<DeltaPlanner> {
  const dir = await mkdtemp(join(options.workDir, 'planner-'));
  const files = new TarFiles();
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
    const context = { layers, index: new BasisIndex(layers), files, dir, workers: options.bsdiffWorkers ?? DEFAULT_BSDIFF_WORKERS };
    let targets = 0;
    return {
      plan: (target, output) => planLayer(context, target, output, join(dir, `target-${targets++}.tar`)),
      close: async () => {
        await files.close();
        await rm(dir, { recursive: true, force: true });
      },
    };
  } catch (error) {
    await files.close();
    await rm(dir, { recursive: true, force: true });
    throw error;
  }
}

interface PlannerContext {
  layers: IndexedLayer[];
  index: BasisIndex;
  files: TarFiles;
  dir: string;
  workers: number;
}

async function planLayer(context: PlannerContext, target: DeltaLayer, output: string, tarPath: string): Promise<DeltaPlanResult> {
  try {
    const indexed = await indexLayer(await target.openUncompressed(), tarPath);
    if (indexed.diffID !== target.diffID) {
      throw new PrtiqlError('E_DIGEST_MISMATCH', `target layer ${target.diffID} has diffID ${indexed.diffID}`);
    }
    const stats = emptyStats();
    const items = await planItems(context, indexed, stats);
    const used = usedLayers(items);
    const basisOf = new Map(used.map((layer, basis) => [layer, basis]));
    const header: DeltaHeader = {
      target: { diffID: indexed.diffID, size: indexed.size },
      bases: used.map((layer) => ({ kind: 'tar', layer: context.layers[layer]!.diffID, size: context.layers[layer]!.size })),
    };
    const ops = counted(coalesceOps(emitOps(context, indexed, items, basisOf, stats)), stats);
    await pipeline(encodeDelta(header, ops), createWriteStream(output));
    return { target: header.target, basisLayers: header.bases.map((basis) => basis.layer), stats };
  } finally {
    await rm(tarPath, { force: true });
  }
}

function usedLayers(items: readonly PlanItem[]): number[] {
  const used = new Set<number>();
  for (const item of items) {
    if (item.kind === 'copy' || item.kind === 'header') used.add(item.layer);
    else if (item.kind === 'bsdiff') item.candidates.forEach((candidate) => used.add(candidate.layer));
    else if (item.kind === 'blocks') used.add(item.candidate.layer);
  }
  return [...used].sort((a, b) => a - b);
}

async function planItems(context: PlannerContext, target: IndexedLayer, stats: DeltaStats): Promise<PlanItem[]> {
  const { layers, index } = context;
  const items: PlanItem[] = [];
  const following = (ref: BasisEntryRef | undefined): BasisEntryRef | undefined => {
    const entry = ref && layers[ref.layer]!.entries[ref.position + 1];
    return entry && { layer: ref.layer, position: ref.position + 1, entry };
  };
  // A new path's header is diffed against the old entry after the previous one's basis: in
  // sorted trees that is its neighbour, with mostly the same header fields.
  let previous: BasisEntryRef | undefined;
  for (const entry of target.entries) {
    const old = index.entryAt(entry.path) ?? following(previous) ?? previous;
    if (old) previous = old;
    items.push(...(await headerItems(context, target, entry.segment, old && { layer: old.layer, range: old.entry.segment })));
    if (entry.type === 'file' && entry.content.length > 0) items.push(contentItem(index, entry, stats));
  }
  const top = layers.length - 1;
  items.push(...(await headerItems(context, target, target.tail, top >= 0 ? { layer: top, range: layers[top]!.tail } : undefined)));
  return items;
}

/**
 * New header bytes against old ones, aligned at their ends (a segment starts with the previous
 * entry's padding, whose length varies): equal bytes are copied, different bytes of equal
 * length sent as their difference, what the new segment has in front sent literally.
 */
async function headerItems(context: PlannerContext, target: IndexedLayer, next: TarRange, old: { layer: number; range: TarRange } | undefined): Promise<PlanItem[]> {
  const length = Math.min(next.length, old?.range.length ?? 0);
  const front = next.length - length;
  const items: PlanItem[] = front > 0 ? [{ kind: 'literal', range: { offset: next.offset, length: front } }] : [];
  if (old === undefined || length === 0) return items;
  const oldEnd = { offset: old.range.offset + old.range.length - length, length };
  const nextEnd = { offset: next.offset + front, length };
  const [oldBytes, nextBytes] = await Promise.all([
    context.files.read(context.layers[old.layer]!.tarPath, oldEnd.offset, length),
    context.files.read(target.tarPath, nextEnd.offset, length),
  ]);
  items.push(oldBytes.equals(nextBytes) ? { kind: 'copy', layer: old.layer, range: oldEnd } : { kind: 'header', layer: old.layer, old: oldEnd, next: nextEnd });
  return items;
}

/** Identical content anywhere, else bsdiff against similar files, else the cheaper method, else literal. */
function contentItem(index: BasisIndex, entry: IndexedEntry, stats: DeltaStats): PlanItem {
  const identical = [index.fileAt(entry.path)].find((ref) => ref?.entry.sha256 === entry.sha256) ?? index.identical(entry.sha256!);
  if (identical) {
    stats.files.identical++;
    return { kind: 'copy', layer: identical.layer, range: identical.entry.content };
  }
  const candidates = index.candidates(entry.path, entry.content.length, MAX_CANDIDATES);
  if (candidates.length === 0) {
    stats.files.literal++;
    return { kind: 'literal', range: entry.content };
  }
  let budget = BSDIFF_MAX_INPUT_BYTES - entry.content.length;
  const fitting = candidates.filter((ref) => (budget -= ref.entry.content.length) >= 0);
  if (fitting.length === 0) {
    stats.files.blockMatched++;
    return { kind: 'blocks', candidate: candidates[0]!, next: entry.content };
  }
  return { kind: 'bsdiff', candidates: fitting, next: entry.content };
}

async function* emitOps(
  context: PlannerContext,
  target: IndexedLayer,
  items: readonly PlanItem[],
  basisOf: ReadonlyMap<number, number>,
  stats: DeltaStats,
): AsyncGenerator<DeltaOp> {
  const { files, layers } = context;
  const saved = (range: TarRange) => ({ tarPath: target.tarPath, range });
  const literal = async function* (range: TarRange): AsyncGenerator<DeltaOp> {
    for await (const bytes of files.stream([saved(range)])) yield { type: 'literal', bytes };
  };
  const bsdiffs = new BsdiffQueue(context, target, items, basisOf);
  try {
    for (const [position, item] of items.entries()) {
      bsdiffs.startAhead();
      switch (item.kind) {
        case 'copy':
          yield { type: 'copy', basis: basisOf.get(item.layer)!, offset: item.range.offset, length: item.range.length };
          break;
        case 'literal':
          yield* literal(item.range);
          break;
        case 'header': {
          const old = await files.read(layers[item.layer]!.tarPath, item.old.offset, item.old.length);
          const diff = await files.read(target.tarPath, item.next.offset, item.next.length);
          for (let i = 0; i < diff.length; i++) diff[i] = (diff[i]! - old[i]!) & 0xff;
          yield { type: 'patch', window: [{ basis: basisOf.get(item.layer)!, ...item.old }], start: 0, triples: [{ diff, extra: Buffer.alloc(0), seek: 0 }] };
          break;
        }
        case 'bsdiff': {
          const patch = await bsdiffs.take(position);
          if (patch) stats.files.bsdiff++;
          else stats.files.bsdiffNotWorthIt++;
          if (patch) yield patch;
          else yield* literal(item.next);
          break;
        }
        case 'blocks': {
          const old = item.candidate;
          const oldTar = layers[old.layer]!.tarPath;
          const readOld = (offset: number, length: number) => files.read(oldTar, old.entry.content.offset + offset, length);
          const readNew = (offset: number, length: number) => files.read(target.tarPath, item.next.offset + offset, length);
          for await (const piece of blockMatch(readOld, old.entry.content.length, readNew, item.next.length)) {
            if (piece.kind === 'copy') {
              yield { type: 'copy', basis: basisOf.get(old.layer)!, offset: old.entry.content.offset + piece.oldOffset, length: piece.length };
            } else {
              yield* literal({ offset: item.next.offset + piece.newOffset, length: piece.length });
            }
          }
          break;
        }
      }
    }
  } finally {
    await bsdiffs.settle();
  }
}

/**
 * Runs the bsdiff items on `workers` parallel bsdiffs, starting them ahead of the op being
 * written but never more than `workers + 1` at once: finished patches wait in memory for
 * their turn, so the lookahead bounds that memory.
 */
class BsdiffQueue {
  private readonly limit: LimitFunction;
  /** Positions of bsdiff items not started yet, the next one last. */
  private readonly pending: number[];
  private readonly started = new Map<number, Promise<PatchOp | undefined>>();

  constructor(
    private readonly context: PlannerContext,
    private readonly target: IndexedLayer,
    private readonly items: readonly PlanItem[],
    private readonly basisOf: ReadonlyMap<number, number>,
  ) {
    this.limit = pLimit(context.workers);
    this.pending = items.flatMap((item, position) => (item.kind === 'bsdiff' ? [position] : [])).reverse();
  }

  startAhead(): void {
    while (this.pending.length > 0 && this.started.size <= this.context.workers) {
      const position = this.pending.pop()!;
      const run = this.limit(() => this.run(this.items[position] as Extract<PlanItem, { kind: 'bsdiff' }>));
      run.catch(() => {
        // awaited by take(); this keeps an early failure from being reported as unhandled
      });
      this.started.set(position, run);
    }
  }

  async take(position: number): Promise<PatchOp | undefined> {
    this.startAhead();
    const run = this.started.get(position)!;
    this.started.delete(position);
    return run;
  }

  async settle(): Promise<void> {
    await Promise.allSettled(this.started.values());
  }

  private run(item: Extract<PlanItem, { kind: 'bsdiff' }>): Promise<PatchOp | undefined> {
    const { layers, files, dir } = this.context;
    const old = item.candidates.map((ref) => ({ tarPath: layers[ref.layer]!.tarPath, range: ref.entry.content }));
    const window = item.candidates.map((ref) => ({ basis: this.basisOf.get(ref.layer)!, ...ref.entry.content }));
    return bsdiffIfItPays(files, { old, window, next: { tarPath: this.target.tarPath, range: item.next } }, dir);
  }
}

/** Counts what each op sends, as it passes to the writer. */
async function* counted(ops: AsyncIterable<DeltaOp>, stats: DeltaStats): AsyncGenerator<DeltaOp> {
  for await (const op of ops) {
    if (op.type === 'copy') stats.copiedBytes += op.length;
    else if (op.type === 'literal') stats.literalBytes += op.bytes.byteLength;
    else stats.patchedBytes += op.triples.reduce((sum, triple) => sum + triple.diff.length + triple.extra.length, 0);
    yield op;
  }
}
