import { brotliCompressSync, brotliDecompressSync } from 'node:zlib';
import t, { type Test } from 'tap';
import { decodeDelta, readDeltaHeader } from '../../../shared/delta/decoder.js';
import { DELTA_MAGIC, DELTA_PREFIX_LENGTH, MAX_BASES, MAX_BLOCK_BYTES, OPCODE, type DeltaHeader, type DeltaIdentity } from '../../../shared/delta/format.js';
import { encodeHeader } from '../../../shared/delta/header.js';
import { zigzag } from '../../../shared/delta/varint.js';
import { MAX_SHIFT_BREAKPOINTS, MAX_SHIFT_MAGNITUDE } from '../../../shared/delta/xpatch.js';
import { encodeDelta } from '../../../shared/delta/writer.js';
import { sha256Digest } from '../../../shared/digest.js';
import { PrtiqlError } from '../../../shared/errors.js';
import { MAX_OCTAL_SIZE } from '../../../shared/tar/header-size.js';
import { block, body, collect, tarBases, headerFor, identityOf, memoryBases, pieces, tarHeaderBlock, type Sections } from '../../helpers/delta.js';

const BASIS = Buffer.from('0123456789abcdef');
const TARGET = Buffer.from('target!!');
const HEADER = headerFor(TARGET, tarBases([BASIS]));
/** The hand-made op streams below are version 1: every field in one stream, in order. */
const PREFIX = Buffer.concat([DELTA_MAGIC, Buffer.of(1)]);

function blob(opStream: Buffer, prefix = PREFIX): Buffer {
  return Buffer.concat([prefix, brotliCompressSync(opStream)]);
}

function withHeader(header: DeltaHeader, ...ops: (number | Buffer)[]): Buffer {
  return blob(Buffer.concat([encodeHeader(header, 1), body(...ops)]));
}

const op = (code: number) => Buffer.of(code);

function version2(header: DeltaHeader, ...blocks: Buffer[]): Buffer {
  return blob(Buffer.concat([encodeHeader(header, 2), ...blocks]), Buffer.concat([DELTA_MAGIC, Buffer.of(2)]));
}

function version3(header: DeltaHeader, ...blocks: Buffer[]): Buffer {
  return blob(Buffer.concat([encodeHeader(header, 3), ...blocks]), Buffer.concat([DELTA_MAGIC, Buffer.of(3)]));
}

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
  await rejectsMalformed(t, Buffer.concat([DELTA_MAGIC, Buffer.of(4), good.subarray(8)]), /version 4 is not supported \(this decoder reads versions 1, 2 and 3\)/);
  await rejectsMalformed(t, Buffer.concat([DELTA_MAGIC, Buffer.of(0), good.subarray(8)]), /version 0 is not supported/);
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
  await rejectsMalformed(t, blob(body(digest, 8, 1, digest, 1, Buffer.of(3), 1, 4)), /names layer 1 of 1/, true);
  for (const retired of [1, 2]) await rejectsMalformed(t, blob(body(digest, 8, 1, digest, 1, Buffer.of(retired), 0, 4)), new RegExp(`unknown kind 0x${retired}`), true);
  await rejectsMalformed(t, blob(body(digest, 8, 1, digest, MAX_BASES + 1)), /bases exceed/, true);
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

t.test('version 2: well-formed hand-made blocks decode', async (t) => {
  const { literal, copy, patch, end } = OPCODE;
  const decode = async (bytes: Buffer) => (await collect(decodeDelta(pieces(bytes, 2), memoryBases([BASIS])))).toString();
  const oneBlock = block({ control: [op(literal), op(copy), 0, op(end)], lengths: [3, 5], offsets: [zigzag(4)], literals: [Buffer.from('tar')] });
  t.equal(await decode(version2(HEADER, oneBlock)), 'tar45678');
  // a literal cut by the end of a block goes on in the next one
  const split = version2(HEADER, block({ control: [op(literal)], lengths: [8], literals: [Buffer.from('targ')] }), block({ control: [op(end)], literals: [Buffer.from('et!!')] }));
  t.equal(await decode(split), 'target!!');
  // the version-1 patch of the baseline test above, its fields in their channels
  const patched = block({
    control: [op(patch), 1, 0, op(end)],
    offsets: [zigzag(4), 0, 0],
    triples: [5, 3, 0, 0],
    diffs: [3, 1, Buffer.of(1), 0, 0],
    extras: [Buffer.from('xyz')],
  });
  t.equal(await decode(version2(HEADER, patched)), '45688xyz');
});

