import { spawnSync } from 'node:child_process';
import { brotliCompressSync } from 'node:zlib';
import t, { type Test } from 'tap';
import { decodeDelta, readDeltaHeader } from '../../../shared/delta/decoder.js';
import { MAX_MEMBER_BYTES, MemberDeflaters } from '../../../shared/delta/deflate-member.js';
import { DEFLATE_MEMBERS_VERSION, DELTA_MAGIC, OPCODE, type BasisEntry, type DeltaHeader, type DeltaOp } from '../../../shared/delta/format.js';
import { encodeHeader } from '../../../shared/delta/header.js';
import { encodeDelta } from '../../../shared/delta/writer.js';
import { sha256Digest } from '../../../shared/digest.js';
import { applyInMemory, block, body, collect, headerFor, identityOf, memoryBases, pieces, type Sections } from '../../helpers/delta.js';

const LAYER = sha256Digest('base layer');
const GZIP = { flavour: 'gzip', level: 9, memLevel: 8 } as const;

function gzip(input: Buffer): Buffer {
  const result = spawnSync('gzip', ['-9n'], { input, maxBuffer: 64 * 1024 * 1024 });
  if (result.status !== 0) throw new Error(`gzip failed: ${result.stderr}`);
  return result.stdout;
}

function changelog(entries: number, first = 0): Buffer {
  return Buffer.from(Array.from({ length: entries }, (_, i) => `pkg (1.${first + i}) unstable; urgency=low\n\n  * Change ${sha256Digest(String(first + i)).slice(7, 40)}.\n\n`).join(''));
}

/** A gzip file cut into header, raw deflate stream and trailer. */
function parts(file: Buffer): { header: Buffer; raw: Buffer; trailer: Buffer } {
  return { header: file.subarray(0, 10), raw: file.subarray(10, file.length - 8), trailer: file.subarray(file.length - 8) };
}

/** The old member inflated is basis 0 (in memory here, as a device would give it). */
function inflatedBasis(oldFile: Buffer, old: Buffer): BasisEntry {
  return { kind: 'inflated', layer: LAYER, offset: 10, compressedSize: oldFile.length - 18, size: old.length };
}

const OLD = changelog(800);
const NEW = Buffer.concat([changelog(2, 5000), OLD]);
const OLD_FILE = gzip(OLD);
const NEW_FILE = gzip(NEW);

function memberOps(file: Buffer, inflated: Buffer, inner: DeltaOp[], compressedSize = parts(file).raw.length): DeltaOp[] {
  const { header, trailer } = parts(file);
  return [
    { type: 'literal', bytes: header },
    { type: 'deflate', params: GZIP, inflatedSize: inflated.length, compressedSize, ops: inner as never },
    { type: 'literal', bytes: trailer },
  ];
}

const prepended = NEW.length - OLD.length;
const NEW_INNER: DeltaOp[] = [
  { type: 'literal', bytes: NEW.subarray(0, prepended) },
  { type: 'copy', basis: 0, offset: 0, length: OLD.length },
];

t.test('a gzip -9n member is rebuilt from its old version inflated, byte for byte', async (t) => {
  const header = headerFor(NEW_FILE, [inflatedBasis(OLD_FILE, OLD)]);
  const ops = memberOps(NEW_FILE, NEW, NEW_INNER);
  const blob = await collect(encodeDelta(header, ops));
  t.same(await readDeltaHeader(pieces(blob, 7), identityOf(header)), header, 'the inflated basis survives the header round trip');
  t.ok((await collect(decodeDelta(pieces(blob, 5), memoryBases([OLD]), identityOf(header)))).equals(NEW_FILE), 'decoded bytes are the gzip file');
  t.ok(applyInMemory([OLD], ops).equals(NEW_FILE), 'and the reference interpreter agrees');
  t.ok(blob.length < NEW_FILE.length / 10, `delta ${blob.length} bytes, gzip file ${NEW_FILE.length}`);
});

