import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import fc from 'fast-check';
import t, { type Test } from 'tap';
import { CHOICE_MAX_BYTES, matchingBudget, matchShape, MIN_MAX_MEMORY, PART_BYTES } from '../../../cli/src/lib/delta/match-memory.js';
import { createDeltaPlanner, type DeltaLayer, type DeltaPlanResult } from '../../../cli/src/lib/delta/planner.js';
import { decodeDelta, type BasisReader } from '../../../shared/delta/decoder.js';
import type { DeltaIdentity } from '../../../shared/delta/format.js';
import { inflateMember } from '../../../shared/delta/inflated-basis.js';
import { sha256Digest } from '../../../shared/digest.js';
import { splitTar } from '../../../shared/tar/split.js';
import { deterministicTar, type TarEntrySource } from '../../../shared/tar/deterministic-writer.js';
import { bytesOf, collect, fuzzRuns, int } from '../../helpers/delta.js';
import { AARCH64, drawProgram, elfFile, grow, link, randomSource, X86_64 } from '../../helpers/machine-code.js';

/** path -> content; a directory entry is made for every parent. */
type Tree = Map<string, Buffer>;

async function tarOf(tree: Tree, whiteouts: string[] = []): Promise<Buffer> {
  const directories = new Set<string>();
  for (const path of [...tree.keys(), ...whiteouts]) {
    const parts = path.split('/');
    for (let i = 1; i < parts.length; i++) directories.add(parts.slice(0, i).join('/'));
  }
  const entries: TarEntrySource[] = [
    ...[...directories].map((path) => ({ path, type: 'directory' as const, mode: 0o755 })),
    ...[...tree].map(([path, content]) => ({ path, type: 'file' as const, mode: 0o644, size: content.length, open: () => Readable.from([content]) })),
    ...whiteouts.map((path) => ({ path, type: 'file' as const, mode: 0o644, size: 0 })),
  ];
  return collect(deterministicTar(entries, { mtime: 1_700_000_000 }));
}

function layerOf(tar: Buffer): DeltaLayer {
  return { diffID: sha256Digest(tar), openUncompressed: async () => Readable.from([tar]) };
}

interface ReadRange {
  layer: string;
  position: number;
  length: number;
}

/** Decodes a delta with the base layers' tars as its 'tar' and 'inflated' bases, recording every read. */
/** The target and basis layers the planner gave with each delta, as its release record carries them. */
const identities = new WeakMap<Buffer, DeltaIdentity>();

async function decodeAgainst(delta: Buffer, baseTars: Buffer[], reads: ReadRange[] = []): Promise<Buffer> {
  const byDiffID = new Map(baseTars.map((tar) => [sha256Digest(tar), tar]));
  return collect(
    decodeDelta(Readable.from([delta]), async (header) => {
      const reader: BasisReader = {
        async read(index, position, length) {
          const basis = header.bases[index]!;
          const tar = byDiffID.get(basis.layer)!;
          if (basis.kind === 'inflated') {
            reads.push({ layer: basis.layer, position: basis.offset, length: basis.compressedSize });
            return inflateMember(tar.subarray(basis.offset, basis.offset + basis.compressedSize), basis.size, 'test member').subarray(position, position + length);
          }
          reads.push({ layer: basis.layer, position, length });
          return tar.subarray(position, position + length);
        },
      };
      return reader;
    }, identities.get(delta)),
  );
}

/** Where each regular file's content lies in a tar. */
async function contentRanges(tar: Buffer): Promise<Map<string, { offset: number; length: number }>> {
  const ranges = new Map<string, { offset: number; length: number }>();
  let offset = 0;
  for await (const part of splitTar(Readable.from([tar]))) {
    if (part.kind === 'entry') {
      offset += part.segment.length;
      if (part.header.type === 'file') ranges.set(part.header.path, { offset, length: part.header.size });
    } else if (part.kind === 'data') offset += part.bytes.length;
  }
  return ranges;
}

async function planOne(t: Test, base: Buffer[], target: Buffer, maxMemory?: number): Promise<{ delta: Buffer; result: DeltaPlanResult }> {
  const dir = t.testdir();
  const planner = await createDeltaPlanner(base.map(layerOf), { workDir: dir, maxMemory });
  try {
    const result = await planner.plan(layerOf(target), join(dir, 'delta'));
    const delta = await readFile(join(dir, 'delta'));
    identities.set(delta, { target: result.target.diffID, basisLayers: result.basisLayers });
    return { delta, result };
  } finally {
    await planner.close();
  }
}

