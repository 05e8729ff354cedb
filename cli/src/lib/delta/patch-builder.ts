import type { PatchTriple } from '../../../../shared/delta/format.js';

/** A patch in the form a PatchOp takes, minus its window. */
export interface PatchSteps {
  start: number;
  triples: PatchTriple[];
}

interface OpenTriple {
  diff: Uint8Array[];
  extra: Uint8Array[];
  /** Window position right after this triple's diff bytes. */
  addEnd: number;
}

/**
 * Builds the canonical control triples of a patch from its steps in target order: "add these
 * diff bytes to the window at position p" and "write these bytes". Adjacent adds merge,
 * pure seeks fold into the previous triple, empty steps vanish, so every triple writes at
 * least one byte as the format requires.
 */
export class PatchBuilder {
  private readonly triples: PatchTriple[] = [];
  private start: number | undefined;
  private open: OpenTriple | undefined;

  add(position: number, diff: Uint8Array): void {
    if (diff.length === 0) return;
    const open = this.open;
    if (open !== undefined && open.extra.length === 0 && open.addEnd === position) {
      open.diff.push(diff);
      open.addEnd += diff.length;
      return;
    }
    this.close(position);
    this.start ??= position;
    this.open = { diff: [diff], extra: [], addEnd: position + diff.length };
  }

  extra(bytes: Uint8Array): void {
    if (bytes.length === 0) return;
    // Only the very first step can find no open triple: the patch then starts at position 0.
    this.open ??= { diff: [], extra: [], addEnd: (this.start ??= 0) };
    this.open.extra.push(bytes);
  }

  /** The patch; `end`, if given, is where its last seek leaves the position (else after the last add). */
  finish(end?: number): PatchSteps {
    this.close(end ?? this.open?.addEnd ?? 0);
    return { start: this.start ?? 0, triples: this.triples };
  }

  /** Ends the open triple with a seek to `nextAdd`, where the next diff bytes apply. */
  private close(nextAdd: number): void {
    const open = this.open;
    if (open === undefined) return;
    this.triples.push({ diff: Buffer.concat(open.diff), extra: Buffer.concat(open.extra), seek: nextAdd - open.addEnd });
    this.open = undefined;
  }
}