t.test('nested operations may patch an inflated basis and mix with ordinary ones', async (t) => {
  const edited = Buffer.from(OLD);
  edited.write('EDITED', 1000);
  const file = gzip(edited);
  const target = Buffer.concat([Buffer.from('before'), file, Buffer.from('after')]);
  const diff = Buffer.alloc(OLD.length);
  for (let i = 0; i < OLD.length; i++) diff[i] = (edited[i]! - OLD[i]!) & 0xff;
  const ops: DeltaOp[] = [
    { type: 'literal', bytes: Buffer.from('before') },
    ...memberOps(file, edited, [{ type: 'patch', window: [{ basis: 0, offset: 0, length: OLD.length }], start: 0, triples: [{ diff, extra: Buffer.alloc(0), seek: 0 }] }]),
    { type: 'literal', bytes: Buffer.from('after') },
  ];
  const header = headerFor(target, [inflatedBasis(OLD_FILE, OLD)]);
  const blob = await collect(encodeDelta(header, ops));
  t.ok((await collect(decodeDelta(pieces(blob, 11), memoryBases([OLD]), identityOf(header)))).equals(target));
});

t.test('members in a row are each rebuilt exactly by one deflater, reset between them', async (t) => {
  const edited = Buffer.from(OLD);
  edited.write('EDITED', 5);
  const short = gzip(edited.subarray(0, 3000));
  const ops: DeltaOp[] = [
    ...memberOps(NEW_FILE, NEW, NEW_INNER),
    ...memberOps(short, edited.subarray(0, 3000), [{ type: 'literal', bytes: edited.subarray(0, 3000) }]),
    ...memberOps(NEW_FILE, NEW, NEW_INNER),
  ];
  const target = Buffer.concat([NEW_FILE, short, NEW_FILE]);
  const header = headerFor(target, [inflatedBasis(OLD_FILE, OLD)]);
  const blob = await collect(encodeDelta(header, ops));
  t.ok((await collect(decodeDelta(pieces(blob, 13), memoryBases([OLD]), identityOf(header)))).equals(target), 'three members decode exactly');

  const deflaters = new MemberDeflaters();
  const gzip9 = deflaters.for({ flavour: 'gzip', level: 9, memLevel: 8 });
  t.equal(deflaters.for({ flavour: 'gzip', level: 9, memLevel: 8 }), gzip9, 'the same parameters reuse the deflater');
  t.not(deflaters.for({ flavour: 'zlib', level: 9, memLevel: 8 }), gzip9, 'other parameters get a deflater of their own');
});

t.test('a member that deflates to more or fewer bytes than declared is malformed', async (t) => {
  for (const delta of [-1, 1]) {
    const compressedSize = parts(NEW_FILE).raw.length + delta;
    const target = Buffer.alloc(NEW_FILE.length + delta);
    const header = headerFor(target, [inflatedBasis(OLD_FILE, OLD)]);
    const blob = await collect(encodeDelta(header, memberOps(NEW_FILE, NEW, NEW_INNER, compressedSize)));
    await t.rejects(collect(decodeDelta(pieces(blob, 64), memoryBases([OLD]), identityOf(header))), { code: 'E_DELTA_MALFORMED', message: /deflates to/ }, `declared ${delta > 0 ? 'longer' : 'shorter'}`);
  }
});

t.test('the writer refuses members it could not encode', async (t) => {
  const header = headerFor(NEW_FILE, [inflatedBasis(OLD_FILE, OLD)]);
  const refuse = (ops: DeltaOp[], message: RegExp, what: string) => t.rejects(collect(encodeDelta(header, ops)), { code: 'E_INTERNAL', message }, what);
  const deflate = (change: object): DeltaOp => ({ type: 'deflate', params: GZIP, inflatedSize: NEW.length, compressedSize: 10, ops: NEW_INNER as never, ...change });
  await refuse([deflate({ params: { flavour: 'zlib', level: 2, memLevel: 8 } })], /level 2/, 'level 2');
  await refuse([deflate({ inflatedSize: MAX_MEMBER_BYTES + 1 })], /inflated size/, 'too large');
  await refuse([deflate({ inflatedSize: NEW.length + 1 })], /write \d+ bytes, the header declares/, 'nested ops short of the inflated size');
  await refuse([deflate({ ops: [deflate({})] })], /inside a deflate member/, 'nested member');
});

/** A hand-made version-2 delta of one block. */
function blobOf(header: DeltaHeader, sections: Sections = {}): Buffer {
  return Buffer.concat([DELTA_MAGIC, Buffer.of(DEFLATE_MEMBERS_VERSION), brotliCompressSync(Buffer.concat([encodeHeader(header, DEFLATE_MEMBERS_VERSION), block(sections)]))]);
}

