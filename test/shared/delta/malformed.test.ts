import { brotliCompressSync } from 'node:zlib';
import t, { type Test } from 'tap';
import { decodeDelta, readDeltaHeader } from '../../../shared/delta/decoder.js';
import { DELTA_FORMAT_VERSION, DELTA_MAGIC, MAX_BASES, MAX_HEADER_BYTES, OPCODE, type BasisEntry, type DeltaHeader } from '../../../shared/delta/format.js';
import { encodeHeader } from '../../../shared/delta/header.js';
import { encodeVarint, zigzag } from '../../../shared/delta/varint.js';
import { encodeDelta } from '../../../shared/delta/writer.js';
import { sha256Digest } from '../../../shared/digest.js';
import { PrtiqlError } from '../../../shared/errors.js';
import { collect, fileBases, headerFor, memoryBases, pieces } from '../../helpers/delta.js';

const BASIS = Buffer.from('0123456789abcdef');
const TARGET = Buffer.from('target!!');
const HEADER = headerFor(TARGET, fileBases([BASIS]));
const PREFIX = Buffer.concat([DELTA_MAGIC, Buffer.of(DELTA_FORMAT_VERSION)]);

/** Varints (numbers) and raw bytes (Buffers) in order: a hand-made op stream. */
function body(...parts: (number | Buffer)[]): Buffer {
  return Buffer.concat(
    parts.map((part) => {
      if (Buffer.isBuffer(part)) return part;
      const out: number[] = [];
      encodeVarint(part, out);
      return Buffer.from(out);
    }),
  );
}

function blob(opStream: Buffer, prefix = PREFIX): Buffer {
  return Buffer.concat([prefix, brotliCompressSync(opStream)]);
}

function withHeader(header: DeltaHeader, ...ops: (number | Buffer)[]): Buffer {
  return blob(Buffer.concat([encodeHeader(header), body(...ops)]));
}

const op = (code: number) => Buffer.of(code);

async function rejectsMalformed(t: Test, bytes: Buffer, pattern: RegExp, header = false): Promise<void> {
  const run = (): Promise<unknown> => (header ? readDeltaHeader(pieces(bytes, 3)) : collect(decodeDelta(pieces(bytes, 3), memoryBases([BASIS]))));
  await t.rejects(run, { name: 'PrtiqlError', code: 'E_DELTA_MALFORMED', message: pattern });
}

t.test('well-formed hand-made deltas decode (the baselines the cases below break)', async (t) => {
  const copy = withHeader(HEADER, op(OPCODE.literal), 3, Buffer.from('tar'), op(OPCODE.copy), 0, zigzag(4), 5, op(OPCODE.end));
  t.equal((await collect(decodeDelta(pieces(copy, 2), memoryBases([BASIS])))).toString(), 'tar45678');
  // window: basis 0 from offset 4 to its end; add 5 as 3 unchanged bytes, 1 changed (+1), the rest (1) unchanged; extra "xyz"
  const patch = withHeader(HEADER, op(OPCODE.patch), 1, 0, zigzag(4), 0, 5, 3, 0, 3, 1, Buffer.of(1), 0, 0, Buffer.from('xyz'), 0, 0, op(OPCODE.end));
  t.equal((await collect(decodeDelta(pieces(patch, 2), memoryBases([BASIS])))).toString(), '45688xyz');
});

t.test('envelope: magic, version, brotli, trailing bytes', async (t) => {
  const good = withHeader(HEADER, op(OPCODE.literal), 8, TARGET, op(OPCODE.end));
  await rejectsMalformed(t, Buffer.alloc(0), /too short/);
  await rejectsMalformed(t, good.subarray(0, 5), /too short/);
  await rejectsMalformed(t, Buffer.concat([Buffer.from('NOTDELTA'), good.subarray(8)]), /bad magic/);
  await rejectsMalformed(t, Buffer.concat([DELTA_MAGIC, Buffer.of(3), good.subarray(8)]), /version 3/);
  await rejectsMalformed(t, good.subarray(0, good.length - 1), /corrupt or truncated/);
  await rejectsMalformed(t, PREFIX, /corrupt or truncated/);
  await rejectsMalformed(t, Buffer.concat([good, Buffer.from('x')]), /1 bytes follow the compressed op stream/);
  await rejectsMalformed(t, Buffer.concat([good, good]), /follow the compressed op stream/);
  await rejectsMalformed(t, Buffer.concat([PREFIX, Buffer.from('definitely not brotli data')]), /corrupt or truncated/);
});

t.test('header', async (t) => {
  const digest = Buffer.alloc(32, 7);
  await rejectsMalformed(t, blob(digest.subarray(0, 20)), /truncated/, true);
  await rejectsMalformed(t, blob(body(digest, 8, 2, digest, digest)), /listed twice/, true);
  await rejectsMalformed(t, blob(body(digest, 8, 1, digest, 1, Buffer.of(9), 0, 4)), /unknown kind 0x9/, true);
  await rejectsMalformed(t, blob(body(digest, 8, 1, digest, 1, Buffer.of(2), 1, 4)), /names layer 1 of 1/, true);
  await rejectsMalformed(t, blob(body(digest, 8, 1, digest, MAX_BASES + 1)), /bases exceed/, true);
  await rejectsMalformed(t, blob(body(digest, 8, 1, digest, 1, Buffer.of(1), 0, 2, Buffer.of(0xff, 0xfe), 4, digest)), /not UTF-8/, true);
  for (const path of ['/abs', 'a/../b', 'a//b', './a', 'a/', 'nul\0']) {
    const bytes = Buffer.from(path);
    await rejectsMalformed(t, blob(body(digest, 8, 1, digest, 1, Buffer.of(1), 0, bytes.length, bytes, 4, digest)), /not a normalized layer path/, true);
  }
  const longPath = 'p/'.repeat(2000) + 'x';
  const bases: BasisEntry[] = Array.from({ length: Math.ceil(MAX_HEADER_BYTES / 4000) + 2 }, (_, i) => ({
    kind: 'file',
    layer: sha256Digest('l'),
    path: `${longPath}${i}`,
    size: 1,
    sha256: sha256Digest('c'),
  }));
  await rejectsMalformed(t, withHeader(headerFor(TARGET, bases)), /header is longer than/, true);
});

