import type { BasisRange, DeltaHeader } from './format.js';
import { MAX_VARINT_VALUE, MAX_WINDOW_REGIONS } from './format.js';
import { PatchWindow } from './window.js';

interface OpenPatch {
  window: PatchWindow;
  position: number;
  triples: number;
  /** Diff bytes of the current triple not yet covered by runs. */
  diffLeft: number;
}

/**
 * The rules every operation sequence obeys (docs/delta-format.md, "Operations"). The writer
 * and the decoder both walk their operations through one instance, so a delta the writer
 * accepts is exactly a delta the decoder accepts; `fail` decides which error each raises.
 * It also keeps the state the encoding depends on: per-basis cursors and the open patch.
 */
export class OpRules {
  private written = 0;
  private readonly cursors: number[];
  private patch: OpenPatch | undefined;

  constructor(
    private readonly header: DeltaHeader,
    private readonly fail: (message: string) => never,
  ) {
    this.cursors = header.bases.map(() => 0);
  }

  /** Where the previous range of this basis ended: range offsets are encoded relative to it. */
  cursor(basis: number): number {
    if (!Number.isInteger(basis) || basis < 0 || basis >= this.cursors.length) {
      this.fail(`basis index ${basis} is outside the ${this.cursors.length}-entry basis table`);
    }
    return this.cursors[basis]!;
  }

  literal(length: number): void {
    this.claimOutput(length, 'literal');
  }

  /** A deflate member: claims its compressed bytes of output. */
  deflateMember(compressedSize: number): void {
    this.claimOutput(compressedSize, 'deflate member');
  }

  copy(range: BasisRange): void {
    this.range(range);
    this.claimOutput(range.length, 'copy');
  }

  /** A range with an explicit length: a copy, or a patch window range other than the last. */
  range(range: BasisRange): void {
    const size = this.sizeOf(range.basis);
    this.checkLength(range.length, 'range');
    if (!Number.isSafeInteger(range.offset) || range.offset < 0 || range.offset > size || range.length > size - range.offset) {
      this.fail(`range ${range.offset}+${range.length} is outside basis ${range.basis} of ${size} bytes`);
    }
    this.cursors[range.basis] = range.offset + range.length;
  }

  /** A patch window's last range: from `offset` to the end of the basis. Returns it with its length. */
  openRange(basis: number, offset: number): BasisRange {
    const size = this.sizeOf(basis);
    if (!Number.isSafeInteger(offset) || offset < 0 || offset >= size) {
      this.fail(`a window starting at ${offset} is outside basis ${basis} of ${size} bytes`);
    }
    this.cursors[basis] = offset;
    return { basis, offset, length: size - offset };
  }

  windowRanges(count: number): void {
    if (!Number.isSafeInteger(count) || count < 1 || count > MAX_WINDOW_REGIONS) {
      this.fail(`a patch window has ${count} ranges, not 1 to ${MAX_WINDOW_REGIONS}`);
    }
  }

  /** Opens a patch over the window of the ranges just checked, at window position `start`. */
  beginPatch(ranges: readonly BasisRange[], start: number): PatchWindow {
    const window = new PatchWindow(ranges);
    if (window.length > MAX_VARINT_VALUE) this.fail(`a patch window is longer than ${MAX_VARINT_VALUE} bytes`);
    if (!Number.isSafeInteger(start) || start < 0 || start > window.length) {
      this.fail(`patch start ${start} is outside its ${window.length}-byte window`);
    }
    this.patch = { window, position: start, triples: 0, diffLeft: 0 };
    return window;
  }

  /** Checks one control triple and returns the window position its diff bytes are added to. */
  triple(addLength: number, extraLength: number, seek: number): number {
    const patch = this.openPatch();
    if (!Number.isSafeInteger(addLength) || !Number.isSafeInteger(extraLength) || addLength < 0 || extraLength < 0) {
      this.fail(`control triple lengths ${addLength}, ${extraLength} are not sizes`);
    }
    if (addLength + extraLength === 0) this.fail('a control triple writes nothing');
    this.claimOutput(addLength + extraLength, 'control triple');
    const addAt = patch.position;
    const windowLength = patch.window.length;
    if (addLength > windowLength - addAt) this.fail(`a control triple reads ${addAt}+${addLength}, past its ${windowLength}-byte window`);
    const next = addAt + addLength + seek;
    if (!Number.isSafeInteger(seek) || next < 0 || next > windowLength) {
      this.fail(`a control triple seeks to ${next}, outside its ${windowLength}-byte window`);
    }
    patch.position = next;
    patch.triples++;
    patch.diffLeft = addLength;
    return addAt;
  }

  /**
   * One run of a triple's diff: `unchanged` bytes equal to the window's, then `changed` diff
   * bytes (at least one). The pair 0, 0 marks the rest of the diff as unchanged. Returns how
   * many unchanged bytes the run covers.
   */
  diffRun(unchanged: number, changed: number): number {
    const patch = this.openPatch();
    if (unchanged === 0 && changed === 0) {
      const rest = patch.diffLeft;
      patch.diffLeft = 0;
      return rest;
    }
    if (!Number.isSafeInteger(unchanged) || !Number.isSafeInteger(changed) || changed < 1 || unchanged + changed > patch.diffLeft) {
      this.fail(`a diff run of ${unchanged}+${changed} bytes is not 0+0 or at least one changed byte within the ${patch.diffLeft} diff bytes left`);
    }
    patch.diffLeft -= unchanged + changed;
    return unchanged;
  }

  get diffLeft(): number {
    return this.patch?.diffLeft ?? 0;
  }

  /**
   * Closes the patch. The basis under its final position gets its cursor there, so an op
   * continuing after the patched bytes encodes a small offset.
   */
  endPatch(): void {
    const patch = this.openPatch();
    if (patch.triples === 0) this.fail('a patch without control triples');
    const { basis, offset } = patch.window.locate(patch.position);
    this.cursors[basis] = offset;
    this.patch = undefined;
  }

  end(): void {
    if (this.written !== this.header.target.size) {
      this.fail(`the operations write ${this.written} bytes, the header declares ${this.header.target.size}`);
    }
  }

  private openPatch(): OpenPatch {
    return this.patch ?? this.fail('a control triple outside a patch');
  }

  private sizeOf(basis: number): number {
    this.cursor(basis);
    return this.header.bases[basis]!.size;
  }

  private claimOutput(length: number, what: string): void {
    this.checkLength(length, what);
    const left = this.header.target.size - this.written;
    if (length > left) this.fail(`a ${what} of ${length} bytes passes the declared target size (${left} left)`);
    this.written += length;
  }

  private checkLength(length: number, what: string): void {
    if (!Number.isSafeInteger(length) || length < 1) this.fail(`a ${what} length of ${length} is not a positive size`);
  }
}
