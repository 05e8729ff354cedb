import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { sha256Digest } from '../../../shared/digest.js';
import { deterministicTar, type TarEntrySource } from '../../../shared/tar/deterministic-writer.js';
import { readCapped } from '../../../shared/capped-read.js';

const entries = (): TarEntrySource[] => [
  { path: 'app/run.sh', type: 'file', mode: 0o755, size: 9, uid: 1000, gid: 1000, open: () => [Buffer.from('#!/bin/sh')] },
  { path: 'app', type: 'directory', mode: 0o755 },
  { path: 'app/link', type: 'symlink', mode: 0o777, linkname: 'run.sh' },
  { path: 'app/hard', type: 'link', mode: 0o755, linkname: 'app/run.sh' },
  { path: `deep/${'n'.repeat(120)}`, type: 'file', mode: 0o600, size: 0 },
  { path: 'deep', type: 'directory', mode: 0o700 },
];

const tarOf = (list: TarEntrySource[], mtime = 1_700_000_000) => readCapped(deterministicTar(list, { mtime }), 1 << 20, 'tar');

t.test('the same entries in any order give the same bytes', async (t) => {
  const a = await tarOf(entries());
  const b = await tarOf(entries().reverse());
  t.equal(sha256Digest(a), sha256Digest(b));
  t.not(sha256Digest(await tarOf(entries(), 1)), sha256Digest(a), 'mtime is part of the bytes');
});

t.test('GNU tar reads sorted entries with numeric owners and the fixed mtime', async (t) => {
  const dir = t.testdir();
  const file = join(dir, 'layer.tar');
  writeFileSync(file, await tarOf(entries()));
  const listing = execFileSync('tar', ['-tvf', file, '--numeric-owner', '--full-time'], { encoding: 'utf8', env: { ...process.env, TZ: 'UTC' } })
    .trim()
    .split('\n');
  t.same(
    listing.map((line) => line.split(/\s+/).slice(5).join(' ')),
    ['app/', 'app/hard link to app/run.sh', 'app/link -> run.sh', 'app/run.sh', 'deep/', `deep/${'n'.repeat(120)}`],
  );
  t.match(listing[3], /^-rwxr-xr-x 1000\/1000 +9 2023-11-14 22:13:20 app\/run.sh$/);
  const raw = (await tarOf(entries())).toString('latin1');
  t.match(raw, /\d+ path=deep\//, 'the long name travels in a PAX record');
  t.notMatch(raw, /\d+ (atime|ctime)=/, 'no access or change times');
});

t.test('duplicate and invalid paths are refused', async (t) => {
  t.throws(() => deterministicTar([...entries(), { path: 'app', type: 'directory', mode: 0o755 }], { mtime: 0 }), {
    code: 'E_BAD_INPUT',
    message: /app twice/,
  });
  await t.rejects(tarOf([{ path: '/abs', type: 'directory', mode: 0o755 }]), { code: 'E_BAD_INPUT' });
});
