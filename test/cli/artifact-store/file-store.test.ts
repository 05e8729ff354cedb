import { readdir, readFile, stat, writeFile, mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import t from 'tap';
import { readCapped } from '../../../shared/capped-read.js';
import { sha256Digest, digestHex } from '../../../shared/digest.js';
import { FileStore } from '../../../cli/src/lib/artifact-store/file-store.js';

const blob = Buffer.from('layer bytes '.repeat(1000));
const digest = sha256Digest(blob);

async function filesUnder(root: string): Promise<string[]> {
  const entries = await readdir(root, { recursive: true, withFileTypes: true });
  return entries.filter((e) => e.isFile()).map((e) => join(e.parentPath, e.name).slice(root.length + 1)).sort();
}

t.test('stores a blob under blobs/sha256/<hex> and reads it back', async (t) => {
  const root = t.testdir();
  const store = new FileStore(join(root, 'new', 'store'));
  t.equal(await store.hasBlob(digest), false);
  t.equal(await store.putBlob(digest, blob.length, Readable.from([blob.subarray(0, 7), blob.subarray(7)])), true);
  t.equal(await store.hasBlob(digest), true);
  t.same(await readFile(join(root, 'new', 'store', 'blobs', 'sha256', digestHex(digest))), blob);
  t.same(await readCapped(await store.getBlob(digest), blob.length, 'blob'), blob);
  t.same(await filesUnder(join(root, 'new', 'store')), [`blobs/sha256/${digestHex(digest)}`], 'no temporary files remain');
});

t.test('never overwrites an existing blob and does not read the source again', async (t) => {
  const root = t.testdir();
  const store = new FileStore(root);
  await store.putBlob(digest, blob.length, Readable.from([blob]));
  const path = join(root, 'blobs', 'sha256', digestHex(digest));
  const before = await stat(path);
  let read = false;
  const source = (async function* () {
    read = true;
    yield Buffer.from('other');
  })();
  t.equal(await store.putBlob(digest, blob.length, source), false);
  t.equal(read, false, 'source untouched');
  t.equal((await stat(path)).ino, before.ino, 'same file');
});

t.test('a digest or size mismatch leaves nothing behind', async (t) => {
  const root = t.testdir();
  const store = new FileStore(root);
  const wrong = Buffer.from(blob);
  wrong[10] ^= 1;
  await t.rejects(store.putBlob(digest, blob.length, Readable.from([wrong])), { code: 'E_DIGEST_MISMATCH' });
  await t.rejects(store.putBlob(digest, blob.length, Readable.from([blob, Buffer.from('x')])), { code: 'E_SIZE_MISMATCH' });
  await t.rejects(store.putBlob(digest, blob.length, Readable.from([blob.subarray(1)])), { code: 'E_SIZE_MISMATCH' });
  t.equal(await store.hasBlob(digest), false);
  t.same(await filesUnder(root), []);
});

t.test('a failing source leaves nothing behind', async (t) => {
  const root = t.testdir();
  const store = new FileStore(root);
  const source = (async function* () {
    yield blob.subarray(0, 100);
    throw new Error('connection reset');
  })();
  await t.rejects(store.putBlob(digest, blob.length, source), { message: 'connection reset' });
  t.same(await filesUnder(root), []);
});

t.test('getBlob of a missing blob is E_NOT_FOUND', async (t) => {
  const store = new FileStore(t.testdir());
  await t.rejects(store.getBlob(digest), { code: 'E_NOT_FOUND', message: new RegExp(digest) });
});

t.test('channel pointers: absent, written, replaced atomically', async (t) => {
  const root = t.testdir();
  const store = new FileStore(root);
  t.equal(await store.readDocument({ kind: 'release', channel: 'stable' }), undefined);
  await store.writeDocument({ kind: 'release', channel: 'stable' }, Buffer.from('{"v":1}'));
  t.equal(store.documentLocation({ kind: 'release', channel: 'stable' }), join(root, 'channels', 'stable', 'release.json'));
  t.equal((await store.readDocument({ kind: 'release', channel: 'stable' }))?.toString(), '{"v":1}');
  await store.writeDocument({ kind: 'release', channel: 'stable' }, Buffer.from('{"v":2}'));
  t.equal((await readFile(join(root, 'channels', 'stable', 'release.json'), 'utf8')), '{"v":2}');
  t.same(await filesUnder(root), ['channels/stable/release.json']);
});

t.test('channel names that could escape the store are refused', async (t) => {
  const root = t.testdir();
  const store = new FileStore(root);
  for (const channel of ['../x', '', 'a/b', '.hidden', 'UPPER']) {
    for (const kind of ['release', 'timestamp', 'history'] as const) {
      await t.rejects(store.writeDocument({ kind, channel }, Buffer.from('{}')), { code: 'E_USAGE' }, `${kind} of ${channel}`);
      await t.rejects(store.readDocument({ kind, channel }), { code: 'E_USAGE' }, `${kind} of ${channel}`);
    }
  }
  t.same(await filesUnder(root), []);
});

t.test('an oversized pointer is refused', async (t) => {
  const root = t.testdir();
  await mkdir(join(root, 'channels', 'big'), { recursive: true });
  await writeFile(join(root, 'channels', 'big', 'release.json'), Buffer.alloc(4 * 1024 * 1024 + 1));
  await t.rejects(new FileStore(root).readDocument({ kind: 'release', channel: 'big' }), { code: 'E_TOO_LARGE' });
});
