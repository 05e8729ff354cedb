import type { BasisRange, DeltaHeader } from './format.js';
import { MAX_VARINT_VALUE, MAX_WINDOW_REGIONS } from './format.js';

interface OpenPatch {
  windowLength: number;
  position: number;
  remaining: number;
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

  get patchRemaining(): number {
    return this.patch?.remaining ?? 0;
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

  copy(range: BasisRange): void {
    this.range(range);
    this.claimOutput(range.length, 'copy');
  }

  /** One range of a patch window, in window order. */
  range(range: BasisRange): void {
    const size = this.header.bases[range.basis]?.size;
    this.cursor(range.basis);
    this.checkLength(range.length, 'range');
    if (!Number.isSafeInteger(range.offset) || range.offset < 0 || size === undefined || range.offset > size || range.length > size - range.offset) {
      this.fail(`range ${range.offset}+${range.length} is outside basis ${range.basis} of ${size} bytes`);
    }
    this.cursors[range.basis] = range.offset + range.length;
  }

  patchWindow(regions: number): void {
    if (!Number.isSafeInteger(regions) || regions < 1 || regions > MAX_WINDOW_REGIONS) {
      this.fail(`a patch window has ${regions} ranges, not 1 to ${MAX_WINDOW_REGIONS}`);
    }
  }

  /** Opens a patch over a window of `windowLength` bytes whose ranges were checked by `range`. */
  beginPatch(windowLength: number, start: number, length: number): void {
    if (windowLength > MAX_VARINT_VALUE) this.fail(`a patch window is longer than ${MAX_VARINT_VALUE} bytes`);
    if (!Number.isSafeInteger(start) || start < 0 || start > windowLength) {
      this.fail(`patch start ${start} is outside its ${windowLength}-byte window`);
    }
    this.claimOutput(length, 'patch');
    this.patch = { windowLength, position: start, remaining: length };
  }

  /** Checks one control triple and returns the window position its diff bytes are added to. */
  triple(addLength: number, extraLength: number, seek: number): number {
    const patch = this.patch;
    if (patch === undefined) return this.fail('a control triple outside a patch');
    if (!Number.isSafeInteger(addLength) || !Number.isSafeInteger(extraLength) || addLength < 0 || extraLength < 0) {
      this.fail(`control triple lengths ${addLength}, ${extraLength} are not sizes`);
    }
    if (addLength + extraLength === 0) this.fail('a control triple writes nothing');
    if (addLength + extraLength > patch.remaining) {
      this.fail(`a control triple writes ${addLength + extraLength} bytes, past the ${patch.remaining} left in its patch`);
    }
    const addAt = patch.position;
    if (addLength > patch.windowLength - addAt) {
      this.fail(`a control triple reads ${addAt}+${addLength}, past its ${patch.windowLength}-byte window`);
    }
    const next = addAt + addLength + seek;
    if (!Number.isSafeInteger(seek) || next < 0 || next > patch.windowLength) {
      this.fail(`a control triple seeks to ${next}, outside its ${patch.windowLength}-byte window`);
    }
    patch.position = next;
    patch.remaining -= addLength + extraLength;
    if (patch.remaining === 0) this.patch = undefined;
    return addAt;
  }

  end(): void {
    if (this.written !== this.header.target.size) {
      this.fail(`the operations write ${this.written} bytes, the header declares ${this.header.target.size}`);
    }
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
