import type { BasisRange, PatchOp } from '../../../../shared/delta/format.js';
import { PatchBuilder, type PatchSteps } from './patch-builder.js';

/** Feeds a patch's steps into `builder`, moving every add by `map(position)`; returns the final position. */
export function replay(builder: PatchBuilder, steps: PatchSteps, map: (position: number) => number): number {
  let position = steps.start;
  for (const triple of steps.triples) {
    builder.add(map(position), triple.diff);
    builder.extra(triple.extra);
    position += triple.diff.length + triple.seek;
  }
  return position;
}

/** The same steps, ending at window position `end` (only the last seek changes). */
export function endingAt(steps: PatchSteps, end: number): PatchSteps {
  const builder = new PatchBuilder();
  replay(builder, steps, (position) => position);
  return builder.finish(end);
}

/** Window ranges some add reads from. */
function usedRanges(op: PatchOp): boolean[] {
  const starts: number[] = [];
  let length = 0;
  for (const range of op.window) {
    starts.push(length);
    length += range.length;
  }
  const used = op.window.map(() => false);
  let position = op.start;
  for (const triple of op.triples) {
    const end = position + triple.diff.length;
    if (triple.diff.length > 0) op.window.forEach((range, i) => (used[i] ||= starts[i]! < end && starts[i]! + range.length > position));
    position = end + triple.seek;
  }
  if (!used.includes(true)) used[0] = true;
  return used;
}

/**
 * Drops window ranges no add reads (candidates bsdiff did not use cost bytes for nothing) and
 * merges ranges that are adjacent in the same basis, remapping positions accordingly.
 */
export function compactWindow(op: PatchOp): PatchOp {
  const used = usedRanges(op);
  const kept: BasisRange[] = [];
  const shift: number[] = [];
  let dropped = 0;
  op.window.forEach((range, i) => {
    shift.push(dropped);
    if (!used[i]) {
      dropped += range.length;
      return;
    }
    const last = kept.at(-1);
    if (last && last.basis === range.basis && last.offset + last.length === range.offset) last.length += range.length;
    else kept.push({ ...range });
  });
  if (dropped === 0) return { ...op, window: kept };
  const starts = op.window.map((_, i) => op.window.slice(0, i).reduce((sum, range) => sum + range.length, 0));
  const rangeAt = (position: number) => starts.findLastIndex((start) => start <= position);
  const builder = new PatchBuilder();
  const end = replay(builder, op, (position) => position - shift[rangeAt(position)]!);
  // where the patch leaves the position sets the cursor for the next op: keep it if it survives
  return { type: 'patch', window: kept, ...builder.finish(used[rangeAt(end)] ? end - shift[rangeAt(end)]! : undefined) };
}