t.test('version 2: blocks', async (t) => {
  const { literal, end } = OPCODE;
  const firstHalf = block({ control: [op(literal)], lengths: [8], literals: [Buffer.from('targ')] });
  const secondHalf = block({ control: [op(end)], literals: [Buffer.from('et!!')] });
  const complete = block({ control: [op(literal), op(end)], lengths: [8], literals: [TARGET] });
  const cases: [string, Buffer[], RegExp][] = [
    ['no block at all', [], /the control channel needs a block after block 0/],
    ['no block after a cut literal', [firstHalf], /the literals channel needs a block after block 1/],
    ['an empty block', [firstHalf, block({})], /block 2 has no literals bytes, which the operation being read needs/],
    ['the next block without the bytes needed', [firstHalf, block({ control: [op(end)] })], /block 2 has no literals bytes/],
    ['unread bytes when the next block is needed', [block({ control: [op(literal)], lengths: [8, 5], literals: [Buffer.from('targ')] }), secondHalf], /block 1 has no literals bytes left but 1 other bytes unread/],
    ['a block longer than the limit', [block({ control: [op(literal)] }, [MAX_BLOCK_BYTES, 1, 0, 0, 0, 0, 0])], new RegExp(`block 1 is longer than ${MAX_BLOCK_BYTES} bytes`)],
    ['a truncated block', [block({ control: [op(literal)], lengths: [8] }, [1, 1, 0, 0, 0, 0, 9])], /truncated: 11 bytes expected, 2 left/],
    ['truncated section lengths', [body(1, 1, 0)], /truncated inside a number/],
    ['a number cut by the end of its section', [block({ control: [op(literal)], lengths: [Buffer.of(0x88)] }), secondHalf], /truncated inside a number/],
    ['bytes after end in a section', [block({ control: [op(literal), op(end), 0], lengths: [8], literals: [TARGET] })], /bytes follow the end operation/],
    ['a block after end', [complete, block({ control: [op(end)] })], /bytes follow the end operation/],
  ];
  for (const [name, blocks, pattern] of cases) {
    await t.test(name, (t) => rejectsMalformed(t, version2(HEADER, ...blocks), pattern));
  }
});

t.test('version 2: a corrupted or truncated delta from the writer is refused', async (t) => {
  const basis = Buffer.from('the quick brown fox jumps over the lazy dog '.repeat(50));
  const target = Buffer.concat([basis.subarray(0, 700), Buffer.from('a new line of text\n'), basis.subarray(650)]);
  const header = headerFor(target, tarBases([basis]));
  const bytes = await collect(
    encodeDelta(header, [
      { type: 'copy', basis: 0, offset: 0, length: 700 },
      { type: 'literal', bytes: Buffer.from('a new line of text\n') },
      { type: 'patch', window: [{ basis: 0, offset: 650, length: basis.length - 650 }], start: 0, triples: [{ diff: Buffer.alloc(basis.length - 650, 0), extra: Buffer.alloc(0), seek: 0 }] },
    ], { version: 2 }),
  );
  t.equal(bytes[DELTA_MAGIC.length], 2, 'the writer emits version 2 when asked');
  const decode = (blob: Buffer) => collect(decodeDelta(pieces(blob, 7), memoryBases([basis])));
  t.ok((await decode(bytes)).equals(target), 'the intact delta decodes');
  const malformed = { name: 'PrtiqlError', code: 'E_DELTA_MALFORMED' };
  await t.rejects(decode(bytes.subarray(0, bytes.length - 3)), { ...malformed, message: /corrupt or truncated/ });
  const opStream = brotliDecompressSync(bytes.subarray(DELTA_PREFIX_LENGTH));
  const recompressed = (stream: Buffer) => Buffer.concat([bytes.subarray(0, DELTA_PREFIX_LENGTH), brotliCompressSync(stream)]);
  await t.rejects(decode(recompressed(opStream.subarray(0, opStream.length - 1))), { ...malformed, message: /truncated/ });
  // the first block's control section declared one byte longer than it is
  const corrupted = Buffer.from(opStream);
  corrupted[encodeHeader(header, 2).length]! += 1;
  await t.rejects(decode(recompressed(corrupted)), malformed);
});

