/**
 * Reference prediction of an XPATCH (docs/delta-format.md, "XPATCH"): machine-code references
 * found in the old bytes of a patch window, and the values they are predicted to take in the
 * new file, given where their targets moved (the shift map) and where the bytes around them
 * moved (the output delta of the control triple that copies them). Writer and decoder both
 * use this one implementation, so they agree on every predicted byte.
 */

/** Instruction sets whose references an XPATCH predicts; the values of its architecture byte. */
export const ARCHITECTURE_CODE = { x86_64: 0x01, aarch64: 0x02 } as const;
export type Architecture = keyof typeof ARCHITECTURE_CODE;

/** From old target position `position` on (up to the next breakpoint), targets moved by `shift` bytes. */
export interface ShiftBreakpoint {
  position: number;
  shift: number;
}

export interface ReferencePrediction {
  architecture: Architecture;
  /** aarch64 instructions start at window positions congruent to `phase` modulo 4; 0 for x86-64. */
  phase: number;
  /** Ascending, distinct positions. Below the first breakpoint the shift is 0. */
  shifts: ShiftBreakpoint[];
}

/** Bytes of a reference field; every site is a 4-byte little-endian field. */
export const SITE_BYTES = 4;
/** Window bytes a prediction of [from, to) reads: opcode bytes before the first site, field bytes after the last. */
export const CONTEXT_BEFORE = 6;
export const CONTEXT_AFTER = 3;

const TWO_32 = 2 ** 32;
const TWO_26 = 2 ** 26;
const IMM26_MASK = 0x3ffffff;

/** x86-64 opcodes whose ModRM byte may select RIP + disp32 with no immediate after it. */
const RIP_ONE_BYTE = new Uint8Array(256);
for (const opcode of [0x03, 0x2b, 0x39, 0x3b, 0x63, 0x89, 0x8b, 0x8d, 0xff]) RIP_ONE_BYTE[opcode] = 1;
/** The same for opcodes 0F xx (SSE moves, movzx). */
const RIP_TWO_BYTE = new Uint8Array(256);
for (const opcode of [0x10, 0x11, 0x28, 0x29, 0x6f, 0x7f, 0xb6, 0xb7]) RIP_TWO_BYTE[opcode] = 1;

/** Bytes that can end the opcode of a field x86Field accepts: most bytes are ruled out by this one look. */
const X86_FIELD_OPCODE_END = new Uint8Array(256);
for (const opcode of [0xe8, 0xe9]) X86_FIELD_OPCODE_END[opcode] = 1;
for (let opcode = 0x80; opcode <= 0x8f; opcode++) X86_FIELD_OPCODE_END[opcode] = 1;
for (let modrm = 0x05; modrm <= 0x3d; modrm += 8) X86_FIELD_OPCODE_END[modrm] = 1;

/** Is there an x86-64 rel32 (call, jmp, jcc) or RIP-relative disp32 field at `at` of `bytes`? */
function x86Field(bytes: Uint8Array, at: number): boolean {
  const opcode = bytes[at - 1]!;
  if (opcode === 0xe8 || opcode === 0xe9) return true;
  const before = bytes[at - 2]!;
  if (before === 0x0f && opcode >= 0x80 && opcode <= 0x8f) return true;
  return (opcode & 0xc7) === 0x05 && (RIP_ONE_BYTE[before] === 1 || (bytes[at - 3] === 0x0f && RIP_TWO_BYTE[before] === 1));
}

/** The little-endian unsigned 32-bit word at `at`. */
export function readWord(bytes: Uint8Array, at: number): number {
  return (bytes[at]! | (bytes[at + 1]! << 8) | (bytes[at + 2]! << 16) | (bytes[at + 3]! << 24)) >>> 0;
}

/** aarch64 B (000101) and BL (100101): imm26 counts instructions from the branch itself. */
function isBranch26(word: number): boolean {
  const top = word >>> 26;
  return top === 0x05 || top === 0x25;
}

function branch26Offset(word: number): number {
  const imm = word & IMM26_MASK;
  return 4 * (imm >= TWO_26 / 2 ? imm - TWO_26 : imm);
}

/** Sorted breakpoints; `at(target)` is the shift of the last breakpoint at or before it. */
export class ShiftMap {
  private readonly positions: Float64Array;
  private readonly shifts: Float64Array;

  constructor(breakpoints: readonly ShiftBreakpoint[]) {
    this.positions = Float64Array.from(breakpoints, (b) => b.position);
    this.shifts = Float64Array.from(breakpoints, (b) => b.shift);
  }