function text(g: fc.GeneratorValue, lines: number): Buffer {
  const words = ['const', 'return', 'module', 'export', 'function', 'value', 'index', 'require', '=', '{', '}', '(', ')', ';'];
  return Buffer.from(Array.from({ length: lines }, () => Array.from({ length: int(g, 1, 10) }, () => words[int(g, 0, words.length - 1)]).join(' ')).join('\n'));
}

function randomTree(g: fc.GeneratorValue): Tree {
  const tree: Tree = new Map();
  for (let i = int(g, 3, 25); i > 0; i--) {
    const depth = int(g, 0, 2);
    const path = [...Array.from({ length: depth }, () => `d${int(g, 0, 3)}`), `f${int(g, 0, 60)}${['.js', '.bin', '.txt'][int(g, 0, 2)]}`].join('/');
    tree.set(path, int(g, 0, 2) === 0 ? bytesOf(g, int(g, 0, 30_000)) : text(g, int(g, 0, 400)));
  }
  // a file path must not also be a directory
  for (const path of tree.keys()) if ([...tree.keys()].some((other) => other.startsWith(`${path}/`))) tree.delete(path);
  return tree;
}

/** A release's worth of change: edits, renames, additions and deletions. */
function changed(g: fc.GeneratorValue, tree: Tree): Tree {
  const next: Tree = new Map();
  for (const [path, content] of tree) {
    switch (int(g, 0, 5)) {
      case 0: {
        const edited = Buffer.from(content);
        if (edited.length > 0) bytesOf(g, int(g, 1, 50)).copy(edited, int(g, 0, edited.length - 1));
        next.set(path, Buffer.concat([edited, text(g, int(g, 0, 3))]));
        break;
      }
      case 1:
        next.set(path.replace(/f(\d+)/, 'renamed$1'), content);
        break;
      case 2:
        break; // deleted
      default:
        next.set(path, content);
    }
  }
  for (let i = int(g, 0, 4); i > 0; i--) next.set(`new/n${int(g, 0, 99)}.txt`, text(g, int(g, 0, 100)));
  return next;
}

t.test('planner then decoder rebuilds the target tar byte for byte', async (t) => {
  await fc.assert(
    fc.asyncProperty(fc.gen(), async (g) => {
      const tree = randomTree(g);
      const upper = changed(g, tree);
      const deleted = [...tree.keys()].filter((path) => !upper.has(path));
      const base = [await tarOf(tree), await tarOf(new Map([...upper].filter(([path, content]) => !tree.get(path)?.equals(content))), deleted.map((path) => path.replace(/[^/]+$/, '.wh.$&')))];
      const target = await tarOf(changed(g, upper));
      const { delta, result } = await planOne(t, base, target);
      const out = await decodeAgainst(delta, base);
      if (!out.equals(target)) throw new Error(`decoded ${out.length} bytes differ from the ${target.length}-byte target`);
      if (result.target.diffID !== sha256Digest(target)) throw new Error('wrong target diffID');
    }),
    { numRuns: fuzzRuns(25) },
  );
});

t.test('an unchanged layer costs one copy', async (t) => {
  const tree: Tree = new Map([
    ['app/index.js', Buffer.from('console.log("hello");\n'.repeat(200))],
    ['app/data.bin', Buffer.alloc(50_000, 7)],
    ['etc/config', Buffer.from('a=1\n')],
  ]);
  const tar = await tarOf(tree);
  const { delta, result } = await planOne(t, [tar], tar);
  t.ok((await decodeAgainst(delta, [tar])).equals(tar));
  t.equal(result.stats.copiedBytes, tar.length, 'every byte is copied');
  t.ok(delta.length < 120, `delta of an identical ${tar.length}-byte layer is ${delta.length} bytes`);
});

