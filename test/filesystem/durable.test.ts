import { readFileSync } from 'node:fs';
import { mkdir, readdir, readFile, stat, symlink, writeFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import t from 'tap';
import { fsyncDirectory, isTemporarySibling, replaceFileDurably, temporarySibling } from '../../filesystem/durable.js';

t.test('concurrent replacements of one file in one process never share a temporary', async (t) => {
  const dir = t.testdir();
  const path = join(dir, 'index.json');
  const contents = Array.from({ length: 20 }, (_, i) => Buffer.from(`{"version":${i}}`));
  await Promise.all(contents.map((bytes) => replaceFileDurably(path, bytes, 0o644)));
  t.ok(contents.some((bytes) => bytes.equals(readFileSync(path))), 'the file holds one of the writes whole');
  t.same(await readdir(dir), ['index.json'], 'no temporary is left');
  t.equal((await stat(path)).mode & 0o777, 0o644);
});

t.test('temporaries are hidden siblings, unique, and recognised as leftovers in the current and the older naming', async (t) => {
  const names = new Set(Array.from({ length: 100 }, () => temporarySibling('/store/state.json')));
  t.equal(names.size, 100);
  for (const name of names) {
    t.equal(dirname(name), '/store');
    t.ok(isTemporarySibling(basename(name)), name);
  }
  t.ok(isTemporarySibling('.state.json.tmp-4242'), 'an older applier left it');
  t.notOk(isTemporarySibling('state.json'));
  t.notOk(isTemporarySibling('.state.json.tmp-4242-xyz'));
});

t.test('a directory reached through a symlink can be flushed (a store root may be one)', async (t) => {
  const dir = t.testdir();
  await mkdir(join(dir, 'real'));
  await symlink('real', join(dir, 'link'));
  await fsyncDirectory(join(dir, 'link'));
  await replaceFileDurably(join(dir, 'link', 'doc.json'), Buffer.from('{}'), 0o644);
  t.equal(await readFile(join(dir, 'real', 'doc.json'), 'utf8'), '{}');
  await writeFile(join(dir, 'file'), 'x');
  await t.rejects(fsyncDirectory(join(dir, 'file')), { code: 'ENOTDIR' });
});
