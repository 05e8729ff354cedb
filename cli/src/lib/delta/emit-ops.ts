import type { BasisRange, DeltaOp, PatchOp } from '../../../../shared/delta/format.js';
import { PatchWindow } from '../../../../shared/delta/window.js';
import { withTarSize } from '../../../../shared/tar/header-size.js';
import { TAR_BLOCK_SIZE, parseNumericField } from '../../../../shared/tar/split.js';
import { memberContentOps, type MemberItem } from './deflate-members.js';
import type { IndexedLayer, TarRange } from './layer-index.js';
import type { MatchOutput, MatchPool } from './match-pool.js';
import { PatchBuilder } from './patch-builder.js';
import { compactWindow, endingAt, replay } from './patch-window.js';
import { headerItems, type FileCounts, type HeaderPlan, type MatchItem, type PlanItem, type PlanSources } from './plan-items.js';

export interface EmitContext extends PlanSources {
  target: IndexedLayer;
  /** Delta basis index of each base layer the items use. */
  basisOf: ReadonlyMap<number, number>;
  pool: MatchPool;
  /** Delta basis index of each old deflate member read inflated (see deflate-members.ts). */
  memberBasisOf: ReadonlyMap<string, number>;
}

/** Match jobs started ahead of the op being written (the pool runs them as workers and memory allow). */
const MATCHES_AHEAD = 3;

/**
 * Turns plan items into delta operations in target order. Changed files are matched on the
 * pool's workers, started ahead of the op being written; a large file's patch arrives in
 * parts, each its own PATCH, written while the next part is matched.
 */
export async function* emitOps(context: EmitContext, items: readonly PlanItem[], counts: FileCounts): AsyncGenerator<DeltaOp> {
  const emitter = new Emitter(context);
  const matches = new MatchQueue(context, items);
  try {
    for (const [position, item] of items.entries()) {
      matches.startAhead();
      if (item.kind === 'member') {
        for (const headerItem of headerItems(item.header)) yield* emitter.item(headerItem);
        yield* await memberContentOps(context, item, counts);
        continue;
      }
      if (item.kind !== 'match') {
        yield* emitter.item(item);
        continue;
      }
      const candidates = new PatchWindow(item.candidates.map((ref) => emitter.range(ref.layer, ref.entry.content)));
      let first = true;
      let predicted = false;
      for await (const message of matches.take(position)) {
        if (message.type === 'part') {
          const window = candidates.slices(message.windowStart, message.windowLength);
          if (first) counts.patched++;
          if (message.prediction && !predicted) {
            counts.referencesPredicted++;
            predicted = true;
          }
          if (message.prediction) {
            // made over exactly this window: the header's difference travels in its own PATCH
            if (first) for (const headerItem of headerItems(item.header)) yield* emitter.item(headerItem);
            const steps = first ? endingAt(message.steps, window[0]!.length) : message.steps;
            yield { type: 'xpatch', window, ...steps, prediction: message.prediction };
          } else {
            const patch: PatchOp = { type: 'patch', window, ...message.steps };
            yield* first ? emitter.withHeader(item.header, patch) : [compactWindow(patch)];
          }
          first = false;
          continue;
        }
        for (const headerItem of headerItems(item.header)) yield* emitter.item(headerItem);
        if (message.type === 'matches') {
          counts.lzMatched++;
          for (const piece of message.pieces) {
            if (piece.kind === 'copy') yield* candidates.slices(piece.oldOffset, piece.length).map((range): DeltaOp => ({ type: 'copy', ...range }));
            else yield* emitter.literal({ offset: item.next.offset + piece.newOffset, length: piece.length });
          }
        } else {
          counts.literalCheaper++;
          yield* emitter.literal(item.next);
        }
      }
    }
  } finally {
    await matches.settle();
  }
}

class Emitter {
  constructor(private readonly context: EmitContext) {}

  async *item(item: Exclude<PlanItem, MatchItem | MemberItem>): AsyncGenerator<DeltaOp> {
    switch (item.kind) {
      case 'copy':
        yield { type: 'copy', ...this.range(item.layer, item.range) };
        break;
      case 'literal':
        yield* this.literal(item.range);
        break;
      case 'header': {
        const sizeOnly = await this.sizeChange(item);
        if (sizeOnly) {
          yield* sizeOnly;
          break;
        }
        const { copy, window, diff } = await this.headerDifference(item.layer, item.old, item.next);
        if (copy) yield copy;
        yield { type: 'patch', window: [window], start: 0, triples: [{ diff, extra: Buffer.alloc(0), seek: 0 }] };
        break;
      }
    }
  }