t.test('version 2: xpatch prediction fields', async (t) => {
  const { xpatch, end } = OPCODE;
  /** One block with an XPATCH over all 16 basis bytes that adds 8 unchanged bytes; `fields` per channel. */
  const withFields = (control: (number | Buffer)[], lengths: number[], breakpoints: number[]) =>
    version2(
      HEADER,
      block({ control: [op(xpatch), 1, 0, ...control, op(end)], lengths, offsets: [0, ...breakpoints, 0, 0], triples: [8, 0, 0, 0], diffs: [0, 0] }),
    );
  const good = withFields([Buffer.of(1, 0), 1], [16], [3, zigzag(-2)]);
  t.equal((await collect(decodeDelta(pieces(good, 2), memoryBases([BASIS])))).toString(), '01234567', 'the baseline decodes');
  // the same fields in a version-1 stream
  const inVersion1 = withHeader(HEADER, op(xpatch), 1, 0, 0, Buffer.of(1, 0), 16, 0, 0, 8, 0, 0, 0, 0, 0, 0, op(end));
  await rejectsMalformed(t, inVersion1, /an xpatch inside a deflate member or in a version-1 delta/);
  const cases: [string, Buffer, RegExp][] = [
    ['unknown architecture', withFields([Buffer.of(3, 0), 0], [16], []), /unknown reference architecture 0x3/],
    ['x86-64 with a phase', withFields([Buffer.of(1, 1), 0], [16], []), /x86_64 prediction has phase 1/],
    ['aarch64 phase past 3', withFields([Buffer.of(2, 4), 0], [16], []), /aarch64 prediction has phase 4/],
    ['predicted length 0', withFields([Buffer.of(1, 0), 0], [0], []), /predicted length 0 is not 1 to the 16-byte window/],
    ['predicted length past the window', withFields([Buffer.of(1, 0), 0], [17], []), /predicted length 17 is not 1 to the 16-byte window/],
    ['too many breakpoints', withFields([Buffer.of(1, 0), MAX_SHIFT_BREAKPOINTS + 1], [16], []), /shift breakpoints exceed/],
    ['a repeated breakpoint', withFields([Buffer.of(1, 0), 2], [16], [3, zigzag(1), 0, zigzag(1)]), /breakpoint 1 repeats position 3/],
    ['a breakpoint that keeps the shift', withFields([Buffer.of(1, 0), 1], [16], [3, 0]), /sets shift 0 after 0/],
    ['a shift too large', withFields([Buffer.of(1, 0), 1], [16], [3, zigzag(MAX_SHIFT_MAGNITUDE + 1)]), /sets shift/],
    ['breakpoints missing', version2(HEADER, block({ control: [op(xpatch), 1, 0, Buffer.of(1, 0), 2], lengths: [16], offsets: [0, 3] })), /offsets channel needs a block/],
  ];
  for (const [name, bytes, pattern] of cases) {
    await t.test(name, (t) => rejectsMalformed(t, bytes, pattern));
  }
});

t.test('version 3: literal lengths in their own channel, tar header operations', async (t) => {
  const { literal, tarHeader, end } = OPCODE;
  const v3Block = (sections: Sections) => block(sections, undefined, 3);
  const literalBlob = version3(HEADER, v3Block({ control: [op(literal), op(end)], literalLengths: [8], literals: [TARGET] }));
  t.equal((await collect(decodeDelta(pieces(literalBlob, 2), memoryBases([BASIS]), identityOf(HEADER)))).toString(), 'target!!', 'a literal length is read from its own section');
  await t.rejects(collect(decodeDelta(pieces(version3(HEADER, v3Block({ control: [op(literal), op(end)], lengths: [8], literals: [TARGET] })), 3), memoryBases([BASIS]), identityOf(HEADER))), {
    code: 'E_DELTA_MALFORMED',
    message: /block 1 has no literalLengths bytes left but 10 other bytes unread/,
  });

  const oldHeader = tarHeaderBlock('app/server.js', 1000);
  const newHeader = tarHeaderBlock('app/server.js', 0o7654321);
  const tarBasis = Buffer.concat([Buffer.alloc(512, 1), oldHeader]);
  const header = headerFor(newHeader, tarBases([tarBasis]));
  const decodeTar = (bytes: Buffer) => collect(decodeDelta(pieces(bytes, 3), memoryBases([tarBasis]), identityOf(header)));
  const change = zigzag(0o7654321 - 1000);
  const good = version3(header, v3Block({ control: [op(tarHeader), 0, op(end)], offsets: [zigzag(512)], lengths: [change] }));
  t.ok((await decodeTar(good)).equals(newHeader), 'the old header block with the new size and checksum');
  const refused = async (bytes: Buffer, message: RegExp) => t.rejects(decodeTar(bytes), { name: 'PrtiqlError', code: 'E_DELTA_MALFORMED', message });
  await refused(version2(header, block({ control: [op(tarHeader), 0, op(end)], offsets: [zigzag(512)], lengths: [change] })), /a tar header operation in a delta older than version 3/);
  await refused(version3(header, v3Block({ control: [op(tarHeader), 0, op(end)], offsets: [zigzag(513)], lengths: [change] })), /range 513\+512 is outside basis 0 of 1024 bytes/);
  await refused(version3(header, v3Block({ control: [op(tarHeader), 0, op(end)], offsets: [zigzag(0)], lengths: [change] })), /the tar header at 0 of basis 0 has no octal size field/);
  await refused(version3(header, v3Block({ control: [op(tarHeader), 0, op(end)], offsets: [zigzag(512)], lengths: [zigzag(MAX_OCTAL_SIZE)] })), /tar header size 1000 \+ 8589934591 does not fit an octal size field/);
  await refused(version3(header, v3Block({ control: [op(tarHeader), 0, op(end)], offsets: [zigzag(512)], lengths: [zigzag(-1001)] })), /tar header size 1000 - 1001 does not fit/);
  await refused(version3(header, v3Block({ control: [op(tarHeader), 0, op(tarHeader), 0, op(end)], offsets: [zigzag(512), zigzag(-512)], lengths: [0, 0] })), /passes the declared target size/);
});

