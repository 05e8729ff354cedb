import { lstat, mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { extractLayer, extractLimits } from '../../filesystem/extract.js';
import { sha256Digest } from '../../shared/digest.js';
import { splitTar } from '../../shared/tar/split.js';
import { paxEntry, rawEntry, rawTar } from '../helpers/raw-tar.js';

async function* whole(bytes: Buffer): AsyncGenerator<Buffer> {
  yield bytes;
}

async function extract(t: Test, tar: Buffer) {
  const dir = await mkdtemp(join(tmpdir(), 'prtiql-extract-meta-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const root = join(dir, 'layer');
  await mkdir(root);
  await extractLayer(splitTar(whole(tar)), { root, skeletonPath: join(dir, 'skeleton'), diffID: sha256Digest(tar) }, extractLimits(tar.length));
  return root;
}

// Signed layers may still carry metadata no file system can hold: each is refused with a
// documented code, never recorded as something else and never E_INTERNAL.
t.test('owners, times, symlink targets and path lengths the store cannot record are E_BAD_INPUT', async (t) => {
  const withPax = (records: Record<string, string>, header: Parameters<typeof rawEntry>[0] = { name: 'f' }, content = '') =>
    rawTar(paxEntry(records), rawEntry(header, content));
  const cases: [string, Buffer, RegExp][] = [
    ['uid 2^32-1 (chown would leave the owner unchanged)', withPax({ uid: String(2 ** 32 - 1) }), /uid 4294967295 cannot be recorded/],
    ['gid 2^32', withPax({ gid: String(2 ** 32) }), /gid 4294967296 cannot be recorded/],
    ['a negative mtime (utimes would record now)', withPax({ mtime: '-1' }), /mtime -1 cannot be recorded/],
    ['an mtime past 2106', withPax({ mtime: String(2 ** 40) }), /mtime 1099511627776 cannot be recorded/],
    ['a symlink target longer than PATH_MAX', withPax({ linkpath: 'x'.repeat(5000) }, { name: 'link', type: '2' }), /symlink target is longer than PATH_MAX/],
  ];
  const longPath = Array.from({ length: 20 }, (_, i) => `${i}`.padEnd(202, 'd')).join('/');
  cases.push(['a path whose length in the store passes PATH_MAX', withPax({ path: longPath }), /its path in the store would be longer than PATH_MAX/]);
  for (const [name, tar, message] of cases) await t.rejects(extract(t, tar), { code: 'E_BAD_INPUT', message }, name);

  const root = await extract(t, withPax({ uid: String(2 ** 32 - 2), gid: '7', mtime: String(2 ** 32 - 1) }));
  const recorded = await lstat(join(root, 'f'));
  t.same([recorded.uid, recorded.gid, recorded.mtimeMs / 1000], [2 ** 32 - 2, 7, 2 ** 32 - 1], 'the highest owner id and time are recorded as given');
});

// ext4 allows 65,000 links to a file: this creates 65,001 (about 11 s on an idle 2-core machine).
t.test('more hard links to one file than the file system allows is E_DISK', async (t) => {
  const links = Array.from({ length: 65_001 }, (_, i) => rawEntry({ name: `l${i}`, type: '1', linkname: 'target' }));
  await t.rejects(extract(t, rawTar(rawEntry({ name: 'target' }, 'x'), ...links)), {
    code: 'E_DISK',
    message: /allows no more hard links to "target"/,
  });
});

t.test('a whiteout name anywhere but last in a path is refused', async (t) => {
  for (const name of ['.wh.etc/hosts', 'etc/.wh.hosts/inside', '.wh..wh..opq/x', 'a/.wh..wh..opq/b/c']) {
    await t.rejects(extract(t, rawTar(rawEntry({ name }, 'x'))), { code: 'E_UNSAFE_ENTRY', message: /only the last name of a path may be a whiteout/ }, name);
  }
  await t.rejects(extract(t, rawTar(rawEntry({ name: '.wh.dir/', type: '5' }))), { code: 'E_UNSAFE_ENTRY' }, 'a directory named like a whiteout');
  t.ok(await extract(t, rawTar(rawEntry({ name: 'etc/.wh.hosts' }))), 'a whiteout as the last name is one');
});
