import { mkdir, readdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import t from 'tap';
import { sha256Digest } from '../../../shared/digest.js';
import { readCapped } from '../../../shared/capped-read.js';
import { ANNOTATION_REF_NAME, MediaType } from '../../../shared/oci.js';
import { OciLayout } from '../../../cli/src/lib/image/oci-layout.js';

t.test('a new layout has the oci-layout marker, an empty index and a blob directory', async (t) => {
  const root = join(t.testdir(), 'layout');
  await OciLayout.openOrCreate(root);
  t.same(JSON.parse(await readFile(join(root, 'oci-layout'), 'utf8')), { imageLayoutVersion: '1.0.0' });
  t.same(JSON.parse(await readFile(join(root, 'index.json'), 'utf8')), { schemaVersion: 2, mediaType: MediaType.imageIndex, manifests: [] });
  t.ok((await stat(join(root, 'blobs', 'sha256'))).isDirectory());
  await OciLayout.open(root);
});

t.test('blobs are stored by digest, streamed, and never overwritten', async (t) => {
  const root = t.testdir();
  const layout = await OciLayout.openOrCreate(join(root, 'layout'));
  const data = Buffer.from('hello blob');
  const descriptor = await layout.writeBlob(Readable.from([data.subarray(0, 5), data.subarray(5)]), MediaType.layerTar);
  t.same(descriptor, { mediaType: MediaType.layerTar, digest: sha256Digest(data), size: data.length });
  const path = layout.blobPath(descriptor.digest);
  t.same(await readFile(path), data);
  const before = await stat(path);

  await layout.writeBlob(data, MediaType.layerTar);
  const after = await stat(path);
  t.equal(after.ino, before.ino, 'the existing blob file was kept');
  t.same(await readdir(join(root, 'layout', 'blobs')), ['sha256'], 'no temporary files are left behind');

  const failing = Readable.from(
    (async function* () {
      yield Buffer.from('partial');
      throw new Error('source broke');
    })(),
  );
  await t.rejects(layout.writeBlob(failing, MediaType.layerTar), /source broke/);
  t.same(await readdir(join(root, 'layout', 'blobs')), ['sha256']);
  t.same(await readdir(join(root, 'layout', 'blobs', 'sha256')), [descriptor.digest.slice(7)], 'a failed write stores nothing');
});

t.test('blob reads are verified against the descriptor', async (t) => {
  const layout = await OciLayout.openOrCreate(join(t.testdir(), 'layout'));
  const descriptor = await layout.writeBlob(Buffer.from('original'), MediaType.imageConfig);
  t.equal((await layout.readBlob(descriptor, 1024)).toString(), 'original');
  await writeFile(layout.blobPath(descriptor.digest), 'tampered');
  await t.rejects(layout.readBlob(descriptor, 1024), { code: 'E_DIGEST_MISMATCH' });
  await t.rejects(readCapped(await layout.openBlob({ ...descriptor, size: 3 }), 1024, 'blob'), { code: 'E_SIZE_MISMATCH' });
  await t.rejects(layout.readBlob(descriptor, 4), { code: 'E_TOO_LARGE' });
  await t.rejects(layout.openBlob({ digest: sha256Digest('absent'), size: 6 }), { code: 'E_NOT_FOUND' });
});

t.test('tagging replaces the entry with the same tag and keeps the others', async (t) => {
  const layout = await OciLayout.openOrCreate(join(t.testdir(), 'layout'));
  const one = await layout.writeBlob(Buffer.from('{"one":1}'), MediaType.imageManifest);
  const two = await layout.writeBlob(Buffer.from('{"two":2}'), MediaType.imageManifest);
  await layout.setTag('v1', one);
  await layout.setTag('stable', one);
  await layout.setTag('v1', two);
  t.same(await layout.tags(), ['stable', 'v1']);
  t.equal((await layout.resolveTag('v1')).digest, two.digest);
  t.equal((await layout.resolveTag('stable')).digest, one.digest);
  t.equal((await layout.resolveTag('v1')).annotations?.[ANNOTATION_REF_NAME], 'v1');
  await t.rejects(layout.resolveTag('v9'), { code: 'E_NOT_FOUND', message: /tag v9 .*\(tags: stable, v1\)/ });
  await t.rejects(layout.setTag('ghost', { ...one, digest: sha256Digest('not stored') }), { code: 'E_NOT_FOUND' });
});

t.test('directories that are not layouts are refused and left alone', async (t) => {
  const dir = t.testdir({ 'notes.txt': 'not an image', onlyMarker: { 'oci-layout': '{"imageLayoutVersion":"1.0.0"}' } });
  await t.rejects(OciLayout.open(dir), { code: 'E_NOT_AN_IMAGE', message: /no oci-layout file/ });
  await t.rejects(OciLayout.open(join(dir, 'missing')), { code: 'E_NOT_AN_IMAGE' });
  await t.rejects(OciLayout.open(join(dir, 'notes.txt')), { code: 'E_NOT_AN_IMAGE' });
  await t.rejects(OciLayout.open(join(dir, 'onlyMarker')), { code: 'E_NOT_AN_IMAGE', message: /no index.json/ });
  await t.rejects(OciLayout.openOrCreate(dir), { code: 'E_NOT_AN_IMAGE' });
  await t.rejects(OciLayout.openOrCreate(join(dir, 'notes.txt')), { code: 'E_NOT_AN_IMAGE' });
  t.same((await readdir(dir)).sort(), ['notes.txt', 'onlyMarker'], 'nothing was written into the directory');
  await mkdir(join(dir, 'empty'));
  await OciLayout.openOrCreate(join(dir, 'empty'));
  await OciLayout.open(join(dir, 'empty'));
});
