import { execFileSync } from 'node:child_process';
import { linkSync, mkdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { lstat, mkdir, mkdtemp, readdir, readFile, readlink, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { extractLayer, extractLimits, type ExtractLimits } from '../../filesystem/extract.js';
import { writeLayerMetaFile } from '../../applier/device-store/layer-meta-file.js';
import { DeviceStore } from '../../applier/device-store/device-store.js';
import { sha256Digest } from '../../shared/digest.js';
import { splitTar } from '../../shared/tar/split.js';
import { paxEntry, rawEntry, rawTar } from '../helpers/raw-tar.js';
import { isRoot, skipUnlessAvailable } from '../helpers/required-features.js';
import { FIXTURE_MTIME, layerTar, type FixtureEntry } from '../helpers/signed-artifact-store.js';
import { storedLayerTar } from '../helpers/stored-layer-tar.js';
import { listTree } from '../helpers/tree-listing.js';

async function* pieces(bytes: Buffer, size = 16 * 1024): AsyncGenerator<Buffer> {
  for (let offset = 0; offset < bytes.length; offset += size) yield bytes.subarray(offset, offset + size);
}

async function extract(t: Test, tar: Buffer, limits: Partial<ExtractLimits> = {}) {
  const dir = await mkdtemp(join(tmpdir(), 'prtiql-extract-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const store = await DeviceStore.create(join(dir, 'store'));
  const diffID = sha256Digest(tar);
  const root = store.layerDir(diffID);
  await mkdir(root);
  const target = { root, skeletonPath: join(dir, 'skeleton'), diffID };
  const meta = await extractLayer(splitTar(pieces(tar)), target, { ...extractLimits(tar.length), ...limits });
  await writeLayerMetaFile(store.layerMetaPath(diffID), meta, target.skeletonPath);
  /** The layer's tar rebuilt from nothing but the extracted directory and its .meta file. */
  const rebuilt = () => storedLayerTar(store, diffID);
  return { dir, root, meta, rebuilt };
}

const entries: FixtureEntry[] = [
  { path: 'app', type: 'directory', mode: 0o750, uid: 1000, gid: 1000 },
  { path: 'app/run', type: 'file', mode: 0o4755, uid: 1000, gid: 50, content: '#!/bin/sh\necho hi\n' },
  { path: 'app/big', type: 'file', mode: 0o644, content: Buffer.alloc(9 * 1024 * 1024 + 3, 'z') },
  { path: 'app/same', type: 'link', mode: 0o755, linkname: 'app/run' },
  { path: 'app/to-run', type: 'symlink', mode: 0o777, linkname: 'run' },
  { path: 'app/escape', type: 'symlink', mode: 0o777, linkname: '../../../../etc/passwd' },
  { path: 'etc', type: 'directory', mode: 0o555 },
  { path: 'etc/.wh.hosts', type: 'file', mode: 0o600, content: '' },
  { path: 'var', type: 'directory', mode: 0o1777 },
  { path: 'var/.wh..wh..opq', type: 'file', mode: 0o600, content: '' },
  { path: 'empty', type: 'file', mode: 0o400, content: '' },
];

t.test('a deterministic layer is extracted exactly and rebuilt byte for byte from disk', async (t) => {
  const tar = await layerTar(entries);
  const { root, meta, rebuilt } = await extract(t, tar);
  t.equal(meta.size, tar.length);
  for (const entry of entries.filter((e) => e.type !== 'link')) {
    const path = join(root, entry.path);
    const info = await lstat(path);
    t.equal(info.mtimeMs, FIXTURE_MTIME * 1000, `${entry.path} mtime`);
    t.equal(info.uid, entry.uid ?? 0, `${entry.path} uid`);
    t.equal(info.gid, entry.gid ?? 0, `${entry.path} gid`);
    if (entry.type === 'symlink') {
      t.equal(await readlink(path), entry.linkname);
      continue;
    }
    t.equal(info.mode & 0o7777, entry.mode, `${entry.path} mode`);
    if (entry.type === 'file') t.ok((await readFile(path)).equals(Buffer.from(entry.content ?? '')), `${entry.path} content`);
    if (entry.type === 'directory') t.ok(info.isDirectory());
  }
  t.equal((await lstat(join(root, 'app/same'))).ino, (await lstat(join(root, 'app/run'))).ino, 'hard link shares the inode');
  t.same((await readdir(root)).sort(), ['app', 'empty', 'etc', 'var'], 'nothing but the archive content');
  t.ok((await rebuilt()).equals(tar));
});

for (const format of ['gnu', 'pax']) {
  t.test(`a GNU tar --format=${format} layer with long names and whiteouts is rebuilt byte for byte`, async (t) => {
    const dir = t.testdir();
    const source = join(dir, 'source');
    const long = join(source, 'd'.repeat(100), 'e'.repeat(100));
    mkdirSync(long, { recursive: true });
    writeFileSync(join(long, `${'f'.repeat(150)}.txt`), 'deep\n');
    writeFileSync(join(source, '.wh.gone'), '');
    mkdirSync(join(source, 'opaque'));
    writeFileSync(join(source, 'opaque', '.wh..wh..opq'), '');
    writeFileSync(join(source, 'data.bin'), Buffer.alloc(300_001, 7), { mode: 0o2755 });
    linkSync(join(source, 'data.bin'), join(source, 'opaque', 'data-link'));
    symlinkSync(`/${'t'.repeat(180)}`, join(source, 'long-target'));
    const file = join(dir, 'layer.tar');
    execFileSync('tar', ['-cf', file, `--format=${format}`, '--numeric-owner', '-C', source, '.']);
    const tar = readFileSync(file);
    const { root, rebuilt } = await extract(t, tar);
    t.ok((await rebuilt()).equals(tar), 'reassembled tar is identical');
    const strip = (nodes: Awaited<ReturnType<typeof listTree>>) =>
      nodes.map(({ path, type, mode, size, content, linkname }) => ({ path, type, mode, size, content, linkname }));
    t.same(strip(await listTree(root)), strip(await listTree(source)), 'same tree as the source directory');
  });
}

t.test('in a setgid directory, whose group new nodes inherit, every entry still gets the group its header names', { skip: skipUnlessAvailable(!isRoot && 'needs root to chown') }, async (t) => {
  const tar = await layerTar([
    { path: 'dir', type: 'directory', mode: 0o755 },
    { path: 'dir/file', type: 'file', mode: 0o644, content: 'x' },
    { path: 'dir/link', type: 'symlink', mode: 0o777, linkname: 'file' },
    { path: 'owned', type: 'file', mode: 0o644, uid: 7, gid: 7, content: 'y' },
  ]);
  const dir = await mkdtemp(join(tmpdir(), 'prtiql-extract-setgid-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const root = join(dir, 'root');
  await mkdir(root);
  execFileSync('chown', [':4242', root]);
  execFileSync('chmod', ['g+s', root]);
  await extractLayer(splitTar(pieces(tar)), { root, skeletonPath: join(dir, 'skeleton'), diffID: sha256Digest(tar) }, extractLimits(tar.length));
  for (const [path, uid, gid] of [['dir', 0, 0], ['dir/file', 0, 0], ['dir/link', 0, 0], ['owned', 7, 7]] as const) {
    const info = await lstat(join(root, path));
    t.same({ uid: info.uid, gid: info.gid }, { uid, gid }, `${path} is owned ${uid}:${gid}, not by the inherited group`);
  }
});

t.test('hostile archives are refused and nothing is written outside the layer', async (t) => {
  const dir = t.testdir({ outside: { 'secret.txt': 'keep me\n' } });
  const outside = join(dir, 'outside');
  const before = await listTree(outside);
  const cases: [string, Buffer][] = [
    ['dot-dot path', rawTar(rawEntry({ name: '../outside/evil' }, 'x'))],
    ['dot-dot inside a path', rawTar(rawEntry({ name: 'a/../../evil' }, 'x'))],
    ['absolute path', rawTar(rawEntry({ name: `${outside}/evil` }, 'x'))],
    ['NUL in a PAX path', rawTar(paxEntry({ path: 'a\u0000b' }), rawEntry({ name: 'placeholder' }, 'x'))],
    ['write through a symlink', rawTar(rawEntry({ name: 'link', type: '2', linkname: outside }), rawEntry({ name: 'link/evil' }, 'x'))],
    ['directory through a symlink', rawTar(rawEntry({ name: 'link', type: '2', linkname: outside }), rawEntry({ name: 'link/sub/', type: '5' }))],
    [
      'hard link below a symlink',
      rawTar(rawEntry({ name: 'f' }, 'x'), rawEntry({ name: 'link', type: '2', linkname: outside }), rawEntry({ name: 'link/h', type: '1', linkname: 'f' })),
    ],
    ['symlink replacing a file', rawTar(rawEntry({ name: 'f' }, 'x'), rawEntry({ name: 'f', type: '2', linkname: outside }))],
    [
      'directory later replaced by a symlink',
      rawTar(rawEntry({ name: 'd/', type: '5' }), rawEntry({ name: 'd', type: '2', linkname: outside }), rawEntry({ name: 'd/evil' }, 'x')),
    ],
    ['hard link through a symlink', rawTar(rawEntry({ name: 's', type: '2', linkname: outside }), rawEntry({ name: 'h', type: '1', linkname: 's/secret.txt' }))],
    [
      'hard link through a symlink chain',
      rawTar(
        rawEntry({ name: 's1', type: '2', linkname: 's2' }),
        rawEntry({ name: 's2', type: '2', linkname: outside }),
        rawEntry({ name: 'h', type: '1', linkname: 's1/secret.txt' }),
      ),
    ],
    ['hard link to a file that comes later', rawTar(rawEntry({ name: 'h', type: '1', linkname: 'f' }), rawEntry({ name: 'f' }, 'x'))],
    ['path longer than 4096 bytes', rawTar(paxEntry({ path: Array.from({ length: 17 }, () => 'n'.repeat(250)).join('/') }), rawEntry({ name: 'placeholder' }, 'x'))],
    ['name longer than 255 bytes', rawTar(paxEntry({ path: 'n'.repeat(256) }), rawEntry({ name: 'placeholder' }, 'x'))],
    ['hard link to a missing file', rawTar(rawEntry({ name: 'h', type: '1', linkname: 'missing' }))],
    ['hard link outside the layer', rawTar(rawEntry({ name: 'h', type: '1', linkname: '../outside/secret.txt' }))],
    ['hard link to an absolute path', rawTar(rawEntry({ name: 'h', type: '1', linkname: join(outside, 'secret.txt') }))],
    ['hard link to a symlink', rawTar(rawEntry({ name: 's', type: '2', linkname: outside }), rawEntry({ name: 'h', type: '1', linkname: 's' }))],
    ['hard link to a directory', rawTar(rawEntry({ name: 'd/', type: '5' }), rawEntry({ name: 'h', type: '1', linkname: 'd' }))],
    ['character device', rawTar(rawEntry({ name: 'null', type: '3' }))],
    ['block device', rawTar(rawEntry({ name: 'sda', type: '4' }))],
    ['fifo', rawTar(rawEntry({ name: 'pipe', type: '6' }))],
    ['duplicate file', rawTar(rawEntry({ name: 'a' }, 'one'), rawEntry({ name: 'a' }, 'two'))],
    ['duplicate directory', rawTar(rawEntry({ name: 'd/', type: '5' }), rawEntry({ name: './d', type: '5' }))],
    ['file over an implied directory', rawTar(rawEntry({ name: 'd/f' }, 'x'), rawEntry({ name: 'd' }, 'x'))],
    ['file with a directory name', rawTar(rawEntry({ name: 'f/' }, 'x'))],
    ['empty whiteout name', rawTar(rawEntry({ name: 'dir/.wh.' }))],
    ['whiteout of ..', rawTar(rawEntry({ name: '.wh...' }))],
    ['whiteout of .', rawTar(rawEntry({ name: '.wh..' }))],
    ['AUFS metadata whiteout', rawTar(rawEntry({ name: '.wh..wh.plnk' }))],
    ['whiteout with content', rawTar(rawEntry({ name: '.wh.file' }, 'x'))],
    ['whiteout as a symlink', rawTar(rawEntry({ name: '.wh.file', type: '2', linkname: 'x' }))],
    ['empty symlink target', rawTar(rawEntry({ name: 's', type: '2', linkname: '' }))],
  ];
  for (const [name, tar] of cases) {
    await t.rejects(extract(t, tar), { code: 'E_UNSAFE_ENTRY' }, name);
  }
  t.same(await listTree(outside), before, 'the outside directory is untouched');
});

t.test('entry count, depth and output are capped', async (t) => {
  const many = rawTar(...Array.from({ length: 6 }, (_, i) => rawEntry({ name: `f${i}` }, 'x')));
  await t.rejects(extract(t, many, { maxEntries: 5 }), { code: 'E_UNSAFE_ENTRY', message: /more than 5 entries/ });
  const deep = rawTar(rawEntry({ name: 'a/b/c/d/e/f' }, 'x'));
  await t.rejects(extract(t, deep, { maxDepth: 5 }), { code: 'E_UNSAFE_ENTRY', message: /deeper than 5/ });
  const big = rawTar(rawEntry({ name: 'a' }, Buffer.alloc(5000)));
  await t.rejects(extract(t, big, { maxOutputBytes: 4096 }), { code: 'E_UNSAFE_ENTRY', message: /exceeds its signed 4096 bytes/ });
});

t.test('a tar without parent directory entries gets them created; explicit ones set their attributes later', async (t) => {
  const tar = rawTar(rawEntry({ name: 'a/b/file', mode: 0o640 }, 'x'), rawEntry({ name: 'a/', type: '5', mode: 0o711, mtime: 1000 }));
  const { root, rebuilt } = await extract(t, tar);
  const a = await lstat(join(root, 'a'));
  t.equal(a.mode & 0o7777, 0o711);
  t.equal(a.mtimeMs, 1000 * 1000);
  t.ok((await lstat(join(root, 'a/b'))).isDirectory());
  t.ok((await rebuilt()).equals(tar));
});

t.test('whiteouts: valid names are kept as the literal empty files the layer holds, opaque markers in any order', async (t) => {
  const tar = rawTar(
    rawEntry({ name: 'd/a' }, 'a'),
    rawEntry({ name: 'd/.wh..wh..opq' }),
    rawEntry({ name: 'd/z' }, 'z'),
    rawEntry({ name: 'e/.wh..wh..opq' }),
    rawEntry({ name: 'e/x' }, 'x'),
    rawEntry({ name: '.wh.gone' }),
    rawEntry({ name: 'e/.wh.sub dir' }),
  );
  const { root, rebuilt } = await extract(t, tar);
  const files = (await listTree(root)).filter((node) => node.type === 'file').map((node) => [node.path, node.size]);
  t.same(files, [
    ['.wh.gone', 0],
    ['d/.wh..wh..opq', 0],
    ['d/a', 1],
    ['d/z', 1],
    ['e/.wh..wh..opq', 0],
    ['e/.wh.sub dir', 0],
    ['e/x', 1],
  ]);
  t.ok((await rebuilt()).equals(tar), 'and the layer rebuilds byte for byte');
});

t.test('ownership and times of symlinks go to the link itself (lchown, lutimes), never to its target', async (t) => {
  const dir = t.testdir({ outside: { 'secret.txt': 'keep me\n' } });
  const secret = join(dir, 'outside', 'secret.txt');
  const before = await lstat(secret);
  const tar = rawTar(rawEntry({ name: 'link', type: '2', linkname: secret, uid: 4321, gid: 8765, mtime: 1000 }));
  const { root } = await extract(t, tar);
  const link = await lstat(join(root, 'link'));
  t.match({ uid: link.uid, gid: link.gid, mtimeMs: link.mtimeMs }, { uid: 4321, gid: 8765, mtimeMs: 1_000_000 });
  const after = await lstat(secret);
  t.match({ uid: after.uid, gid: after.gid, mtimeMs: after.mtimeMs, mode: after.mode }, { uid: before.uid, gid: before.gid, mtimeMs: before.mtimeMs, mode: before.mode });
});
