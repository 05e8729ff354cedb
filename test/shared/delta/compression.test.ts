import { randomBytes } from 'node:crypto';
import { brotliCompressSync, brotliDecompressSync, constants } from 'node:zlib';
import t from 'tap';
import { decodeDelta } from '../../../shared/delta/decoder.js';
import { BROTLI_DISTANCE_PARAMS, BROTLI_QUALITY, BROTLI_WINDOW_BITS, DELTA_PREFIX_LENGTH, type DeltaOp } from '../../../shared/delta/format.js';
import { encodeDelta } from '../../../shared/delta/writer.js';
import { applyInMemory, collect, tarBases, headerFor, identityOf, memoryBases, pieces } from '../../helpers/delta.js';

function compressedWith(raw: Buffer, [postfix, direct]: readonly number[]): number {
  const params = {
    [constants.BROTLI_PARAM_QUALITY]: BROTLI_QUALITY,
    [constants.BROTLI_PARAM_LGWIN]: BROTLI_WINDOW_BITS,
    [constants.BROTLI_PARAM_SIZE_HINT]: raw.length,
    [constants.BROTLI_PARAM_NPOSTFIX]: postfix!,
    [constants.BROTLI_PARAM_NDIRECT]: direct!,
  };
  return brotliCompressSync(raw, { params }).length;
}

/** Copies of text lines with short literal edits between them, drawn from `seed`. */
function editedText(basis: Buffer, seed: number): DeltaOp[] {
  let state = seed;
  const next = (below: number) => {
    state = (state * 1103515245 + 12345) >>> 0;
    return state % below;
  };
  return Array.from({ length: 400 }, (): DeltaOp[] => {
    const length = 20 + next(200);
    return [
      { type: 'copy', basis: 0, offset: next(basis.length - length), length },
      { type: 'literal', bytes: Buffer.from(`edit ${next(100_000)}`) },
    ];
  }).flat();
}

t.test("a short op stream is compressed with whichever of brotli's distance parameters makes it smallest", async (t) => {
  const basis = Buffer.from(Array.from({ length: 3000 }, (_, i) => `line ${i}: value ${(i * 7919) % 1000}\n`).join(''));
  let beatDefault = 0;
  for (let seed = 1; seed <= 8; seed++) {
    const ops = editedText(basis, seed);
    const target = applyInMemory([basis], ops);
    const header = headerFor(target, tarBases([basis]));
    const blob = await collect(encodeDelta(header, ops));
    t.ok((await collect(decodeDelta(pieces(blob, 1000), memoryBases([basis]), identityOf(header)))).equals(target), `seed ${seed} decodes`);
    const raw = brotliDecompressSync(blob.subarray(DELTA_PREFIX_LENGTH));
    const sizes = BROTLI_DISTANCE_PARAMS.map((distance) => compressedWith(raw, distance));
    t.equal(blob.length - DELTA_PREFIX_LENGTH, Math.min(...sizes), `seed ${seed}: the smallest of ${sizes.join(', ')}`);
    if (Math.min(...sizes) < sizes[0]!) beatDefault++;
  }
  t.ok(beatDefault > 0, `brotli's defaults were not the smallest for ${beatDefault} of 8 streams`);
});

t.test('a long op stream is compressed as it is produced', async (t) => {
  const literal = randomBytes(3 * 1024 * 1024);
  const ops: DeltaOp[] = [{ type: 'literal', bytes: literal }];
  const header = headerFor(literal, []);
  const blob = await collect(encodeDelta(header, ops));
  t.ok((await collect(decodeDelta(pieces(blob, 64 * 1024), memoryBases([]), identityOf(header)))).equals(literal));
});
