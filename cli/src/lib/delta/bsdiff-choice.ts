import { randomUUID } from 'node:crypto';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { brotliCompress, constants } from 'node:zlib';
import type { BasisRange, PatchOp, PatchTriple } from '../../../../shared/delta/format.js';
import { encodeVarint, zigzag } from '../../../../shared/delta/varint.js';
import { bsdiffFiles } from './bsdiff.js';
import type { SavedRange, TarFiles } from './tar-files.js';

const compress = promisify(brotliCompress);
/** A fast brotli setting: good enough to compare a patch with a literal of the same file. */
const ESTIMATE_PARAMS = { [constants.BROTLI_PARAM_QUALITY]: 5, [constants.BROTLI_PARAM_LGWIN]: 22 };

async function compressedSize(parts: Uint8Array[]): Promise<number> {
  return (await compress(Buffer.concat(parts), { params: ESTIMATE_PARAMS })).length;
}

/** Roughly what the patch's triples cost in the op stream (window ranges aside). */
function tripleBytes(triples: readonly PatchTriple[]): Uint8Array[] {
  return triples.flatMap((triple) => {
    const control: number[] = [];
    encodeVarint(triple.diff.length, control);
    encodeVarint(triple.extra.length, control);
    encodeVarint(zigzag(triple.seek), control);
    return [Buffer.from(control), triple.diff, triple.extra];
  });
}

export interface BsdiffInput {
  /** The old input: candidate files, concatenated, as ranges of the saved base tars ... */
  old: SavedRange[];
  /** ... and as the same ranges of the delta's bases, the PATCH window. */
  window: BasisRange[];
  next: SavedRange;
}

/**
 * Runs bsdiff of the new file against the concatenated candidates and returns the PATCH, or
 * undefined when the patch would not be smaller than the file sent literally (both
 * estimated with the same quick brotli setting).
 */
export async function bsdiffIfItPays(files: TarFiles, input: BsdiffInput, scratchDir: string): Promise<PatchOp | undefined> {
  const name = randomUUID();
  const oldPath = join(scratchDir, `${name}.old`);
  const newPath = join(scratchDir, `${name}.new`);
  try {
    await files.writeFile(oldPath, input.old);
    await files.writeFile(newPath, [input.next]);
    const { start, triples } = await bsdiffFiles(oldPath, newPath, scratchDir);
    const content = await files.read(input.next.tarPath, input.next.range.offset, input.next.range.length);
    const [patchCost, literalCost] = await Promise.all([compressedSize(tripleBytes(triples)), compressedSize([content])]);
    return patchCost < literalCost ? { type: 'patch', window: input.window, start, triples } : undefined;
  } finally {
    await Promise.all([rm(oldPath, { force: true }), rm(newPath, { force: true })]);
  }
}
