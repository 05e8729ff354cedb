import { BasisIndex, type BasisEntryRef } from './basis-index.js';
import { memberLayers, planMember, type MemberItem } from './deflate-members.js';
import type { IndexedEntry, IndexedLayer, TarRange } from './layer-index.js';
import { matchShape, type MatchShape } from './match-memory.js';
import type { TarFiles } from './tar-files.js';

/** Base files concatenated into one old input, so that a new file can take bytes from several. */
const MAX_CANDIDATES = 3;

/** How the target's regular files were encoded. */
export interface FileCounts {
  identical: number;
  patched: number;
  /** Of those, sent as XPATCHes: references predicted before the diff. */
  referencesPredicted: number;
  /** Sent as copies of old bytes between literals (LZ77), smaller than the patch. */
  lzMatched: number;
  /** Had candidates, but was smaller sent as it is. */
  literalCheaper: number;
  literal: number;
  /** Compressed members re-deflated on the device from their inflated bytes. */
  deflateMember: number;
}

/**
 * An entry's header bytes (its skeleton segment) against old ones, aligned at their ends: a
 * segment starts with the previous entry's padding, whose length varies.
 */
export interface HeaderPlan {
  /** New bytes in front of the aligned part: sent literally. */
  front?: TarRange;
  /** The aligned part: `next` against `old` in base layer `layer`, identical or not. */
  aligned?: { layer: number; old: TarRange; next: TarRange; identical: boolean };
}

/** One step of the target, decided before any matching runs. Ranges are of the saved tars. */
export type PlanItem =
  | { kind: 'copy'; layer: number; range: TarRange }
  | { kind: 'literal'; range: TarRange }
  /** Header bytes of equal length: sent as their bytewise difference to the old ones. */
  | { kind: 'header'; layer: number; old: TarRange; next: TarRange }
  /** A file to match against candidates; if a patch pays, its header travels in the same PATCH. */
  | { kind: 'match'; header: HeaderPlan; candidates: BasisEntryRef[]; next: TarRange; shape: MatchShape }
  | MemberItem;

export type MatchItem = Extract<PlanItem, { kind: 'match' }>;
type HeaderItem = Extract<PlanItem, { kind: 'copy' | 'literal' | 'header' }>;

export interface PlanSources {
  layers: readonly IndexedLayer[];
  index: BasisIndex;
  files: TarFiles;
  /** Bytes that the matching of changed files may hold at once (see match-memory.ts). */
  matchBudget: number;
}

export function headerItems(plan: HeaderPlan): HeaderItem[] {
  const items: HeaderItem[] = plan.front ? [{ kind: 'literal', range: plan.front }] : [];
  const { aligned } = plan;
  if (aligned) {
    items.push(aligned.identical ? { kind: 'copy', layer: aligned.layer, range: aligned.old } : { kind: 'header', layer: aligned.layer, old: aligned.old, next: aligned.next });
  }
  return items;
}

async function planHeader(sources: PlanSources, target: IndexedLayer, next: TarRange, old: { layer: number; range: TarRange } | undefined): Promise<HeaderPlan> {
  const length = Math.min(next.length, old?.range.length ?? 0);
  const frontLength = next.length - length;
  const front = frontLength > 0 ? { offset: next.offset, length: frontLength } : undefined;
  if (old === undefined || length === 0) return { front };
  const aligned = { layer: old.layer, old: { offset: old.range.offset + old.range.length - length, length }, next: { offset: next.offset + frontLength, length } };
  const [oldBytes, nextBytes] = await Promise.all([
    sources.files.read(sources.layers[old.layer]!.tarPath, aligned.old.offset, length),
    sources.files.read(target.tarPath, aligned.next.offset, length),
  ]);
  return { front, aligned: { ...aligned, identical: oldBytes.equals(nextBytes) } };
}

/** Identical content anywhere, else matched against similar files, else literal. */
function entryItems(sources: PlanSources, entry: IndexedEntry, header: HeaderPlan, counts: FileCounts): PlanItem[] {
  const { index } = sources;
  if (entry.type !== 'file' || entry.content.length === 0) return headerItems(header);
  const identical = [index.fileAt(entry.path)].find((ref) => ref?.entry.sha256 === entry.sha256) ?? index.identical(entry.sha256!);
  if (identical) {
    counts.identical++;
    return [...headerItems(header), { kind: 'copy', layer: identical.layer, range: identical.entry.content }];
  }
  const candidates = index.candidates(entry.path, entry.content.length, MAX_CANDIDATES);
  if (candidates.length === 0) {
    counts.literal++;
    return [...headerItems(header), { kind: 'literal', range: entry.content }];
  }
  const oldBytes = candidates.reduce((sum, ref) => sum + ref.entry.content.length, 0);
  const shape = matchShape(oldBytes, entry.content.length, sources.matchBudget);
  // a windowed match reads one old file: the same path, or the closest in size
  return [{ kind: 'match', header, candidates: shape.kind === 'windowed' ? candidates.slice(0, 1) : candidates, next: entry.content, shape }];
}

/** Decides, entry by entry in target order, what each part of the target tar is sent as. */
export async function planItems(sources: PlanSources, target: IndexedLayer, counts: FileCounts): Promise<PlanItem[]> {
  const { layers, index } = sources;
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
    const header = await planHeader(sources, target, entry.segment, old && { layer: old.layer, range: old.entry.segment });
    const member = await planMember(sources, target, entry, header);
    items.push(...(member ? [member] : entryItems(sources, entry, header, counts)));
  }
  const top = layers.length - 1;
  items.push(...headerItems(await planHeader(sources, target, target.tail, top >= 0 ? { layer: top, range: layers[top]!.tail } : undefined)));
  return items;
}

/** Base layers the items read, bottom first: the delta's basis table. */
export function usedLayers(items: readonly PlanItem[]): number[] {
  const used = new Set<number>();
  for (const item of items) {
    if (item.kind === 'copy' || item.kind === 'header') used.add(item.layer);
    else if (item.kind === 'match') {
      item.candidates.forEach((candidate) => used.add(candidate.layer));
      if (item.header.aligned) used.add(item.header.aligned.layer);
    } else if (item.kind === 'member') memberLayers(item).forEach((layer) => used.add(layer));
  }
  return [...used].sort((a, b) => a - b);
}