  at(target: number): number {
    let low = 0;
    let high = this.positions.length;
    while (low < high) {
      const middle = (low + high) >>> 1;
      if (this.positions[middle]! <= target) low = middle + 1;
      else high = middle;
    }
    return low === 0 ? 0 : this.shifts[low - 1]!;
  }
}

/**
 * Visits a reference site: its field at window position `site`, the old target position it
 * refers to, and the first window position from which the field's bytes belong to it (an
 * earlier overlapping site keeps the bytes it covers).
 */
export type SiteVisitor = (site: number, target: number, ownedFrom: number) => void;

/** Finds reference sites and predicts window bytes for one XPATCH. */
export class ReferencePredictor {
  private readonly shiftMap: ShiftMap;
  private readonly architecture: Architecture;
  private readonly phase: number;

  constructor(
    prediction: ReferencePrediction,
    /**
     * The window length the prediction was made for: sites lie inside it, targets within
     * twice it. The window may run further (its last range is open); bytes there are as they are.
     */
    private readonly windowLength: number,
  ) {
    this.architecture = prediction.architecture;
    this.phase = prediction.phase;
    this.shiftMap = new ShiftMap(prediction.shifts);
  }

  /** Window positions [start, end) whose bytes `predict(…, from, to, …)` needs. */
  context(from: number, to: number): { start: number; end: number } {
    return { start: Math.max(0, from - CONTEXT_BEFORE), end: Math.max(to, Math.min(this.windowLength, to + CONTEXT_AFTER)) };
  }

  /**
   * Calls `visit` for every site whose field overlaps window positions [from, to), in
   * ascending order. `bytes` holds the window from position `bytesStart` and covers
   * `context(from, to)`.
   */
  forEachSite(bytes: Uint8Array, bytesStart: number, from: number, to: number, visit: SiteVisitor): void {
    const limit = Math.min(to, this.windowLength - SITE_BYTES + 1);
    const targetLimit = 2 * this.windowLength;
    if (this.architecture === 'x86_64') {
      let ownedUntil = 0;
      for (let site = Math.max(3, from - SITE_BYTES + 1); site < limit; site++) {
        const at = site - bytesStart;
        if (X86_FIELD_OPCODE_END[bytes[at - 1]!] === 0 || !x86Field(bytes, at)) continue;
        const word = readWord(bytes, at);
        const target = site + SITE_BYTES + (word | 0);
        if (target < 0 || target >= targetLimit) continue;
        visit(site, target, Math.max(site, ownedUntil));
        ownedUntil = site + SITE_BYTES;
      }
      return;
    }
    const first = Math.max(0, from - SITE_BYTES + 1);
    for (let site = first + ((((this.phase - first) % 4) + 4) % 4); site < limit; site += 4) {
      const word = readWord(bytes, site - bytesStart);
      if (!isBranch26(word)) continue;
      const target = site + branch26Offset(word);
      if (target >= 0 && target < targetLimit) visit(site, target, site);
    }
  }

  /**
   * The old field at `site` (in `bytes`, which start at window position `bytesStart`)
   * corrected by `correction` bytes: the value the new file is predicted to hold.
   */
  predictedWord(bytes: Uint8Array, bytesStart: number, site: number, correction: number): number {
    const word = readWord(bytes, site - bytesStart);
    if (this.architecture === 'x86_64') return (word + (correction % TWO_32) + TWO_32) % TWO_32;
    const imm = word & IMM26_MASK;
    const moved = (imm + (Math.floor(correction / 4) % TWO_26) + TWO_26) % TWO_26;
    return word - imm + moved;
  }

  /** How much the field at `site` referring to `target` changes when its bytes move by `outputDelta`. */
  correction(target: number, outputDelta: number): number {
    return this.shiftMap.at(target) - outputDelta;
  }

  /**
   * The predicted window bytes at positions [from, to) for a control triple whose output
   * position minus window position is `outputDelta`: the old bytes with every site's field
   * replaced by its predicted value. Depends only on the window and these arguments, never on
   * how a caller splits a range into pieces.
   */
  predict(bytes: Uint8Array, bytesStart: number, from: number, to: number, outputDelta: number): Buffer {
    const out = Buffer.from(bytes.subarray(from - bytesStart, to - bytesStart));
    this.forEachSite(bytes, bytesStart, from, to, (site, target, ownedFrom) => {
      const correction = this.correction(target, outputDelta);
      if (correction === 0) return;
      const word = this.predictedWord(bytes, bytesStart, site, correction);
      const end = Math.min(site + SITE_BYTES, to);
      for (let position = Math.max(ownedFrom, from); position < end; position++) {
        out[position - from] = (word >>> (8 * (position - site))) & 0xff;
      }
    });
    return out;
  }
}