t.test('numbers', async (t) => {
  const literal = op(OPCODE.literal);
  await rejectsMalformed(t, withHeader(HEADER, literal, Buffer.of(0x88, 0x00)), /overlong/);
  await rejectsMalformed(t, withHeader(HEADER, literal, Buffer.alloc(8, 0xff), Buffer.of(1)), /longer than 8 bytes/);
  await rejectsMalformed(t, withHeader(HEADER, literal, Buffer.of(0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f)), /exceeds/);
  await rejectsMalformed(t, withHeader(HEADER, literal, Buffer.of(0x88)), /truncated inside a number/);
});

t.test('operations', async (t) => {
  const { literal, copy, patch, end } = OPCODE;
  const cases: [string, (number | Buffer)[], RegExp][] = [
    ['unknown opcode', [op(0x7f)], /unknown operation code 0x7f/],
    ['ops missing', [], /truncated/],
    ['end too early', [op(literal), 4, Buffer.from('targ'), op(end)], /write 4 bytes, the header declares 8/],
    ['output past the declared size', [op(literal), 9, Buffer.alloc(9)], /passes the declared target size/],
    ['bytes after end', [op(literal), 8, TARGET, op(end), Buffer.of(0)], /bytes follow the end operation/],
    ['truncated literal', [op(literal), 8, Buffer.from('tar')], /truncated inside the bytes/],
    ['zero-length literal', [op(literal), 0], /length of 0/],
    ['basis index outside the table', [op(copy), 1, 0, 4], /basis index 1 is outside the 1-entry/],
    ['copy before the basis start', [op(copy), 0, zigzag(-1), 4], /outside basis 0 of 16 bytes/],
    ['copy past the basis end', [op(copy), 0, zigzag(14), 4], /outside basis 0 of 16 bytes/],
    ['zero-length copy', [op(copy), 0, 0, 0], /length of 0/],
    ['window without ranges', [op(patch), 0], /has 0 ranges/],
    ['window starting at the basis end', [op(patch), 1, 0, zigzag(16)], /window starting at 16 is outside basis 0/],
    ['explicit range past the basis end', [op(patch), 2, 0, zigzag(10), 7, 0, 0], /range 10\+7 is outside basis 0/],
    ['start outside the window', [op(patch), 1, 0, zigzag(12), 5], /patch start 5 is outside its 4-byte window/],
    ['patch past the target size', [op(patch), 1, 0, 0, 0, 9, 0, 0], /control triple of 9 bytes passes the declared target size/],
    ['triple reading past the window', [op(patch), 1, 0, zigzag(12), 1, 4, 0, 0], /reads 1\+4, past its 4-byte window/],
    ['triple seeking before the window', [op(patch), 1, 0, zigzag(12), 0, 2, 6, zigzag(-3)], /seeks to -1/],
    ['triple seeking past the window', [op(patch), 1, 0, zigzag(12), 0, 2, 6, zigzag(3)], /seeks to 5/],
    ['patch without triples', [op(patch), 1, 0, 0, 0, 0, 0], /a patch without control triples/],
    ['diff run longer than its triple', [op(patch), 1, 0, 0, 0, 2, 0, 0, 1, 2, Buffer.of(1, 1)], /diff run of 1\+2 bytes is not/],
    ['diff run without changed bytes', [op(patch), 1, 0, 0, 0, 2, 0, 0, 1, 0], /diff run of 1\+0 bytes is not/],
    ['patch without its end', [op(patch), 1, 0, 0, 0, 2, 0, 0, 0, 0, op(end)], /truncated inside a number/],
  ];
  for (const [name, ops, pattern] of cases) {
    await t.test(name, (t) => rejectsMalformed(t, withHeader(HEADER, ...ops), pattern));
  }
});

t.test('errors of the source and of the basis opener pass through unchanged', async (t) => {
  const bytes = await collect(encodeDelta(HEADER, [{ type: 'literal', bytes: TARGET }]));
  const failing = new PrtiqlError('E_DIGEST_MISMATCH', 'chunk 0 does not match');
  async function* brokenSource() {
    yield bytes.subarray(0, 12);
    throw failing;
  }
  await t.rejects(collect(decodeDelta(brokenSource(), memoryBases([BASIS]))), failing);
  const refusal = new PrtiqlError('E_NOT_FOUND', 'basis layer missing');
  await t.rejects(collect(decodeDelta(pieces(bytes, 5), async () => { throw refusal; })), refusal);
});

t.test('a basis that returns fewer bytes than asked is a size mismatch', async (t) => {
  const bytes = await collect(encodeDelta(HEADER, [{ type: 'copy', basis: 0, offset: 0, length: 8 }]));
  const short = async () => ({ read: async () => BASIS.subarray(0, 3) });
  await t.rejects(collect(decodeDelta(pieces(bytes, 5), short)), { code: 'E_SIZE_MISMATCH' });
});
