import { randomUUID } from 'node:crypto';
import { readFile, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import bsdiff from 'bsdiff-node';
import Bunzip from 'seek-bzip';
import { PrtiqlError } from '../../../../shared/errors.js';
import { PatchBuilder, type PatchSteps } from './patch-builder.js';

/**
 * Largest old + new input given to bsdiff. bsdiff holds the old file and, while sorting, two
 * 8-byte-per-byte suffix arrays, then the new file and two new-sized buffers: its peak memory
 * is about max(17 x old, 9 x old + 3 x new), so at most about 1.1 GiB per running bsdiff at
 * this cap. Larger files take the planner's cheaper method.
 */
export const BSDIFF_MAX_INPUT_BYTES = 64 * 1024 * 1024;

const HEADER_BYTES = 32;
const CONTROL_BYTES = 24;

function badPatch(message: string): never {
  throw new PrtiqlError('E_BAD_INPUT', `BSDIFF40 patch: ${message}`);
}

/** bsdiff's offtin: 8 bytes little-endian, sign in the top bit (sign-magnitude, not two's complement). */
function offtin(bytes: Buffer, at: number): number {
  const high = bytes.readUInt32LE(at + 4);
  const magnitude = (high & 0x7fffffff) * 2 ** 32 + bytes.readUInt32LE(at);
  if (!Number.isSafeInteger(magnitude)) badPatch(`number at ${at} is too large`);
  return high & 0x80000000 ? -magnitude : magnitude;
}

function bunzip(block: Buffer, what: string): Buffer {
  try {
    return Bunzip.decode(block);
  } catch (error) {
    return badPatch(`${what} block is not valid bzip2 (${(error as Error).message})`);
  }
}

/**
 * bspatch reads old bytes outside the old file as zero, so the diff bytes over such positions
 * are the new bytes themselves: they become extra bytes, and only in-range bytes are added.
 */
function addInRange(builder: PatchBuilder, position: number, diff: Buffer, oldSize: number): void {
  const before = Math.min(Math.max(-position, 0), diff.length);
  const inside = Math.min(Math.max(oldSize - position, before), diff.length);
  builder.extra(diff.subarray(0, before));
  builder.add(position + before, diff.subarray(before, inside));
  builder.extra(diff.subarray(inside));
}

/**
 * Turns a BSDIFF40 patch (32-byte header, then bzip2 control, diff and extra blocks) into the
 * inline control triples of a PATCH operation whose window is the old file.
 */
export function transcodeBsdiff(patch: Buffer, oldSize: number, newSize: number): PatchSteps {
  if (patch.length < HEADER_BYTES || patch.toString('latin1', 0, 8) !== 'BSDIFF40') badPatch('bad magic');
  const controlLength = offtin(patch, 8);
  const diffLength = offtin(patch, 16);
  if (offtin(patch, 24) !== newSize) badPatch(`new size ${offtin(patch, 24)} is not ${newSize}`);
  if (controlLength < 0 || diffLength < 0 || HEADER_BYTES + controlLength + diffLength > patch.length) {
    badPatch('block lengths do not fit the patch');
  }
  const diffStart = HEADER_BYTES + controlLength;
  const control = bunzip(patch.subarray(HEADER_BYTES, diffStart), 'control');
  const diff = bunzip(patch.subarray(diffStart, diffStart + diffLength), 'diff');
  const extra = bunzip(patch.subarray(diffStart + diffLength), 'extra');
  if (control.length % CONTROL_BYTES !== 0) badPatch(`control block of ${control.length} bytes is not whole triples`);

  const builder = new PatchBuilder();
  let written = 0;
  let oldPosition = 0;
  let diffAt = 0;
  let extraAt = 0;
  for (let at = 0; at < control.length; at += CONTROL_BYTES) {
    const addLength = offtin(control, at);
    const extraLength = offtin(control, at + 8);
    const seek = offtin(control, at + 16);
    if (addLength < 0 || extraLength < 0 || addLength + extraLength > newSize - written) {
      badPatch(`control triple ${at / CONTROL_BYTES} writes outside the new file`);
    }
    if (addLength > diff.length - diffAt || extraLength > extra.length - extraAt) {
      badPatch(`control triple ${at / CONTROL_BYTES} reads past the diff or extra block`);
    }
    addInRange(builder, oldPosition, diff.subarray(diffAt, diffAt + addLength), oldSize);
    builder.extra(extra.subarray(extraAt, extraAt + extraLength));
    written += addLength + extraLength;
    oldPosition += addLength + seek;
    diffAt += addLength;
    extraAt += extraLength;
  }
  if (written !== newSize || diffAt !== diff.length || extraAt !== extra.length) {
    badPatch(`control triples write ${written} of ${newSize} bytes and leave block bytes unused`);
  }
  return builder.finish();
}

/**
 * Diffs two files with bsdiff-node (native, on the libuv thread pool) and returns the patch as
 * control triples over the old file. Inputs larger than BSDIFF_MAX_INPUT_BYTES together are
 * refused with E_TOO_LARGE. The BSDIFF40 patch is written to `scratchDir` and removed.
 */
export async function bsdiffFiles(oldPath: string, newPath: string, scratchDir: string): Promise<PatchSteps> {
  const [oldSize, newSize] = (await Promise.all([stat(oldPath), stat(newPath)])).map((s) => s.size) as [number, number];
  if (oldSize + newSize > BSDIFF_MAX_INPUT_BYTES) {
    throw new PrtiqlError('E_TOO_LARGE', `bsdiff input of ${oldSize + newSize} bytes exceeds the ${BSDIFF_MAX_INPUT_BYTES}-byte cap`);
  }
  const patchPath = join(scratchDir, `${randomUUID()}.bsdiff`);
  try {
    await bsdiff.diff(oldPath, newPath, patchPath).catch((reason: unknown) => {
      throw new PrtiqlError('E_INTERNAL', `bsdiff failed on ${newPath}: ${String(reason)}`);
    });
    return transcodeBsdiff(await readFile(patchPath), oldSize, newSize);
  } finally {
    await rm(patchPath, { force: true });
  }
}