t.test('errors of the source and of the basis opener pass through unchanged', async (t) => {
  const bytes = await collect(encodeDelta(HEADER, [{ type: 'literal', bytes: TARGET }]));
  const failing = new PrtiqlError('E_DIGEST_MISMATCH', 'chunk 0 does not match');
  async function* brokenSource() {
    yield bytes.subarray(0, 12);
    throw failing;
  }
  await t.rejects(collect(decodeDelta(brokenSource(), memoryBases([BASIS]), identityOf(HEADER))), failing);
  const refusal = new PrtiqlError('E_NOT_FOUND', 'basis layer missing');
  await t.rejects(collect(decodeDelta(pieces(bytes, 5), async () => { throw refusal; }, identityOf(HEADER))), refusal);
});

t.test('a basis that returns fewer bytes than asked is a size mismatch', async (t) => {
  const bytes = await collect(encodeDelta(HEADER, [{ type: 'copy', basis: 0, offset: 0, length: 8 }]));
  const short = async () => ({ read: async () => BASIS.subarray(0, 3) });
  await t.rejects(collect(decodeDelta(pieces(bytes, 5), short, identityOf(HEADER))), { code: 'E_SIZE_MISMATCH' });
});

t.test("from version 3 the target and the layers come from the release's delta record", async (t) => {
  const v3 = await collect(encodeDelta(HEADER, [{ type: 'literal', bytes: TARGET }]));
  const v2 = await collect(encodeDelta(HEADER, [{ type: 'literal', bytes: TARGET }], { version: 2 }));
  const decode = (bytes: Buffer, identity?: DeltaIdentity) => collect(decodeDelta(pieces(bytes, 4), memoryBases([BASIS]), identity));
  t.ok((await decode(v3, identityOf(HEADER))).equals(TARGET));
  t.equal(encodeHeader(HEADER, 2).length - encodeHeader(HEADER, 3).length, 64, 'version 3 leaves out two digests');
  await t.rejects(decode(v3), { code: 'E_INTERNAL', message: /decoded with the target and basis layers of its release's delta record/ });
  const otherLayer = { target: HEADER.target.diffID, basisLayers: [...identityOf(HEADER).basisLayers, sha256Digest('another layer')] };
  await t.rejects(decode(v3, otherLayer), { code: 'E_DELTA_MALFORMED', message: /the delta reads 1 layers, its record lists 2/ });
  t.ok((await decode(v2)).equals(TARGET), 'version 2 names them itself');
  t.ok((await decode(v2, identityOf(HEADER))).equals(TARGET), 'and may be checked against the record');
  await t.rejects(decode(v2, { ...identityOf(HEADER), target: sha256Digest('other') }), { code: 'E_DELTA_MALFORMED', message: /the delta rebuilds sha256:[0-9a-f]{64}, its record says/ });
  await t.rejects(decode(v2, { ...identityOf(HEADER), basisLayers: [sha256Digest('another layer')] }), { code: 'E_DELTA_MALFORMED', message: /the delta reads layers .*, its record lists/ });
});
