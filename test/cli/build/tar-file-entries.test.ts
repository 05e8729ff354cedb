import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { gzipSync } from 'node:zlib';
import t from 'tap';
import tarStream from 'tar-stream';
import { readCapped } from '../../../shared/capped-read.js';
import { deterministicTar } from '../../../shared/tar/deterministic-writer.js';
import { spoolTarFile } from '../../../cli/src/lib/build/tar-file-entries.js';
import { readTarEntries } from '../../helpers/tar-entries.js';

type Input = { header: Partial<tarStream.Header> & { name: string }; content?: string };

async function tarBytes(inputs: Input[]): Promise<Buffer> {
  const pack = tarStream.pack();
  const collected = readCapped(pack as unknown as Readable, 1 << 20, 'tar');
  for (const { header, content } of inputs) {
    await new Promise<void>((resolve, reject) => pack.entry(header as tarStream.Header, content ?? '', (error) => (error ? reject(error) : resolve())));
  }
  pack.finalize();
  return collected;
}

const messyArchive: Input[] = [
  { header: { name: './', type: 'directory', mode: 0o755, mtime: new Date(5e11) } },
  { header: { name: './z/', type: 'directory', mode: 0o750, uid: 7, gid: 8, mtime: new Date(1e12) } },
  { header: { name: './z/target', type: 'file', mode: 0o600, uid: 1000, gid: 1000, mtime: new Date(1e12) }, content: 'payload' },
  { header: { name: 'a-link', type: 'link', linkname: './z/target', mtime: new Date(1e12) } },
  { header: { name: '/etc/motd', type: 'file', mode: 0o644, mtime: new Date(3e12) }, content: 'old' },
  { header: { name: 'etc/', type: 'directory', mode: 0o755 } },
  { header: { name: 'etc/motd', type: 'file', mode: 0o644, mtime: new Date(4e12) }, content: 'new' },
  { header: { name: 'etc/sh', type: 'symlink', linkname: '/bin/busybox', mode: 0o777 } },
];

async function rewrite(file: string) {
  const spooled = await spoolTarFile(file);
  try {
    return await readCapped(deterministicTar(spooled.entries, { mtime: 0 }), 1 << 20, 'tar');
  } finally {
    await spooled.dispose();
  }
}

t.test('a tar file is re-written sorted, normalized and with fixed mtimes', async (t) => {
  const dir = t.testdir();
  await writeFile(join(dir, 'in.tar'), await tarBytes(messyArchive));
  await writeFile(join(dir, 'in.tar.gz'), gzipSync(await readFile(join(dir, 'in.tar'))));
  const plain = await rewrite(join(dir, 'in.tar'));
  t.same(plain, await rewrite(join(dir, 'in.tar.gz')), 'gzip input gives the same layer');

  const entries = await readTarEntries(Readable.from([plain]));
  const rows = entries.map(({ header, content }) => [header.name, header.type, header.uid, header.gid, header.linkname || content.toString(), header.mtime?.getTime()]);
  t.same(rows, [
    ['a-link', 'file', 1000, 1000, 'payload', 0],
    ['etc/', 'directory', 0, 0, '', 0],
    ['etc/motd', 'file', 0, 0, 'new', 0],
    ['etc/sh', 'symlink', 0, 0, '/bin/busybox', 0],
    ['z/', 'directory', 7, 8, '', 0],
    ['z/target', 'link', 1000, 1000, 'a-link', 0],
  ]);
  t.equal(entries[0].header.mode, 0o600, 'mode of the content follows the file');
});

t.test('spooled contents disappear on dispose', async (t) => {
  const dir = t.testdir();
  await writeFile(join(dir, 'in.tar'), await tarBytes(messyArchive));
  const spooled = await spoolTarFile(join(dir, 'in.tar'));
  await spooled.dispose();
  const file = spooled.entries.find((e) => e.type === 'file')!;
  await t.rejects(readCapped(Readable.from(file.open!()), 1024, 'file'), { code: 'ENOENT' });
});

t.test('paths devices would refuse to extract, devices, dangling hard links and non-tar files are refused', async (t) => {
  const dir = t.testdir({ 'notes.txt': 'this is not a tar archive, just some words that are long enough'.repeat(20) });
  const cases: [string, Input[], { code: string; message: RegExp }][] = [
    ['escape', [{ header: { name: 'a/../../etc/passwd', type: 'file' }, content: 'x' }], { code: 'E_UNSAFE_ENTRY', message: /escape\.tar: entry "a\/\.\.\/\.\.\/etc\/passwd": contains '\.\.'/ }],
    ['link escape', [{ header: { name: 'link', type: 'link', linkname: '../outside' } }], { code: 'E_UNSAFE_ENTRY', message: /hard link link -> target "\.\.\/outside": contains '\.\.'/ }],
    ['deep', [{ header: { name: `${'d/'.repeat(129)}f`, type: 'file' }, content: 'x' }], { code: 'E_UNSAFE_ENTRY', message: /is deeper than 128 levels/ }],
    ['long name', [{ header: { name: `${'n'.repeat(256)}`, type: 'file' }, content: 'x' }], { code: 'E_UNSAFE_ENTRY', message: /has a name longer than 255 bytes/ }],
    ['device', [{ header: { name: 'dev/null', type: 'character-device', devmajor: 1, devminor: 3 } }], { code: 'E_BAD_INPUT', message: /dev\/null is a character-device/ }],
    ['dangling', [{ header: { name: 'link', type: 'link', linkname: 'nowhere' } }], { code: 'E_BAD_INPUT', message: /hard link link points to nowhere/ }],
  ];
  for (const [name, inputs, expected] of cases) {
    await writeFile(join(dir, `${name}.tar`), await tarBytes(inputs));
    await t.rejects(spoolTarFile(join(dir, `${name}.tar`)), expected, name);
  }
  await t.rejects(spoolTarFile(join(dir, 'notes.txt')), { code: 'E_BAD_INPUT', message: /not a readable tar archive/ });
});
