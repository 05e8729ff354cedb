import type { BasisRange, PatchOp, XPatchOp } from '../../../../shared/delta/format.js';
import { ReferencePredictor, SITE_BYTES, readWord, type Architecture, type ReferencePrediction, type ShiftBreakpoint } from '../../../../shared/delta/reference-prediction.js';
import { MAX_SHIFT_BREAKPOINTS, MAX_SHIFT_MAGNITUDE } from '../../../../shared/delta/xpatch.js';

const ELF_MACHINE: ReadonlyMap<number, Architecture> = new Map([
  [62, 'x86_64'],
  [183, 'aarch64'],
]);

/** The instruction set of a 64-bit little-endian ELF file (executable, library, N-API addon), if one an XPATCH predicts. */
export function elfArchitecture(bytes: Uint8Array): Architecture | undefined {
  const isElf64LittleEndian = bytes.length >= 20 && bytes[0] === 0x7f && bytes[1] === 0x45 && bytes[2] === 0x4c && bytes[3] === 0x46 && bytes[4] === 2 && bytes[5] === 1;
  return isElf64LittleEndian ? ELF_MACHINE.get(bytes[18]! | (bytes[19]! << 8)) : undefined;
}

/**
 * A shift needs this many consecutive references (in target order) that agree on it before
 * it gets a breakpoint: one reference saves less than a breakpoint costs, and a lone
 * disagreeing value is usually a changed reference or a false site, not a moved target.
 */
const MIN_AGREEING_REFERENCES = 3;

/** Window position at which aarch64 instructions start, modulo 4: from the longest range, whose basis offset is file-aligned. */
function instructionPhase(window: readonly BasisRange[]): number {
  let start = 0;
  let best = { length: -1, phase: 0 };
  for (const range of window) {
    if (range.length > best.length) best = { length: range.length, phase: (((start - range.offset) % 4) + 4) % 4 };
    start += range.length;
  }
  return best.phase;
}

/** One add of a patch: window bytes [position, position + diff.length) become output at `position + outputDelta`. */
interface Add {
  position: number;
  diff: Uint8Array;
  outputDelta: number;
}

function addsOf(op: PatchOp): Add[] {
  const adds: Add[] = [];
  let position = op.start;
  let produced = 0;
  for (const triple of op.triples) {
    adds.push({ position, diff: triple.diff, outputDelta: produced - position });
    produced += triple.diff.length + triple.extra.length;
    position += triple.diff.length + triple.seek;
  }
  return adds;
}

/**
 * The shift each reference inside an add needs for its prediction to be exact: what its
 * target must have moved by, given the value the new file holds there. References whose new
 * bytes are no longer the same kind of reference tell nothing and are left out.
 */
function observedShifts(window: Uint8Array, adds: readonly Add[], scanner: ReferencePredictor, architecture: Architecture): { targets: number[]; shifts: number[] } {
  const targets: number[] = [];
  const shifts: number[] = [];
  for (const { position, diff, outputDelta } of adds) {
    const end = position + diff.length;
    scanner.forEachSite(window, 0, position, end, (site, target, ownedFrom) => {
      if (ownedFrom !== site || site < position || site + SITE_BYTES > end) return;
      const old = readWord(window, site);
      let newWord = 0;
      for (let k = SITE_BYTES - 1; k >= 0; k--) newWord = newWord * 256 + ((window[site + k]! + diff[site - position + k]!) & 0xff);
      let change: number;
      if (architecture === 'x86_64') change = (newWord - old) | 0;
      else {
        if (newWord >>> 26 !== old >>> 26) return;
        const steps = ((newWord & 0x3ffffff) - (old & 0x3ffffff) + 2 ** 26) % 2 ** 26;
        change = 4 * (steps >= 2 ** 25 ? steps - 2 ** 26 : steps);
      }
      targets.push(target);
      shifts.push(change + outputDelta);
    });
  }
  return { targets, shifts };
}

/** Breakpoints where at least `minRun` consecutive references (by target) agree on a new shift. */
function breakpointsOf(targets: readonly number[], shifts: readonly number[], minRun: number): ShiftBreakpoint[] {
  const order = Uint32Array.from(targets.keys()).sort((a, b) => targets[a]! - targets[b]! || shifts[a]! - shifts[b]!);
  const breakpoints: ShiftBreakpoint[] = [];
  let current = 0;
  for (let runStart = 0; runStart < order.length; ) {
    const shift = shifts[order[runStart]!]!;
    let runEnd = runStart + 1;
    while (runEnd < order.length && shifts[order[runEnd]!] === shift) runEnd++;
    const position = targets[order[runStart]!]!;
    const last = breakpoints.at(-1);
    if (runEnd - runStart >= minRun && shift !== current && Math.abs(shift) <= MAX_SHIFT_MAGNITUDE && (last === undefined || position > last.position)) {
      breakpoints.push({ position, shift });
      current = shift;
    }
    runStart = runEnd;
  }
  return breakpoints;
}

/**
 * Turns a patch over the window bytes `window` into an XPATCH: finds the references of
 * `architecture` in the old bytes, derives from the adds where their targets moved (the shift
 * map), and re-expresses every diff against the predicted window bytes, so that a reference
 * whose target moved as predicted costs zero diff bytes. The alignment (adds, extras, seeks)
 * stays as it is.
 */
export function predictReferences(op: PatchOp, window: Uint8Array, architecture: Architecture): XPatchOp {
  const phase = architecture === 'aarch64' ? instructionPhase(op.window) : 0;
  const adds = addsOf(op);
  const scanner = new ReferencePredictor({ architecture, phase, shifts: [] }, window.length);
  const { targets, shifts } = observedShifts(window, adds, scanner, architecture);
  let minRun = MIN_AGREEING_REFERENCES;
  let breakpoints = breakpointsOf(targets, shifts, minRun);
  while (breakpoints.length > MAX_SHIFT_BREAKPOINTS) breakpoints = breakpointsOf(targets, shifts, ++minRun);
  const prediction: ReferencePrediction = { architecture, phase, shifts: breakpoints };
  const predictor = new ReferencePredictor(prediction, window.length);
  const triples = op.triples.map((triple, i) => {
    const { position, diff, outputDelta } = adds[i]!;
    const predicted = predictor.predict(window, 0, position, position + diff.length, outputDelta);
    const repredicted = Buffer.alloc(diff.length);
    for (let k = 0; k < diff.length; k++) repredicted[k] = (window[position + k]! + diff[k]! - predicted[k]!) & 0xff;
    return { ...triple, diff: repredicted };
  });
  return { type: 'xpatch', window: op.window, start: op.start, triples, prediction };
}
