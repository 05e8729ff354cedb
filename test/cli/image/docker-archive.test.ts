import { randomBytes } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { gzipSync } from 'node:zlib';
import tarStream from 'tar-stream';
import t, { type Test } from 'tap';
import { readCapped } from '../../../shared/capped-read.js';
import { digestHex, sha256Digest } from '../../../shared/digest.js';
import { MediaType } from '../../../shared/oci.js';
import { buildImage } from '../../../cli/src/lib/build/build-image.js';
import { OciLayout } from '../../../cli/src/lib/image/oci-layout.js';
import { openImage } from '../../../cli/src/lib/image/open-image.js';
import { writeImage } from '../../../cli/src/lib/image/write-image.js';
import { runTool } from '../../helpers/run.js';

const LIMIT = 1 << 20;

async function buildSample(t: Test) {
  const dir = t.testdir({ context: { 'hello.txt': 'hello archive\n', 'noise.bin': randomBytes(2000) }, more: { 'second.txt': 'layer two\n' } });
  const result = await buildImage(
    { layers: [{ directory: join(dir, 'context') }, { directory: join(dir, 'more') }], entrypoint: ['/hello'] },
    `oci:${join(dir, 'layout')}:v1`,
    { mtime: 0 },
  );
  return { dir, result };
}

async function layerTars(reference: string): Promise<Buffer[]> {
  const image = await openImage(reference);
  return Promise.all(image.layers.map(async (layer) => readCapped(await layer.openUncompressed(), LIMIT, 'layer')));
}

t.test('an archive we write is read by skopeo, and reads back to the same image', async (t) => {
  const { dir, result } = await buildSample(t);
  const archive = join(dir, 'app.tar');
  const written = await writeImage(await openImage(result.reference), `docker-archive:${archive}:example.com/team/app:1.0`);
  t.equal(written.reference, `docker-archive:${archive}:example.com/team/app:1.0`);
  t.same(written.blobs, { written: 3, skipped: 0, mounted: 0 });

  const inspected = JSON.parse(await runTool('skopeo', ['inspect', `docker-archive:${archive}`]));
  t.same(inspected.Layers, result.layers.map((layer) => layer.diffID), 'skopeo sees uncompressed layers named by diffID');
  t.same(inspected.RepoTags, [], 'skopeo lists registry tags only');
  const config = JSON.parse(await runTool('skopeo', ['inspect', '--config', `docker-archive:${archive}:example.com/team/app:1.0`]));
  t.same(config.config.Entrypoint, ['/hello']);

  const back = await openImage(`docker-archive:${archive}`);
  t.equal(back.manifestDigest, written.manifestDigest, 'the digest written is the one read');
  t.equal(sha256Digest(back.configBytes), result.config.digest, 'the config is kept byte for byte');
  t.same(back.manifest.layers.map((layer) => layer.mediaType), [MediaType.layerTar, MediaType.layerTar]);
  t.same(await layerTars(`docker-archive:${archive}:example.com/team/app:1.0`), await layerTars(result.reference));

  await runTool('skopeo', ['copy', '--quiet', `docker-archive:${archive}`, `oci:${join(dir, 'via-skopeo')}:x`]);
  t.equal(sha256Digest((await openImage(`oci:${join(dir, 'via-skopeo')}:x`)).configBytes), result.config.digest);
});

t.test('an archive skopeo writes streams its layers to us and copies on to a layout', async (t) => {
  const { dir, result } = await buildSample(t);
  const archive = join(dir, 'skopeo.tar');
  await runTool('skopeo', ['copy', '--quiet', result.reference, `docker-archive:${archive}:app:v7`]);
  const image = await openImage(`docker-archive:${archive}:app:v7`);
  t.same(image.config.rootfs.diff_ids, result.layers.map((layer) => layer.diffID));
  t.same(image.config.config?.Entrypoint, ['/hello']);
  t.same(await layerTars(`docker-archive:${archive}`), await layerTars(result.reference));

  const copied = await writeImage(image, `oci:${join(dir, 'copy')}:v7`);
  t.equal(copied.manifestDigest, image.manifestDigest);
  t.same((await openImage(`oci:${join(dir, 'copy')}:v7`)).config.rootfs.diff_ids, image.config.rootfs.diff_ids);
});