/** A hand-made version-1 delta: every field in one stream. */
function version1(header: DeltaHeader, ...fields: (number | Buffer)[]): Buffer {
  return Buffer.concat([DELTA_MAGIC, Buffer.of(1), brotliCompressSync(Buffer.concat([encodeHeader(header, 1), body(...fields)]))]);
}

async function rejectsMalformed(t: Test, blob: Buffer, message: RegExp, headerOnly = false): Promise<void> {
  const run = (): Promise<unknown> => (headerOnly ? readDeltaHeader(pieces(blob, 3)) : collect(decodeDelta(pieces(blob, 3), memoryBases([OLD]))));
  await t.rejects(run, { name: 'PrtiqlError', code: 'E_DELTA_MALFORMED', message });
}

t.test('malformed deflate members and inflated bases are refused', async (t) => {
  const header = headerFor(Buffer.alloc(100), [inflatedBasis(OLD_FILE, OLD)]);
  const deflate = Buffer.of(OPCODE.deflate);
  const literal = Buffer.of(OPCODE.literal);
  const gzipParams = Buffer.of(1, 9, 8);
  const cases: [string, Sections, RegExp][] = [
    ['unknown flavour', { control: [deflate, Buffer.of(7, 9, 8)], lengths: [10, 100] }, /unknown deflate flavour 0x7/],
    ['level 3', { control: [deflate, Buffer.of(0, 3, 8)], lengths: [10, 100] }, /level 3/],
    ['gzip with another memory level', { control: [deflate, Buffer.of(1, 9, 9)], lengths: [10, 100] }, /memory level/],
    ['inflated size above the cap', { control: [deflate, gzipParams], lengths: [MAX_MEMBER_BYTES + 1, 100] }, /inflated size/],
    ['compressed size past the target', { control: [deflate, gzipParams], lengths: [10, 101] }, /passes the declared target size/],
    ['nested member', { control: [deflate, gzipParams, deflate], lengths: [10, 50] }, /inside a deflate member/],
    ['nested ops past the inflated size', { control: [deflate, gzipParams, literal], lengths: [3, 50, 4], literals: [Buffer.from('abcd')] }, /passes the declared target size \(3 left\)/],
    ['nested ops end early', { control: [deflate, gzipParams, literal, Buffer.of(OPCODE.end)], lengths: [3, 50, 2], literals: [Buffer.from('ab')] }, /write 2 bytes, the header declares 3/],
    ['truncated member', { control: [deflate, gzipParams], lengths: [3] }, /truncated/],
  ];
  for (const [name, sections, message] of cases) await t.test(name, (t) => rejectsMalformed(t, blobOf(header, sections), message));

  const basisHeader = (basis: Partial<BasisEntry>) => ({ target: { diffID: sha256Digest('x'), size: 1 }, bases: [{ ...inflatedBasis(OLD_FILE, OLD), ...basis } as BasisEntry] });
  await t.test('inflated basis above the cap', (t) => rejectsMalformed(t, blobOf(basisHeader({ size: MAX_MEMBER_BYTES + 1 })), /inflated size/, true));
  await t.test('inflated basis of an empty stream', (t) => rejectsMalformed(t, blobOf(basisHeader({ compressedSize: 0 })), /empty deflate stream/, true));
});

t.test('version 1 has neither deflate members nor inflated bases', async (t) => {
  const tarBasis: BasisEntry = { kind: 'tar', layer: LAYER, size: OLD.length };
  const header = headerFor(Buffer.alloc(100), [tarBasis]);
  await rejectsMalformed(t, version1(header, Buffer.of(OPCODE.deflate, 1, 9, 8), 10, 100), /deflate member .* version-1 delta/);
  await rejectsMalformed(t, version1(headerFor(Buffer.alloc(1), [inflatedBasis(OLD_FILE, OLD)])), /version-1 delta names an inflated basis/, true);
  await t.rejects(collect(encodeDelta(header, memberOps(NEW_FILE, NEW, NEW_INNER), { version: 1 })), { code: 'E_INTERNAL' }, 'the writer refuses too');
});