  async *literal(range: TarRange): AsyncGenerator<DeltaOp> {
    for await (const bytes of this.context.files.stream([{ tarPath: this.context.target.tarPath, range }])) yield { type: 'literal', bytes };
  }

  /**
   * One PATCH for a file and its header: the header's difference first, then the
   * patch's steps. Header bytes before the first difference are copied instead, so that the patch
   * starts at a difference (a new segment's front, if any, is literal before them).
   */
  async *withHeader(header: HeaderPlan, patch: PatchOp): AsyncGenerator<DeltaOp> {
    const sizeOnly = header.aligned && !header.aligned.identical ? await this.sizeChange(header.aligned) : undefined;
    if (sizeOnly) {
      if (header.front) yield* this.literal(header.front);
      yield* sizeOnly;
      yield* this.withHeader({}, patch);
      return;
    }
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
    yield compactWindow({ type: 'patch', window: [...window, ...patch.window], ...builder.finish(shift + patch.window[0]!.length) });
  }

  range(layer: number, range: TarRange): BasisRange {
    return { basis: this.context.basisOf.get(layer)!, offset: range.offset, length: range.length };
  }

  /**
   * When the new header block differs from the old one only in its size and checksum (the
   * bytes before it, if any, being the same): a copy of those bytes and a TAR HEADER op.
   */
  private async sizeChange({ layer, old, next }: { layer: number; old: TarRange; next: TarRange }): Promise<DeltaOp[] | undefined> {
    if (old.length < TAR_BLOCK_SIZE) return undefined;
    const [oldBytes, nextBytes] = await Promise.all([this.read(this.context.layers[layer]!, old), this.read(this.context.target, next)]);
    const before = old.length - TAR_BLOCK_SIZE;
    if (!oldBytes.subarray(0, before).equals(nextBytes.subarray(0, before))) return undefined;
    const nextHeader = nextBytes.subarray(before);
    let size: number;
    try {
      size = parseNumericField(nextHeader.subarray(124, 136), 'size');
      if (!withTarSize(oldBytes.subarray(before), size).equals(nextHeader)) return undefined;
    } catch {
      return undefined;
    }
    const { basis } = this.range(layer, old);
    const copy: DeltaOp[] = before > 0 ? [{ type: 'copy', basis, offset: old.offset, length: before }] : [];
    return [...copy, { type: 'tarHeader', basis, offset: old.offset + before, size }];
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
 * Starts the match items on the pool ahead of the op being written, at most MATCHES_AHEAD
 * unfinished at once: what a started job delivers waits in memory for its turn.
 */
class MatchQueue {
  /** Positions of match items not started yet, the next one last. */
  private readonly pending: number[];
  private readonly started = new Map<number, AsyncGenerator<MatchOutput>>();

  constructor(
    private readonly context: EmitContext,
    private readonly items: readonly PlanItem[],
  ) {
    this.pending = items.flatMap((item, position) => (item.kind === 'match' ? [position] : [])).reverse();
  }

  startAhead(): void {
    while (this.pending.length > 0 && this.started.size < MATCHES_AHEAD) {
      const position = this.pending.pop()!;
      const item = this.items[position] as MatchItem;
      const { layers, target } = this.context;
      const old = item.candidates.map((ref) => ({ tarPath: layers[ref.layer]!.tarPath, range: ref.entry.content }));
      this.started.set(position, this.context.pool.start({ old, next: { tarPath: target.tarPath, range: item.next }, shape: item.shape }));
    }
  }

  async *take(position: number): AsyncGenerator<MatchOutput> {
    this.startAhead();
    const messages = this.started.get(position)!;
    try {
      yield* messages;
    } finally {
      this.started.delete(position);
    }
  }

  /** Drains the jobs started and not taken (after a failure), so that no worker stays busy. */
  async settle(): Promise<void> {
    await Promise.allSettled([...this.started.values()].map(async (messages) => {
      for await (const _ of messages) {
        // discarded
      }
    }));
  }
}
