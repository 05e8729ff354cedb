import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, symlinkSync, linkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { splitTar, type SplitPart, type TarHeader } from '../../../shared/tar/split.js';
import { layerTar } from '../../helpers/signed-artifact-store.js';
import { END_OF_ARCHIVE, paxEntry, rawEntry, rawHeader, rawTar } from '../../helpers/raw-tar.js';

async function* pieces(bytes: Buffer, size: number): AsyncGenerator<Buffer> {
  for (let offset = 0; offset < bytes.length; offset += size) yield bytes.subarray(offset, offset + size);
}

async function collect(bytes: Buffer, pieceSize = 64 * 1024): Promise<SplitPart[]> {
  const parts: SplitPart[] = [];
  for await (const part of splitTar(pieces(bytes, pieceSize))) parts.push(part);
  return parts;
}

const joined = (parts: SplitPart[]) => Buffer.concat(parts.map((p) => (p.kind === 'data' ? p.bytes : p.segment)));
const headers = (parts: SplitPart[]) => parts.flatMap((p) => (p.kind === 'entry' ? [p.header] : []));
const pick = (h: TarHeader) => ({ path: h.path, type: h.type, size: h.size, linkname: h.linkname, mode: h.mode, uid: h.uid, gid: h.gid });

/** A tree GNU tar archives with long names, a long symlink target, a hard link and a setuid file. */
function gnuTarTree(dir: string): string {
  const root = join(dir, 'tree');
  const long = `${'d'.repeat(90)}/${'e'.repeat(80)}`;
  mkdirSync(join(root, long), { recursive: true });
  writeFileSync(join(root, long, `${'f'.repeat(120)}.txt`), 'long name\n');
  writeFileSync(join(root, 'big.bin'), Buffer.alloc(700_000, 'x'));
  writeFileSync(join(root, 'setuid'), '#!/bin/sh\n', { mode: 0o4755 });
  linkSync(join(root, 'big.bin'), join(root, 'hard.bin'));
  symlinkSync(`../${'t'.repeat(150)}`, join(root, 'far-link'));
  return root;
}

t.test('the parts of a deterministic layer concatenate back to the archive', async (t) => {
  const tar = await layerTar([
    { path: 'bin', type: 'directory', mode: 0o755 },
    { path: 'bin/tool', type: 'file', mode: 0o4755, uid: 1000, gid: 50, content: Buffer.alloc(3000, 1) },
    { path: 'bin/alias', type: 'symlink', mode: 0o777, linkname: 'tool' },
    { path: 'bin/hard', type: 'link', mode: 0o755, linkname: 'bin/tool' },
    { path: `deep/${'n'.repeat(150)}`, type: 'file', mode: 0o600, content: 'x' },
    { path: 'deep', type: 'directory', mode: 0o700 },
  ]);
  for (const pieceSize of [1, 7, 512, 100_000]) {
    const parts = await collect(tar, pieceSize);
    t.ok(joined(parts).equals(tar), `byte-identical with ${pieceSize}-byte input pieces`);
    t.same(headers(parts).map(pick), [
      { path: 'bin/', type: 'directory', size: 0, linkname: '', mode: 0o755, uid: 0, gid: 0 },
      { path: 'bin/alias', type: 'symlink', size: 0, linkname: 'tool', mode: 0o777, uid: 0, gid: 0 },
      { path: 'bin/hard', type: 'hardlink', size: 0, linkname: 'bin/tool', mode: 0o755, uid: 0, gid: 0 },
      { path: 'bin/tool', type: 'file', size: 3000, linkname: '', mode: 0o4755, uid: 1000, gid: 50 },
      { path: 'deep/', type: 'directory', size: 0, linkname: '', mode: 0o700, uid: 0, gid: 0 },
      { path: `deep/${'n'.repeat(150)}`, type: 'file', size: 1, linkname: '', mode: 0o600, uid: 0, gid: 0 },
    ]);
    t.equal(parts.at(-1)?.kind, 'tail');
  }
});

for (const format of ['gnu', 'pax']) {
  t.test(`GNU tar --format=${format}: long names and links are applied and every byte is kept`, async (t) => {
    const dir = t.testdir();
    const root = gnuTarTree(dir);
    const file = join(dir, 'layer.tar');
    execFileSync('tar', ['-cf', file, `--format=${format}`, '-C', root, '.']);
    const tar = readFileSync(file);
    const parts = await collect(tar, 4096);
    t.ok(joined(parts).equals(tar));
    const byPath = new Map(headers(parts).map((h) => [h.path, h]));
    const longFile = `./${'d'.repeat(90)}/${'e'.repeat(80)}/${'f'.repeat(120)}.txt`;
    t.equal(byPath.get(longFile)?.size, 10);
    t.equal(byPath.get('./far-link')?.linkname, `../${'t'.repeat(150)}`);
    t.equal(byPath.get('./setuid')?.mode, 0o4755);
    const links = [byPath.get('./big.bin'), byPath.get('./hard.bin')].map((h) => h?.type).sort();
    t.same(links, ['file', 'hardlink']);
    const largestData = Math.max(...parts.map((p) => (p.kind === 'data' ? p.bytes.length : 0)));
    t.ok(largestData <= 4096, 'content passes through in the input chunk sizes');
    if (format === 'pax') t.ok(headers(parts).some((h) => h.pax.path !== undefined), 'PAX records are reported');
  });
}

