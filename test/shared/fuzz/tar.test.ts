import fc from 'fast-check';
import t from 'tap';
import { splitTar, type SplitPart } from '../../../shared/tar/split.js';
import { collect, pieces } from '../../helpers/delta.js';
import { fuzzRuns, mutateBytes, onlyTypedErrors } from '../../helpers/fuzz.js';
import { END_OF_ARCHIVE, paxEntry, rawEntry, type RawHeader } from '../../helpers/raw-tar.js';

const SMALL_LIMITS = { maxSegmentBytes: 16 * 1024, maxTailBytes: 8 * 1024 };

/**
 * Splits `archive` arriving in `pieceSize` pieces. What the reader accepts must be kept byte
 * for byte: the parts concatenate back to the archive.
 */
async function splitsLosslesslyOrRefusesTyped(archive: Buffer, pieceSize: number): Promise<void> {
  await onlyTypedErrors(async () => {
    const parts: SplitPart[] = [];
    for await (const part of splitTar(pieces(archive, pieceSize), SMALL_LIMITS)) parts.push(part);
    const joined = await collect((async function* () {
      for (const part of parts) yield part.kind === 'data' ? part.bytes : part.segment;
    })());
    if (!joined.equals(archive)) throw new Error('the parts do not concatenate back to the archive');
  });
}

const names = fc.oneof(
  fc.constantFrom('etc/motd', './a//b/', '../escape', '/abs', 'dir/', '', '.wh..wh..opq', 'a'.repeat(100)),
  fc.string({ maxLength: 100 }),
);

/** Headers with valid checksums but any type flag, size field, name and link: the parser must go past the checksum. */
const headers: fc.Arbitrary<RawHeader> = fc.record(
  {
    name: names,
    type: fc.oneof(fc.constantFrom('0', '1', '2', '3', '4', '5', '6', '7', 'x', 'g', 'L', 'K', 'S', 'V', '\0'), fc.string({ minLength: 1, maxLength: 1 })),
    mode: fc.nat({ max: 0o7777 }),
    linkname: names,
    sizeField: fc.uint8Array({ minLength: 12, maxLength: 12 }).map((b) => Buffer.from(b)),
  },
  { requiredKeys: ['name'] },
);

const paxRecords = fc.dictionary(fc.constantFrom('path', 'linkpath', 'size', 'uid', 'mtime', 'GNU.sparse.major', 'x'), fc.string({ maxLength: 40 }), { maxKeys: 3 });

const entries = fc.array(
  fc.oneof(
    fc.tuple(headers, fc.oneof(fc.constant(new Uint8Array()), fc.uint8Array({ maxLength: 1500 }))).map(([header, content]) => rawEntry(header, Buffer.from(content))),
    fc.tuple(paxRecords, fc.constantFrom<'x' | 'g'>('x', 'g')).map(([records, type]) => paxEntry(records, type)),
  ),
  { maxLength: 6 },
);

const archives = fc.tuple(entries, fc.boolean()).map(([parts, ended]) => Buffer.concat([...parts, ...(ended ? [END_OF_ARCHIVE] : [])]));
const pieceSizes = fc.integer({ min: 1, max: 4096 });

t.test('random bytes only raise typed errors', async () => {
  await fc.assert(
    fc.asyncProperty(fc.uint8Array({ maxLength: 3000 }), pieceSizes, (bytes, size) => splitsLosslesslyOrRefusesTyped(Buffer.from(bytes), size)),
    { numRuns: fuzzRuns(1000) },
  );
});

t.test('archives of hostile headers with valid checksums are split losslessly or refused with typed errors', async () => {
  await fc.assert(
    fc.asyncProperty(archives, pieceSizes, (archive, size) => splitsLosslesslyOrRefusesTyped(archive, size)),
    { numRuns: fuzzRuns(1000) },
  );
});

t.test('damaged archives are split losslessly or refused with typed errors', async () => {
  await fc.assert(
    fc.asyncProperty(archives, fc.gen(), pieceSizes, (archive, g, size) => splitsLosslesslyOrRefusesTyped(mutateBytes(archive, g), size)),
    { numRuns: fuzzRuns(1000) },
  );
});
