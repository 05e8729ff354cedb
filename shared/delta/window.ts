import { lastStartAtOrBefore } from '../last-start.js';
import type { BasisRange } from './format.js';

/** The old input of a patch: its ranges concatenated, addressed by one position. */
export class PatchWindow {
  readonly length: number;
  /** Window position at which each range begins. */
  private readonly starts: number[] = [];

  constructor(private readonly ranges: readonly BasisRange[]) {
    let length = 0;
    for (const range of ranges) {
      this.starts.push(length);
      length += range.length;
    }
    this.length = length;
  }

  /** The basis and offset at a window position; the window's end maps to the end of the last range. */
  locate(position: number): { basis: number; offset: number } {
    const index = this.rangeAt(position);
    const range = this.ranges[index]!;
    return { basis: range.basis, offset: range.offset + position - this.starts[index]! };
  }

  /** The basis ranges holding window bytes [position, position + length), in order. */
  slices(position: number, length: number): BasisRange[] {
    const slices: BasisRange[] = [];
    let at = position;
    let left = length;
    for (let index = this.rangeAt(position); left > 0; index++) {
      const range = this.ranges[index]!;
      const skip = at - this.starts[index]!;
      const take = Math.min(left, range.length - skip);
      slices.push({ basis: range.basis, offset: range.offset + skip, length: take });
      at += take;
      left -= take;
    }
    return slices;
  }

  /** The last range starting at or before `position`. */
  private rangeAt(position: number): number {
    return lastStartAtOrBefore(this.starts, position);
  }
}