t.test('PAX global and per-entry records, and a base-256 size', async (t) => {
  const base256Size = Buffer.alloc(12);
  base256Size[0] = 0x80;
  base256Size.writeUInt32BE(5, 8);
  const tar = rawTar(
    paxEntry({ uid: '4242', comment: 'global' }, 'g'),
    paxEntry({ path: 'from/pax/ünïcode', mtime: '1700000000.5' }),
    rawEntry({ name: 'short' }, 'hello'),
    rawEntry({ name: 'base256', sizeField: base256Size }, 'abcde'),
  );
  const parts = await collect(tar);
  t.ok(joined(parts).equals(tar));
  const [first, second] = headers(parts);
  t.match(first, { path: 'from/pax/ünïcode', uid: 4242, mtime: 1700000000.5, size: 5 });
  t.match(second, { path: 'base256', uid: 4242, size: 5 });
});

t.test('malformed archives are refused with typed errors', async (t) => {
  const negative = Buffer.alloc(12, 0xff);
  const huge = Buffer.alloc(12, 0xff);
  huge[0] = 0x80;
  const cases: [string, Buffer, string][] = [
    ['bad checksum', rawTar(rawEntry({ name: 'a', badChecksum: true }, 'x')), 'E_BAD_INPUT'],
    ['non-octal size', rawTar(rawEntry({ name: 'a', sizeField: Buffer.from('00000000009\0') })), 'E_BAD_INPUT'],
    ['negative base-256 size', rawTar(rawHeader({ name: 'a', sizeField: negative })), 'E_BAD_INPUT'],
    ['base-256 size beyond a safe integer', rawTar(rawHeader({ name: 'a', sizeField: huge })), 'E_BAD_INPUT'],
    ['truncated content', rawEntry({ name: 'a' }, 'content').subarray(0, 515), 'E_BAD_INPUT'],
    ['no end-of-archive marker', rawEntry({ name: 'a' }, 'content'), 'E_BAD_INPUT'],
    ['a lone zero block', Buffer.concat([Buffer.alloc(512), rawEntry({ name: 'a' }), END_OF_ARCHIVE]), 'E_BAD_INPUT'],
    ['half a header', Buffer.alloc(100, 1), 'E_BAD_INPUT'],
    ['directory with content', rawTar(rawEntry({ name: 'd/', type: '5' }, 'x')), 'E_BAD_INPUT'],
    ['PAX record overrunning its header', rawTar(rawEntry({ name: 'p', type: 'x' }, '99 path=a\n'), rawEntry({ name: 'a' })), 'E_BAD_INPUT'],
    ['PAX size that is not a number', rawTar(paxEntry({ size: '-1' }), rawEntry({ name: 'a' })), 'E_BAD_INPUT'],
    ['extension header without an entry', rawTar(paxEntry({ path: 'x' })), 'E_BAD_INPUT'],
    ['sparse entry type', rawTar(rawEntry({ name: 's', type: 'S' })), 'E_UNSAFE_ENTRY'],
    ['sparse PAX records', rawTar(paxEntry({ 'GNU.sparse.major': '1' }), rawEntry({ name: 's' })), 'E_UNSAFE_ENTRY'],
    ['oversized extension header', rawTar(rawHeader({ name: 'p', type: 'x', size: 2 * 1024 * 1024 })), 'E_UNSAFE_ENTRY'],
    ['megabytes after the end of the archive', Buffer.concat([rawTar(rawEntry({ name: 'a' })), Buffer.alloc(2 * 1024 * 1024)]), 'E_UNSAFE_ENTRY'],
  ];
  for (const [name, tar, code] of cases) await t.rejects(collect(tar), { code }, name);
});

t.test('the tail keeps record padding after the end-of-archive blocks', async (t) => {
  const tar = Buffer.concat([rawTar(rawEntry({ name: 'a' }, 'x')), Buffer.alloc(8192)]);
  const parts = await collect(tar, 1000);
  t.ok(joined(parts).equals(tar));
  const tail = parts.at(-1);
  t.equal(tail?.kind === 'tail' && tail.segment.length, 511 + 1024 + 8192);
});
