import { randomBytes } from 'node:crypto';
import fc from 'fast-check';
import t from 'tap';
import { decodeDelta, readDeltaHeader } from '../../../shared/delta/decoder.js';
import { DECODE_PIECE_BYTES, DELTA_MAGIC, DELTA_READABLE_VERSIONS, MAX_BLOCK_BYTES, type DeltaOp } from '../../../shared/delta/format.js';
import { encodeDelta } from '../../../shared/delta/writer.js';
import { collect, drawDeltaCase, tarBases, fuzzRuns, headerFor, identityOf, memoryBases, pieces, type ReadLog } from '../../helpers/delta.js';

t.test('encode then decode is byte-exact for random bases and operations, in every format version', async () => {
  await fc.assert(
    fc.asyncProperty(fc.gen(), fc.integer({ min: 1, max: 5000 }), fc.constantFrom(...DELTA_READABLE_VERSIONS), async (g, chunkSize, version) => {
      const { bases, header, ops, target } = drawDeltaCase(g, version);
      const blob = await collect(encodeDelta(header, ops, { version }));
      if (blob[DELTA_MAGIC.length] !== version) throw new Error(`asked for version ${version}, got ${blob[DELTA_MAGIC.length]}`);
      const decoded = await collect(decodeDelta(pieces(blob, chunkSize), memoryBases(bases), identityOf(header)));
      if (!decoded.equals(target)) throw new Error(`decoded ${decoded.length} bytes differ from the ${target.length}-byte target`);
      const parsed = await readDeltaHeader(pieces(blob, chunkSize), identityOf(header));
      if (JSON.stringify(parsed) !== JSON.stringify(header)) throw new Error('header did not round-trip');
    }),
    { numRuns: fuzzRuns(200) },
  );
});

t.test('an empty target needs no operations', async (t) => {
  const header = headerFor(Buffer.alloc(0), []);
  const blob = await collect(encodeDelta(header, []));
  t.equal((await collect(decodeDelta(pieces(blob, 1), memoryBases([]), identityOf(header)))).length, 0);
});

t.test('large operations are streamed in bounded pieces and bounded basis reads', async (t) => {
  const size = Math.max(3 * DECODE_PIECE_BYTES, 3 * MAX_BLOCK_BYTES) + 12345;
  const basis = randomBytes(size);
  const literal = randomBytes(size);
  const diff = Buffer.alloc(size, 1);
  const ops: DeltaOp[] = [
    { type: 'literal', bytes: literal },
    { type: 'copy', basis: 0, offset: 0, length: size },
    { type: 'patch', window: [{ basis: 0, offset: 0, length: size }], start: 0, triples: [{ diff, extra: literal, seek: -size }] },
  ];
  const expected = Buffer.concat([literal, basis, Buffer.from(basis.map((b) => (b + 1) & 0xff)), literal]);
  const header = headerFor(expected, tarBases([basis]));
  const blob = await collect(encodeDelta(header, ops));
  const log: ReadLog = { largestRead: 0, reads: 0 };
  let largestPiece = 0;
  const parts: Buffer[] = [];
  for await (const piece of decodeDelta(pieces(blob, 100_000), memoryBases([basis], log), identityOf(header))) {
    largestPiece = Math.max(largestPiece, piece.length);
    parts.push(piece);
  }
  t.ok(Buffer.concat(parts).equals(expected), 'output is exact');
  t.ok(largestPiece <= DECODE_PIECE_BYTES, `largest output piece ${largestPiece} <= ${DECODE_PIECE_BYTES}`);
  t.ok(log.largestRead <= DECODE_PIECE_BYTES, `largest basis read ${log.largestRead} <= ${DECODE_PIECE_BYTES}`);
});

t.test('a patch of many short diff runs and small operations reaches the consumer in whole pieces', async (t) => {
  const size = 2 * DECODE_PIECE_BYTES + 777;
  const basis = randomBytes(size);
  // a changed byte every 13 bytes: one diff run each, as executables' patches have
  const diff = Buffer.alloc(size);
  for (let i = 0; i < size; i += 13) diff[i] = 1 + (i % 255);
  const patched = Buffer.from(basis.map((byte, i) => (byte + diff[i]!) & 0xff));
  const smallCopies = Array.from({ length: 500 }, (_, i): DeltaOp => ({ type: 'copy', basis: 0, offset: i * 7, length: 5 }));
  const ops: DeltaOp[] = [{ type: 'patch', window: [{ basis: 0, offset: 0, length: size }], start: 0, triples: [{ diff, extra: Buffer.from('end'), seek: 0 }] }, ...smallCopies];
  const expected = Buffer.concat([patched, Buffer.from('end'), ...smallCopies.map((op) => basis.subarray((op as { offset: number }).offset, (op as { offset: number }).offset + 5))]);
  const header = headerFor(expected, tarBases([basis]));
  const blob = await collect(encodeDelta(header, ops));
  const log: ReadLog = { largestRead: 0, reads: 0 };
  const parts: Buffer[] = [];
  for await (const piece of decodeDelta(pieces(blob, 4096), memoryBases([basis], log), identityOf(header))) parts.push(piece);
  t.ok(Buffer.concat(parts).equals(expected), 'output is exact');
  const wholePieces = Math.ceil(expected.length / DECODE_PIECE_BYTES);
  t.equal(parts.length, wholePieces, `${Math.ceil(size / 13)} runs and 500 copies come as ${wholePieces} pieces, not one each`);
  t.ok(log.reads <= 600, `the window is read in chunks, not once per run (${log.reads} reads)`);
});

t.test('a patch window spanning several bases maps positions back to each basis', async (t) => {
  const a = Buffer.from('0123456789');
  const b = Buffer.from('abcdefghij');
  // window = a[5..10) + b[0..4) = "56789abcd"; read 6 bytes from position 3 across the seam
  const ops: DeltaOp[] = [{ type: 'patch', window: [{ basis: 0, offset: 5, length: 5 }, { basis: 1, offset: 0, length: 4 }], start: 3, triples: [{ diff: Buffer.alloc(6), extra: Buffer.alloc(0), seek: 0 }] }];
  const header = headerFor(Buffer.from('89abcd'), tarBases([a, b]));
  const blob = await collect(encodeDelta(header, ops));
  t.equal((await collect(decodeDelta(pieces(blob, 7), memoryBases([a, b]), identityOf(header)))).toString(), '89abcd');
});

t.test('the consumer may stop early; the basis reader is closed', async (t) => {
  const basis = randomBytes(3 * DECODE_PIECE_BYTES);
  const header = headerFor(basis, tarBases([basis]));
  const blob = await collect(encodeDelta(header, [{ type: 'copy', basis: 0, offset: 0, length: basis.length }]));
  let closed = false;
  const open = memoryBases([basis]);
  for await (const piece of decodeDelta(pieces(blob, 1000), async (h) => ({ ...(await open(h)), close: async () => void (closed = true) }), identityOf(header))) {
    t.equal(piece.length, DECODE_PIECE_BYTES);
    break;
  }
  t.ok(closed);
});
