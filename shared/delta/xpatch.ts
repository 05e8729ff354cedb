import { CHANNEL, deltaMalformed } from './format.js';
import type { OpSink } from './op-sink.js';
import type { OpSource } from './op-source.js';
import { ARCHITECTURE_CODE, type Architecture, type ReferencePrediction, type ShiftBreakpoint } from './reference-prediction.js';
import { zigzag } from './varint.js';

/** At most this many shift-map breakpoints per XPATCH: the decoder holds them (16 bytes each, 1 MiB). */
export const MAX_SHIFT_BREAKPOINTS = 65_536;
/** Shifts stay below 2^51 in magnitude, so that the change between two fits a signed number. */
export const MAX_SHIFT_MAGNITUDE = 2 ** 51 - 1;

const ARCHITECTURE_OF_CODE = new Map<number, Architecture>(Object.entries(ARCHITECTURE_CODE).map(([name, code]) => [code, name as Architecture]));

/**
 * The rules of an XPATCH's prediction fields: a known architecture, phase 0 to 3 (0 on
 * x86-64), at most MAX_SHIFT_BREAKPOINTS breakpoints at ascending safe-integer positions, each
 * changing the shift to another integer of magnitude at most MAX_SHIFT_MAGNITUDE. `fail` decides which error each side raises.
 */
export function checkPrediction(prediction: ReferencePrediction, fail: (message: string) => never): void {
  if (!(prediction.architecture in ARCHITECTURE_CODE)) fail(`unknown reference architecture ${JSON.stringify(prediction.architecture)}`);
  const phases = prediction.architecture === 'aarch64' ? 4 : 1;
  if (!Number.isInteger(prediction.phase) || prediction.phase < 0 || prediction.phase >= phases) {
    fail(`an ${prediction.architecture} prediction has phase ${prediction.phase}`);
  }
  const { shifts } = prediction;
  if (shifts.length > MAX_SHIFT_BREAKPOINTS) fail(`${shifts.length} shift breakpoints exceed the ${MAX_SHIFT_BREAKPOINTS} limit`);
  let previous: ShiftBreakpoint = { position: -1, shift: 0 };
  for (const breakpoint of shifts) {
    if (!Number.isSafeInteger(breakpoint.position) || breakpoint.position <= previous.position) {
      fail(`shift breakpoint ${breakpoint.position} does not follow ${previous.position}`);
    }
    if (!Number.isSafeInteger(breakpoint.shift) || Math.abs(breakpoint.shift) > MAX_SHIFT_MAGNITUDE || breakpoint.shift === previous.shift) {
      fail(`shift breakpoint at ${breakpoint.position} sets shift ${breakpoint.shift} after ${previous.shift}`);
    }
    previous = breakpoint;
  }
}

/**
 * Architecture byte, phase byte, the predicted length (the sum of the window's range lengths
 * as the writer knew them: the last range is open on the wire and may run further), the
 * breakpoint count, then (position gap, shift change) per breakpoint.
 */
export function writePrediction(out: OpSink, prediction: ReferencePrediction, predictedLength: number): void {
  out.byte(CHANNEL.control, ARCHITECTURE_CODE[prediction.architecture]);
  out.byte(CHANNEL.control, prediction.phase);
  out.varint(CHANNEL.lengths, predictedLength);
  out.varint(CHANNEL.control, prediction.shifts.length);
  let previous = { position: 0, shift: 0 };
  for (const breakpoint of prediction.shifts) {
    out.varint(CHANNEL.offsets, breakpoint.position - previous.position);
    out.varint(CHANNEL.offsets, zigzag(breakpoint.shift - previous.shift));
    previous = breakpoint;
  }
}

/** The prediction fields of an XPATCH whose window is `windowLength` bytes long. */
export async function readPrediction(input: OpSource, windowLength: number): Promise<{ prediction: ReferencePrediction; predictedLength: number }> {
  const code = await input.byte(CHANNEL.control);
  const architecture = ARCHITECTURE_OF_CODE.get(code) ?? deltaMalformed(`unknown reference architecture 0x${code.toString(16)}`);
  const phase = await input.byte(CHANNEL.control);
  const predictedLength = await input.varint(CHANNEL.lengths);
  if (predictedLength < 1 || predictedLength > windowLength) deltaMalformed(`predicted length ${predictedLength} is not 1 to the ${windowLength}-byte window`);
  const count = await input.varint(CHANNEL.control);
  if (count > MAX_SHIFT_BREAKPOINTS) deltaMalformed(`${count} shift breakpoints exceed the ${MAX_SHIFT_BREAKPOINTS} limit`);
  const shifts: ShiftBreakpoint[] = [];
  let previous = { position: 0, shift: 0 };
  for (let i = 0; i < count; i++) {
    const gap = await input.varint(CHANNEL.offsets);
    if (i > 0 && gap === 0) deltaMalformed(`shift breakpoint ${i} repeats position ${previous.position}`);
    previous = { position: previous.position + gap, shift: previous.shift + (await input.signedVarint(CHANNEL.offsets)) };
    shifts.push(previous);
  }
  const prediction = { architecture, phase, shifts };
  checkPrediction(prediction, deltaMalformed);
  return { prediction, predictedLength };
}