t.test('gzip layers inside an archive are kept compressed', async (t) => {
  const { dir, result } = await buildSample(t);
  const layout = await OciLayout.open(join(dir, 'layout'));
  const pack = tarStream.pack();
  const archive = join(dir, 'gzip-layers.tar');
  const done = pipeline(pack, createWriteStream(archive));
  const configBytes = await readFile(layout.blobPath(result.config.digest));
  pack.entry({ name: 'config.json' }, configBytes);
  const layers = [];
  for (const layer of result.layers) {
    const name = `${digestHex(layer.diffID)}/layer.tar.gz`;
    pack.entry({ name }, await readFile(layout.blobPath(layer.digest)));
    layers.push(name);
  }
  pack.entry({ name: 'manifest.json' }, JSON.stringify([{ Config: 'config.json', RepoTags: ['gz:1'], Layers: layers }]));
  pack.finalize();
  await done;

  const image = await openImage(`docker-archive:${archive}`);
  t.same(image.manifest.layers, result.layers.map((layer) => ({ mediaType: MediaType.layerGzip, digest: layer.digest, size: layer.size })));
  t.same(await layerTars(`docker-archive:${archive}:gz:1`), await layerTars(result.reference));
});

t.test('several images, missing names, compressed and damaged archives are clear errors', async (t) => {
  const { dir, result } = await buildSample(t);
  const image = await openImage(result.reference);
  const archive = join(dir, 'app.tar');
  await writeImage(image, `docker-archive:${archive}:app:1`);
  await t.rejects(openImage(`docker-archive:${archive}:app:2`), { code: 'E_NOT_FOUND', message: /holds no image named app:2 \(names: app:1\)/ });
  t.equal((await openImage(`docker-archive:${archive}:docker.io/library/app:1`)).manifestDigest, (await openImage(`docker-archive:${archive}:app:1`)).manifestDigest, 'short and long names match');
  await t.rejects(openImage(`docker-archive:${join(dir, 'absent.tar')}`), { code: 'E_NOT_FOUND' });

  await writeFile(join(dir, 'app.tar.gz'), gzipSync(await readFile(archive)));
  await t.rejects(openImage(`docker-archive:${join(dir, 'app.tar.gz')}`), { code: 'E_BAD_INPUT', message: /gzip-compressed: gunzip it first/ });

  const bytes = await readFile(archive);
  const tarOffset = bytes.indexOf(Buffer.from('layer two'));
  t.ok(tarOffset > 0, 'the second layer is stored uncompressed');
  bytes[tarOffset] ^= 1;
  await writeFile(join(dir, 'damaged.tar'), bytes);
  await t.rejects(openImage(`docker-archive:${join(dir, 'damaged.tar')}`), { code: 'E_DIGEST_MISMATCH', message: /says diffID/ });
  await t.rejects(openImage(`docker-archive:${dir}`), { code: 'E_BAD_INPUT', message: /is not a file/ });
  await t.rejects(openImage(`docker-archive:${join(dir, 'layout', 'index.json')}`), { code: 'E_BAD_INPUT', message: /^docker archive .*index\.json: tar:/ });
});

t.test('writing an archive never leaves a partial file', async (t) => {
  const { dir, result } = await buildSample(t);
  const layout = await OciLayout.open(join(dir, 'layout'));
  const image = await openImage(result.reference);
  await writeFile(layout.blobPath(result.layers[1].digest), Buffer.from('not gzip at all'));
  const archive = join(dir, 'out.tar');
  await t.rejects(writeImage(image, `docker-archive:${archive}`));
  await t.rejects(readFile(archive), { code: 'ENOENT' });
  t.same((await readdir(dir)).filter((name) => name.startsWith('out.tar')), [], 'no temporary file either');
});
