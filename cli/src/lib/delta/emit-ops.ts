import pLimit, { type LimitFunction } from 'p-limit';
import type { BasisRange, DeltaOp, PatchOp } from '../../../../shared/delta/format.js';
import type { Architecture } from '../../../../shared/delta/reference-prediction.js';
import { blockMatch } from './block-match.js';
import { chooseEncoding, type ContentEncoding } from './bsdiff-choice.js';
import { memberContentOps, type MemberItem } from './deflate-members.js';
import type { IndexedLayer, TarRange } from './layer-index.js';
import { PatchBuilder } from './patch-builder.js';
import { compactWindow, replay } from './patch-window.js';
import { predictReferences } from './predict-references.js';
import { headerItems, type BsdiffItem, type FileCounts, type HeaderPlan, type PlanItem, type PlanSources } from './plan-items.js';

export interface EmitContext extends PlanSources {
  target: IndexedLayer;
  /** Delta basis index of each base layer the items use. */
  basisOf: ReadonlyMap<number, number>;
  /** Delta basis index of each old deflate member read inflated (see deflate-members.ts). */
  memberBasisOf: ReadonlyMap<string, number>;
  scratchDir: string;
  workers: number;
}

/**
 * Turns plan items into delta operations in target order, running bsdiffs on `workers` in
 * parallel ahead of the op being written. Content is read from the saved tars in pieces.
 */
export async function* emitOps(context: EmitContext, items: readonly PlanItem[], counts: FileCounts): AsyncGenerator<DeltaOp> {
  const emitter = new Emitter(context);
  const bsdiffs = new BsdiffQueue(context, items);
  try {
    for (const [position, item] of items.entries()) {
      bsdiffs.startAhead();
      if (item.kind === 'member') {
        for (const headerItem of headerItems(item.header)) yield* emitter.item(headerItem);
        yield* await memberContentOps(context, item, counts);
        continue;
      }
      if (item.kind !== 'bsdiff') {
        yield* emitter.item(item);
        continue;
      }
      const encoding = await bsdiffs.take(position);
      if (encoding.kind === 'patch') {
        counts.bsdiff++;
        if (encoding.predict) counts.referencesPredicted++;
        yield* emitter.withHeader(item.header, encoding.op, encoding.predict);
        continue;
      }
      for (const headerItem of headerItems(item.header)) yield* emitter.item(headerItem);
      if (encoding.kind === 'matches') {
        counts.lzMatched++;
        yield* encoding.ops;
      } else {
        counts.bsdiffNotWorthIt++;
        yield* emitter.literal(item.next);
      }
    }
  } finally {
    await bsdiffs.settle();
  }
}

class Emitter {
  constructor(private readonly context: EmitContext) {}

  async *item(item: Exclude<PlanItem, BsdiffItem | MemberItem>): AsyncGenerator<DeltaOp> {
    switch (item.kind) {
      case 'copy':
        yield { type: 'copy', ...this.range(item.layer, item.range) };
        break;
      case 'literal':
        yield* this.literal(item.range);
        break;
      case 'header': {
        const { copy, window, diff } = await this.headerDifference(item.layer, item.old, item.next);
        if (copy) yield copy;
        yield { type: 'patch', window: [window], start: 0, triples: [{ diff, extra: Buffer.alloc(0), seek: 0 }] };
        break;
      }
      case 'blocks':
        yield* this.blocks(item);
        break;
    }
  }

  async *literal(range: TarRange): AsyncGenerator<DeltaOp> {
    for await (const bytes of this.context.files.stream([{ tarPath: this.context.target.tarPath, range }])) yield { type: 'literal', bytes };
  }

  /**
   * One PATCH for a file and its header: the header's difference first, then bsdiff's
   * steps. Header bytes before the first difference are copied instead, so that the patch
   * starts at a difference (a new segment's front, if any, is literal before them). With
   * `predict`, the patch becomes an XPATCH over its final window.
   */
  async *withHeader(header: HeaderPlan, patch: PatchOp, predict?: Architecture): AsyncGenerator<DeltaOp> {
    const builder = new PatchBuilder();
    const window: BasisRange[] = [];
    const front = header.front && (await this.read(this.context.target, header.front));
    const aligned = header.aligned && (await this.headerDifference(header.aligned.layer, header.aligned.old, header.aligned.next));
    if (aligned?.copy) {
      if (front) yield { type: 'literal', bytes: front };
      yield aligned.copy;
    } else if (front) builder.extra(front);
    if (aligned && aligned.diff.length > 0) {
      window.push(aligned.window);
      builder.add(0, aligned.diff);
    }
    const shift = aligned?.diff.length ?? 0;
    replay(builder, patch, (position) => position + shift);
    // End at the end of the first candidate, the file this one replaces: the next op usually goes on from there.
    const op = compactWindow({ type: 'patch', window: [...window, ...patch.window], ...builder.finish(shift + patch.window[0]!.length) });
    yield predict ? predictReferences(op, await this.windowBytes(op.window), predict) : op;
  }