t.test('a small edit in a large file is a small patch; renames and headers cost little', async (t) => {
  const big = Buffer.concat(Array.from({ length: 2000 }, (_, i) => Buffer.from(`line ${i}: ${sha256Digest(String(i))}\n`)));
  const edited = Buffer.from(big);
  edited.write('EDITED', 40_000);
  const files = Object.fromEntries(Array.from({ length: 100 }, (_, i) => [`lib/module-${i}.js`, Buffer.from(`module.exports = ${i};\n${'x'.repeat(i * 10)}`)]));
  const baseTar = await tarOf(new Map([['app/big.txt', big], ...Object.entries(files)]));
  const renamed = Object.entries(files).map(([path, content]) => [path.replace('lib/', 'lib2/'), content] as const);
  const targetTar = await tarOf(new Map([['app/big.txt', edited], ...renamed, ['app/new.txt', Buffer.from('brand new file\n')]]));
  const { delta, result } = await planOne(t, [baseTar], targetTar);
  t.ok((await decodeAgainst(delta, [baseTar])).equals(targetTar));
  t.equal(result.stats.files.patched + result.stats.files.lzMatched, 1, 'the edited file is patched or copied around its edit');
  t.equal(result.stats.files.identical, 100, 'renamed files are copied by content');
  t.ok(delta.length < 2000, `delta is ${delta.length} bytes for a ${targetTar.length}-byte layer`);
  t.comment(`edit + 100 renames + 1 new file: target ${targetTar.length} bytes, delta ${delta.length} bytes`);
});

t.test('a file renamed by its version number is patched against the old version', async (t) => {
  const library = randomBytes(200_000);
  const next = Buffer.from(library);
  for (let i = 0; i < next.length; i += 5000) next[i] = (next[i]! + 1) & 0xff;
  const baseTar = await tarOf(new Map([['usr/lib/libthing.so.42', library], ['usr/lib/python3.11/site.py', Buffer.from('import os\n'.repeat(3000))]]));
  const targetTar = await tarOf(new Map([['usr/lib/libthing.so.8.15.5', next], ['usr/lib/python3.12/site.py', Buffer.from('import os\n'.repeat(2999) + 'import sys\n')]]));
  const { delta, result } = await planOne(t, [baseTar], targetTar);
  t.ok((await decodeAgainst(delta, [baseTar])).equals(targetTar));
  t.equal(result.stats.files.patched + result.stats.files.lzMatched, 2, 'both renamed files found their old version');
  t.ok(delta.length < 2000, `delta is ${delta.length} bytes for ${targetTar.length} bytes`);
});

t.test('each changed file takes the smaller encoding: copies around edits in text, a patch for scattered byte changes', async (t) => {
  const text = Buffer.concat(Array.from({ length: 3000 }, (_, i) => Buffer.from(`export const value${i} = ${sha256Digest(String(i)).slice(7, 30)};\n`)));
  const movedText = Buffer.concat([text.subarray(60_000), Buffer.from('// inserted\n'), text.subarray(0, 60_000)]);
  const binary = randomBytes(100_000);
  const shiftedBinary = Buffer.from(binary);
  for (let i = 0; i < shiftedBinary.length; i += 12) shiftedBinary[i] = (shiftedBinary[i]! + 1) & 0xff;
  const baseTar = await tarOf(new Map([['app/text.js', text], ['app/program', binary]]));
  const targetTar = await tarOf(new Map([['app/text.js', movedText], ['app/program', shiftedBinary]]));
  const { delta, result } = await planOne(t, [baseTar], targetTar);
  t.ok((await decodeAgainst(delta, [baseTar])).equals(targetTar));
  t.equal(result.stats.files.lzMatched, 1, 'the moved text is copied');
  t.equal(result.stats.files.patched, 1, 'the binary is patched');
  t.ok(delta.length < 1000, `delta is ${delta.length} bytes`);
});

t.test('a changed file whose header differs only in size gets a TAR HEADER operation, whether its content is copied around edits or patched', async (t) => {
  const text = Buffer.concat(Array.from({ length: 3000 }, (_, i) => Buffer.from(`export const value${i} = ${sha256Digest(String(i)).slice(7, 30)};\n`)));
  const binary = randomBytes(100_000);
  const grownBinary = Buffer.concat([binary.subarray(0, 50_000), Buffer.from('new bytes in the middle'), binary.subarray(50_000)]);
  for (let i = 0; i < grownBinary.length; i += 12) grownBinary[i] = (grownBinary[i]! + 1) & 0xff;
  const baseTar = await tarOf(new Map([['app/program', binary], ['app/text.js', text]]));
  const targetTar = await tarOf(new Map([['app/program', grownBinary], ['app/text.js', Buffer.concat([text, Buffer.from('export const added = 1;\n')])]]));
  const { delta, result } = await planOne(t, [baseTar], targetTar);
  t.ok((await decodeAgainst(delta, [baseTar])).equals(targetTar), 'the target is rebuilt byte for byte');
  t.match(result.stats.files, { patched: 1, lzMatched: 1 });
  t.equal(result.stats.resizedHeaders, 2, 'both headers are resized old headers');

  const renamedTar = await tarOf(new Map([['app/program-2', grownBinary], ['app/text.js', text]]));
  const renamed = await planOne(t, [baseTar], renamedTar);
  t.ok((await decodeAgainst(renamed.delta, [baseTar])).equals(renamedTar));
  t.equal(renamed.result.stats.resizedHeaders, 0, 'a header whose name changed too is patched');
});

