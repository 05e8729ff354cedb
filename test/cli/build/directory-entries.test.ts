import { chmod, link, mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { createServer } from 'node:net';
import { join } from 'node:path';
import t from 'tap';
import type { TarEntrySource } from '../../../shared/tar/deterministic-writer.js';
import { directoryEntries } from '../../../cli/src/lib/build/directory-entries.js';
import { runTool } from '../../helpers/run.js';

const summary = (entries: TarEntrySource[]) =>
  Object.fromEntries(entries.map((e) => [e.path, [e.type, (e.mode & 0o7777).toString(8), e.uid, e.gid, e.linkname ?? e.size]]));

t.test('files, directories and symlinks keep their permission bits; owners are numeric', async (t) => {
  const root = t.testdir();
  await mkdir(join(root, 'bin'));
  await writeFile(join(root, 'bin/tool'), 'tool');
  await chmod(join(root, 'bin/tool'), 0o4755);
  await mkdir(join(root, 'secret'));
  await chmod(join(root, 'secret'), 0o700);
  await writeFile(join(root, 'secret/key'), 'k');
  await chmod(join(root, 'secret/key'), 0o640);
  await symlink('../missing/target', join(root, 'bin/dangling'));
  const entries = await directoryEntries(root, { uid: 1000, gid: 100 });
  t.same(summary(entries), {
    bin: ['directory', '755', 1000, 100, undefined],
    'bin/tool': ['file', '4755', 1000, 100, 4],
    'bin/dangling': ['symlink', '777', 1000, 100, '../missing/target'],
    secret: ['directory', '700', 1000, 100, undefined],
    'secret/key': ['file', '640', 1000, 100, 1],
  });
  t.equal((await directoryEntries(root)).find((e) => e.path === 'secret/key')?.uid, 0, 'owner defaults to root');
});

t.test('files sharing an inode become hard links to the path that sorts first', async (t) => {
  const root = t.testdir({ z: { 'original.txt': 'shared' }, 'single.txt': 'alone' });
  await link(join(root, 'z/original.txt'), join(root, 'a-copy.txt'));
  await link(join(root, 'z/original.txt'), join(root, 'm.txt'));
  const byPath = new Map((await directoryEntries(root)).map((e) => [e.path, e]));
  t.equal(byPath.get('a-copy.txt')?.type, 'file');
  t.equal(byPath.get('a-copy.txt')?.size, 6);
  t.match(byPath.get('m.txt'), { type: 'link', linkname: 'a-copy.txt' });
  t.match(byPath.get('z/original.txt'), { type: 'link', linkname: 'a-copy.txt' });
  t.equal(byPath.get('single.txt')?.type, 'file');
});

t.test('sockets, pipes and non-directories are refused with one clear error', async (t) => {
  // Unix socket paths are limited to about 100 bytes, too short for a t.testdir() path.
  const withSocket = await mkdtemp(join(tmpdir(), 'prtiql-socket-'));
  t.teardown(() => rm(withSocket, { recursive: true, force: true }));
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(join(withSocket, 'control.sock'), resolve));
  t.teardown(() => server.close());
  await t.rejects(directoryEntries(withSocket), { code: 'E_BAD_INPUT', message: /control\.sock is a socket; layers hold only/ });

  const withPipe = t.testdir();
  await runTool('mkfifo', [join(withPipe, 'queue')]);
  await t.rejects(directoryEntries(withPipe), { code: 'E_BAD_INPUT', message: /queue is a named pipe/ });

  const dir = t.testdir({ 'file.txt': 'x' });
  await t.rejects(directoryEntries(join(dir, 'absent')), { code: 'E_NOT_FOUND', message: /does not exist/ });
  await t.rejects(directoryEntries(join(dir, 'file.txt')), { code: 'E_BAD_INPUT', message: /is not a directory/ });
});