  private async windowBytes(window: readonly BasisRange[]): Promise<Buffer> {
    const layerOf = new Map([...this.context.basisOf].map(([layer, basis]) => [basis, layer]));
    return Buffer.concat(await Promise.all(window.map((range) => this.read(this.context.layers[layerOf.get(range.basis)!]!, range))));
  }

  private async *blocks(item: Extract<PlanItem, { kind: 'blocks' }>): AsyncGenerator<DeltaOp> {
    const { layers, target } = this.context;
    const old = item.candidate;
    const readOld = (offset: number, length: number) => this.read(layers[old.layer]!, { offset: old.entry.content.offset + offset, length });
    const readNew = (offset: number, length: number) => this.read(target, { offset: item.next.offset + offset, length });
    for await (const piece of blockMatch(readOld, old.entry.content.length, readNew, item.next.length)) {
      if (piece.kind === 'copy') yield { type: 'copy', ...this.range(old.layer, { offset: old.entry.content.offset + piece.oldOffset, length: piece.length }) };
      else yield* this.literal({ offset: item.next.offset + piece.newOffset, length: piece.length });
    }
  }

  private range(layer: number, range: TarRange): BasisRange {
    return { basis: this.context.basisOf.get(layer)!, offset: range.offset, length: range.length };
  }

  private read(layer: IndexedLayer, range: TarRange): Promise<Buffer> {
    return this.context.files.read(layer.tarPath, range.offset, range.length);
  }

  /**
   * New header bytes minus old ones, modulo 256 (what a PATCH adds to the old bytes), after a
   * copy of the old bytes before the first difference; `window` is the old range after it.
   */
  private async headerDifference(layer: number, old: TarRange, next: TarRange): Promise<{ copy?: DeltaOp; window: BasisRange; diff: Buffer }> {
    const [oldBytes, diff] = await Promise.all([this.read(this.context.layers[layer]!, old), this.read(this.context.target, next)]);
    for (let i = 0; i < diff.length; i++) diff[i] = (diff[i]! - oldBytes[i]!) & 0xff;
    let same = 0;
    while (same < diff.length && diff[same] === 0) same++;
    return {
      copy: same > 0 ? { type: 'copy', ...this.range(layer, { offset: old.offset, length: same }) } : undefined,
      window: this.range(layer, { offset: old.offset + same, length: old.length - same }),
      diff: diff.subarray(same),
    };
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
  private readonly started = new Map<number, Promise<ContentEncoding>>();

  constructor(
    private readonly context: EmitContext,
    private readonly items: readonly PlanItem[],
  ) {
    this.limit = pLimit(context.workers);
    this.pending = items.flatMap((item, position) => (item.kind === 'bsdiff' ? [position] : [])).reverse();
  }

  startAhead(): void {
    while (this.pending.length > 0 && this.started.size <= this.context.workers) {
      const position = this.pending.pop()!;
      const run = this.limit(() => this.run(this.items[position] as BsdiffItem));
      run.catch(() => {
        // awaited by take(); this keeps an early failure from being reported as unhandled
      });
      this.started.set(position, run);
    }
  }

  async take(position: number): Promise<ContentEncoding> {
    this.startAhead();
    const run = this.started.get(position)!;
    this.started.delete(position);
    return run;
  }

  async settle(): Promise<void> {
    await Promise.allSettled(this.started.values());
  }

  private run(item: BsdiffItem): Promise<ContentEncoding> {
    const { layers, files, target, basisOf, scratchDir } = this.context;
    const old = item.candidates.map((ref) => ({ tarPath: layers[ref.layer]!.tarPath, range: ref.entry.content }));
    const window = item.candidates.map((ref) => ({ basis: basisOf.get(ref.layer)!, ...ref.entry.content }));
    return chooseEncoding(files, { old, window, next: { tarPath: target.tarPath, range: item.next } }, scratchDir);
  }
}