t.test('an executable of 1 MiB or more is always patched, without estimating it as copies or literal', async (t) => {
  // unrelated contents: sent literally if the literal estimate were made, as the same data file is
  const old = randomBytes(1024 * 1024 + 4096);
  const next = randomBytes(old.length);
  const baseTar = await tarOf(new Map([['usr/bin/tool', elfFile(X86_64, old)], ['usr/share/tool.dat', old]]));
  const targetTar = await tarOf(new Map([['usr/bin/tool', elfFile(X86_64, next)], ['usr/share/tool.dat', next]]));
  const { delta, result } = await planOne(t, [baseTar], targetTar);
  t.ok((await decodeAgainst(delta, [baseTar])).equals(targetTar), 'the target is rebuilt byte for byte');
  t.match(result.stats.files, { patched: 1, literalCheaper: 1, lzMatched: 0 }, 'the executable is patched, the data file sent literally');
});

t.test('files deleted by a whiteout are never read as a basis', async (t) => {
  const secret = Buffer.from('content of a file the upper layer deleted\n'.repeat(100));
  const lower = await tarOf(new Map([['keep.txt', Buffer.from('kept\n')], ['gone/data.txt', secret], ['opaque/inside.txt', secret.subarray(0, 2000)]]));
  const upper = await tarOf(new Map(), ['.wh.gone', 'opaque/.wh..wh..opq']);
  const target = await tarOf(new Map([['keep.txt', Buffer.from('kept\n')], ['copy/data.txt', secret], ['opaque/inside.txt', secret.subarray(0, 2000)]]));
  const reads: ReadRange[] = [];
  const { delta } = await planOne(t, [lower, upper], target);
  t.ok((await decodeAgainst(delta, [lower, upper], reads)).equals(target));
  const ranges = await contentRanges(lower);
  const lowerID = sha256Digest(lower);
  for (const path of ['gone/data.txt', 'opaque/inside.txt']) {
    const hidden = ranges.get(path)!;
    const touching = reads.filter((read) => read.layer === lowerID && read.position < hidden.offset + hidden.length && read.position + read.length > hidden.offset);
    t.same(touching, [], `no read of ${path}`);
  }
  t.ok(reads.some((read) => read.layer === lowerID), 'the visible file is still used');
});

t.test('a file larger than a patch part is patched part by part; in an executable, each part is an XPATCH where predicting its calls pays', async (t) => {
  const random = randomSource(5);
  // data first: the first part (an alignment is cut after PART_BYTES) holds no code
  const data = Buffer.alloc(PART_BYTES + 1024 * 1024);
  for (let i = 0; i < data.length; i++) data[i] = random(256);
  const editedData = Buffer.from(data);
  for (let i = 0; i < 20; i++) editedData[random(PART_BYTES)] ^= 0x5a;
  const program = drawProgram(random, 125_000, X86_64);
  const old = elfFile(X86_64, data, link(program, X86_64));
  const next = elfFile(X86_64, editedData, link(grow(program, random, 40, X86_64), X86_64));
  t.ok(next.length > CHOICE_MAX_BYTES, `${next.length} bytes: patched in parts, without the choice of smaller files`);
  const baseTar = await tarOf(new Map([['usr/lib/libbig.so', old]]));
  const targetTar = await tarOf(new Map([['usr/lib/libbig.so', next]]));
  const { delta, result } = await planOne(t, [baseTar], targetTar);
  t.ok((await decodeAgainst(delta, [baseTar])).equals(targetTar), 'the target is rebuilt byte for byte');
  const { stats } = result;
  t.match(stats.files, { patched: 1, referencesPredicted: 1 });
  t.ok(stats.predictedBytes > PART_BYTES, `${stats.predictedBytes} bytes written by XPATCHes: the code parts`);
  t.ok(stats.patchedBytes - stats.predictedBytes >= PART_BYTES, `${stats.patchedBytes - stats.predictedBytes} bytes written by PATCHes: the data part`);
  t.ok(delta.length < 20_000, `delta is ${delta.length} bytes for a ${next.length}-byte executable with 40 functions grown`);
});

