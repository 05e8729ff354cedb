import { mkdir, readdir, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import t from 'tap';
import { sha256Digest } from '../../shared/digest.js';
import { FileStore } from '../../cli/src/lib/artifact-store/file-store.js';
import { runCli } from '../helpers/run.js';

async function snapshot(path: string): Promise<{ mode: number; entries: string[] }> {
  return { mode: (await stat(path)).mode, entries: (await readdir(path)).sort() };
}

t.test('a directory artifact store is written only where the directory is missing, empty or a store', async (t) => {
  const dir = t.testdir({ 'not-a-store': { 'notes.txt': 'mine' }, empty: {} });
  const blob = Buffer.from('blob');
  const digest = sha256Digest(blob);
  const before = await snapshot(join(dir, 'not-a-store'));
  const foreign = new FileStore(join(dir, 'not-a-store'));
  await t.rejects(foreign.putBlob(digest, blob.length, Readable.from([blob])), {
    code: 'E_USAGE',
    message: /not-a-store is neither an artifact store nor an empty directory \(it holds "notes.txt"\)/,
  });
  await t.rejects(foreign.writeDocument({ kind: 'release', channel: 'stable' }, Buffer.from('{}')), { code: 'E_USAGE' });
  t.same(await snapshot(join(dir, 'not-a-store')), before, 'nothing was written into it');

  const store = new FileStore(join(dir, 'empty'));
  t.equal(await store.putBlob(digest, blob.length, Readable.from([blob])), true, 'an empty directory becomes a store');
  await new FileStore(join(dir, 'empty')).writeDocument({ kind: 'release', channel: 'stable' }, Buffer.from('{}'));
  t.same((await readdir(join(dir, 'empty'))).sort(), ['blobs', 'channels'], 'and stays usable as one');

  await writeFile(join(dir, 'a-file'), 'x');
  await t.rejects(new FileStore(join(dir, 'a-file')).writeDocument({ kind: 'root', version: 2 }, Buffer.from('{}')), { code: 'E_USAGE', message: /a-file is not a directory/ });
});

t.test('keys generate refuses an output directory that holds anything but keys', async (t) => {
  const dir = t.testdir({ shared: { 'other.conf': 'x' } });
  await mkdir(join(dir, 'sticky'));
  const before = await snapshot(join(dir, 'shared'));
  const run = await runCli(['keys', 'generate', join(dir, 'shared')]);
  t.equal(run.code, 2, run.stderr);
  t.match(run.stderr, /shared is neither a key directory nor an empty directory \(it holds "other.conf"\)/);
  t.same(await snapshot(join(dir, 'shared')), before);
  const fine = await runCli(['keys', 'generate', join(dir, 'sticky')]);
  t.equal(fine.code, 0, fine.stderr);
});
