import { brotliCompressSync, brotliDecompressSync } from 'node:zlib';
import fc from 'fast-check';
import t from 'tap';
import { decodeDelta } from '../../../shared/delta/decoder.js';
import { DELTA_MAGIC, DELTA_PREFIX_LENGTH, DELTA_READABLE_VERSIONS, type DeltaIdentity } from '../../../shared/delta/format.js';
import { encodeDelta } from '../../../shared/delta/writer.js';
import { sha256Digest } from '../../../shared/digest.js';
import { isPrtiqlError } from '../../../shared/errors.js';
import { bytesOf, collect, drawDeltaCase, fuzzRuns, identityOf, int, memoryBases, pieces } from '../../helpers/delta.js';

const versions = fc.constantFrom(...DELTA_READABLE_VERSIONS);
const prefix = (version: number) => Buffer.concat([DELTA_MAGIC, Buffer.of(version)]);

/** Decoding either succeeds or raises E_DELTA_MALFORMED; any other throw fails the property. */
async function decodesOrRejectsTyped(bytes: Uint8Array, bases: Uint8Array[], chunkSize: number, identity: DeltaIdentity): Promise<void> {
  try {
    await collect(decodeDelta(pieces(bytes, chunkSize), memoryBases(bases), identity));
  } catch (error) {
    if (!isPrtiqlError(error, 'E_DELTA_MALFORMED')) throw error;
  }
}

type Mutation = (bytes: Buffer, g: fc.GeneratorValue) => Buffer;

const mutations: Record<string, Mutation> = {
  flip: (bytes, g) => {
    const copy = Buffer.from(bytes);
    if (copy.length > 0) copy[int(g, 0, copy.length - 1)] ^= 1 << int(g, 0, 7);
    return copy;
  },
  overwrite: (bytes, g) => {
    const copy = Buffer.from(bytes);
    bytesOf(g, int(g, 1, 8)).copy(copy, int(g, 0, Math.max(0, copy.length - 1)));
    return copy;
  },
  truncate: (bytes, g) => bytes.subarray(0, int(g, 0, Math.max(0, bytes.length - 1))),
  append: (bytes, g) => Buffer.concat([bytes, bytesOf(g, int(g, 1, 16))]),
  insert: (bytes, g) => {
    const at = int(g, 0, bytes.length);
    return Buffer.concat([bytes.subarray(0, at), bytesOf(g, int(g, 1, 16)), bytes.subarray(at)]);
  },
  remove: (bytes, g) => {
    const at = int(g, 0, bytes.length);
    return Buffer.concat([bytes.subarray(0, at), bytes.subarray(at + int(g, 1, 16))]);
  },
};

function mutate(bytes: Buffer, g: fc.GeneratorValue): Buffer {
  let result = bytes;
  const names = Object.keys(mutations);
  for (let i = int(g, 1, 3); i > 0; i--) result = mutations[names[int(g, 0, names.length - 1)]!]!(result, g);
  return result;
}

const chunkSizes = fc.integer({ min: 1, max: 4096 });

t.test('random bytes, with or without a valid prefix and brotli envelope, only raise the typed error', async () => {
  const input = fc.tuple(fc.uint8Array({ maxLength: 400 }), fc.constantFrom('raw', 'prefixed', 'compressed'), versions).map(([bytes, form, version]) => {
    if (form === 'raw') return Buffer.from(bytes);
    if (form === 'prefixed') return Buffer.concat([prefix(version), bytes]);
    return Buffer.concat([prefix(version), brotliCompressSync(bytes)]);
  });
  await fc.assert(
    fc.asyncProperty(input, chunkSizes, (bytes, chunkSize) => decodesOrRejectsTyped(bytes, [], chunkSize, { target: sha256Digest('any'), basisLayers: [] })),
    { numRuns: fuzzRuns(1000) },
  );
});

t.test('mutated valid deltas only raise the typed error', async () => {
  await fc.assert(
    fc.asyncProperty(fc.gen(), chunkSizes, versions, async (g, chunkSize, version) => {
      const { bases, header, ops } = drawDeltaCase(g, version);
      const blob = await collect(encodeDelta(header, ops, { version }));
      await decodesOrRejectsTyped(mutate(blob, g), bases, chunkSize, identityOf(header));
    }),
    { numRuns: fuzzRuns(200) },
  );
});

t.test('valid deltas with a mutated op stream (recompressed) only raise the typed error', async () => {
  await fc.assert(
    fc.asyncProperty(fc.gen(), chunkSizes, versions, async (g, chunkSize, version) => {
      const { bases, header, ops } = drawDeltaCase(g, version);
      const blob = await collect(encodeDelta(header, ops, { version }));
      const opStream = brotliDecompressSync(blob.subarray(DELTA_PREFIX_LENGTH));
      const mutated = Buffer.concat([prefix(version), brotliCompressSync(mutate(opStream, g))]);
      await decodesOrRejectsTyped(mutated, bases, chunkSize, identityOf(header));
    }),
    { numRuns: fuzzRuns(200) },
  );
});