t.test('an aarch64 executable matched in windows: its parts are XPATCHes too', async (t) => {
  const random = randomSource(9);
  const program = drawProgram(random, 80_000, AARCH64);
  const old = elfFile(AARCH64, link(program, AARCH64));
  const next = elfFile(AARCH64, link(grow(program, random, 40, AARCH64), AARCH64));
  t.equal(matchShape(old.length, next.length, matchingBudget(MIN_MAX_MEMORY)).kind, 'windowed', 'the smallest --max-memory matches it in windows');
  const baseTar = await tarOf(new Map([['usr/bin/tool', old]]));
  const targetTar = await tarOf(new Map([['usr/bin/tool', next]]));
  const { delta, result } = await planOne(t, [baseTar], targetTar, MIN_MAX_MEMORY);
  t.ok((await decodeAgainst(delta, [baseTar])).equals(targetTar), 'the target is rebuilt byte for byte');
  t.ok(result.stats.predictedBytes > result.stats.patchedBytes / 2, `${result.stats.predictedBytes} of ${result.stats.patchedBytes} patched bytes written by XPATCHes`);
  t.comment(`${next.length}-byte executable in windows: delta ${delta.length} bytes`);
});

/** What `gzip -<level>n` writes. */
function gzip(input: Buffer, level: number): Buffer {
  const result = spawnSync('gzip', [`-${level}n`], { input, maxBuffer: 64 * 1024 * 1024 });
  if (result.status !== 0) throw new Error(`gzip failed: ${result.stderr}`);
  return result.stdout;
}

function changelog(entries: number, first = 0): Buffer {
  return Buffer.from(
    Array.from({ length: entries }, (_, i) => `pkg (1.${first + i}) unstable; urgency=medium\n\n  * Fix #${(first + i) * 7919 % 100_000}.\n\n -- Someone <someone@example.org>  ${sha256Digest(String(first + i)).slice(7, 19)}\n\n`).join(''),
  );
}

t.test('a changed gzip member is rebuilt from its old version inflated and re-deflated', async (t) => {
  const oldLog = changelog(3000);
  const newLog = Buffer.concat([changelog(1, 5000), oldLog]);
  const baseTar = await tarOf(new Map([['doc/changelog.gz', gzip(oldLog, 9)]]));
  const member = gzip(newLog, 9);
  const targetTar = await tarOf(new Map([['doc/changelog.gz', member]]));
  const { delta, result } = await planOne(t, [baseTar], targetTar);
  t.ok((await decodeAgainst(delta, [baseTar])).equals(targetTar), 'the target is rebuilt byte for byte');
  t.equal(result.stats.files.deflateMember, 1, 'the gzip -9 changelog is a deflate member');
  t.equal(result.stats.deflatedBytes, member.length - 18, 'its deflate stream is written by the member');
  t.ok(delta.length < member.length / 20, `delta is ${delta.length} bytes; the new changelog.gz alone is ${member.length} bytes`);
});

t.test('a gzip member no known encoder reproduces (gzip -1) is sent as ordinary bytes', async (t) => {
  const oldData = changelog(500, 9000);
  const newData = Buffer.concat([oldData, Buffer.from('one more line\n')]);
  const baseTar = await tarOf(new Map([['doc/data.gz', gzip(oldData, 1)]]));
  const targetTar = await tarOf(new Map([['doc/data.gz', gzip(newData, 1)]]));
  const { delta, result } = await planOne(t, [baseTar], targetTar);
  t.ok((await decodeAgainst(delta, [baseTar])).equals(targetTar), 'the target is rebuilt byte for byte');
  t.equal(result.stats.files.deflateMember, 0, 'no deflate member');
  t.equal(result.stats.deflatedBytes, 0);
});

t.test('a new gzip member without an old version travels inflated when brotli beats its deflate stream', async (t) => {
  const baseTar = await tarOf(new Map([['doc/README', Buffer.from('unrelated\n')]]));
  const member = gzip(changelog(2000), 9);
  const targetTar = await tarOf(new Map([['doc/README', Buffer.from('unrelated\n')], ['doc/new.gz', member]]));
  const { delta, result } = await planOne(t, [baseTar], targetTar);
  t.ok((await decodeAgainst(delta, [baseTar])).equals(targetTar));
  t.equal(result.stats.files.deflateMember, 1);
  t.ok(delta.length < member.length, `delta is ${delta.length} bytes, the member ${member.length}`);
});
