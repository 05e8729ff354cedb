import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { Readable } from 'node:stream';
import t, { type Test } from 'tap';
import { readCapped } from '../../../shared/capped-read.js';
import { sha256Digest } from '../../../shared/digest.js';
import { MediaType, type ImageConfig, type ImageManifest } from '../../../shared/oci.js';
import { deterministicTar } from '../../../shared/tar/deterministic-writer.js';
import { buildImage } from '../../../cli/src/lib/build/build-image.js';
import { OciLayout } from '../../../cli/src/lib/image/oci-layout.js';
import { openImage } from '../../../cli/src/lib/image/open-image.js';
import { runTool } from '../../helpers/run.js';
import { readTarEntries } from '../../helpers/tar-entries.js';

const LIMIT = 1 << 20;

async function buildSample(t: Test, reference: (dir: string) => string) {
  const dir = t.testdir({ context: { 'hello.txt': 'hello\n', bin: { 'run.sh': '#!/bin/sh\necho hi\n' } } });
  const result = await buildImage({ layers: [{ directory: join(dir, 'context') }], cmd: ['/bin/run.sh'] }, reference(dir), { mtime: 0 });
  return { dir, result };
}

t.test('an image we built opens with verified manifest, config and layer streams', async (t) => {
  const { dir, result } = await buildSample(t, (d) => `oci:${join(d, 'layout')}:v1`);
  const image = await openImage(`oci:${join(dir, 'layout')}:v1`);
  t.equal(image.manifestDigest, result.manifest.digest);
  t.equal(sha256Digest(image.configBytes), result.config.digest);
  t.same(image.config.config?.Cmd, ['/bin/run.sh']);
  t.equal(image.layers.length, 1);
  const [layer] = image.layers;
  t.equal(layer.diffID, result.layers[0].diffID);

  const compressed = await readCapped(await layer.openCompressed(), LIMIT, 'layer');
  t.equal(sha256Digest(compressed), layer.descriptor.digest);
  const tar = await readCapped(await layer.openUncompressed(), LIMIT, 'layer');
  t.same(tar, gunzipSync(compressed));
  t.equal(sha256Digest(tar), layer.diffID);
  const entries = await readTarEntries(await layer.openUncompressed());
  t.same(entries.map((e) => e.header.name), ['bin/', 'bin/run.sh', 'hello.txt']);
  t.equal(entries[2].content.toString(), 'hello\n');
});

t.test('a reference without a tag opens "latest"', async (t) => {
  const { dir, result } = await buildSample(t, (d) => `oci:${join(d, 'layout')}`);
  t.equal((await openImage(`oci:${join(dir, 'layout')}`)).manifestDigest, result.manifest.digest);
  t.equal((await openImage({ transport: 'oci', path: join(dir, 'layout'), tag: 'latest' })).manifestDigest, result.manifest.digest);
});

t.test('a layout written by skopeo opens too', async (t) => {
  const { dir, result } = await buildSample(t, (d) => `oci:${join(d, 'ours')}:v1`);
  await runTool('skopeo', ['copy', '--quiet', `oci:${join(dir, 'ours')}:v1`, `oci:${join(dir, 'theirs')}:copied`]);
  const image = await openImage(`oci:${join(dir, 'theirs')}:copied`);
  t.same(image.config.rootfs.diff_ids, [result.layers[0].diffID]);
  t.same(image.config.config?.Cmd, ['/bin/run.sh']);
  const tar = await readCapped(await image.layers[0].openUncompressed(), LIMIT, 'layer');
  t.equal(sha256Digest(tar), result.layers[0].diffID);
});

t.test('missing tags, non-layouts and tampered blobs are clear errors', async (t) => {
  const { dir, result } = await buildSample(t, (d) => `oci:${join(d, 'layout')}:v1`);
  const layoutPath = join(dir, 'layout');
  await t.rejects(openImage(`oci:${layoutPath}:v2`), { code: 'E_NOT_FOUND', message: /tag v2 .*\(tags: v1\)/ });
  await t.rejects(openImage(`oci:${join(dir, 'context')}:v1`), { code: 'E_NOT_AN_IMAGE' });
  await t.rejects(openImage('oci-archive:app.tar'), { code: 'E_BAD_REFERENCE' });

  const layout = await OciLayout.open(layoutPath);
  const config = await readCapped(await layout.openBlob(result.config), LIMIT, 'config');
  const tampered = Buffer.from(config.toString().replace('/bin/run.sh', '/bin/ran.sh'));
  t.equal(tampered.length, config.length);
  await writeFile(layout.blobPath(result.config.digest), tampered);
  await t.rejects(openImage(`oci:${layoutPath}:v1`), { code: 'E_DIGEST_MISMATCH' });
  await writeFile(layout.blobPath(result.manifest.digest), '{}');
  await t.rejects(openImage(`oci:${layoutPath}:v1`), { code: 'E_SIZE_MISMATCH' });
});

t.test('plain tar layers open uncompressed, and a wrong diffID fails the layer stream', async (t) => {
  const layoutPath = join(t.testdir(), 'layout');
  const layout = await OciLayout.openOrCreate(layoutPath);
  const tar = await readCapped(
    deterministicTar([{ path: 'a.txt', type: 'file', mode: 0o644, size: 2, open: () => Readable.from([Buffer.from('a\n')]) }], { mtime: 0 }),
    LIMIT,
    'tar',
  );
  const layerDescriptor = await layout.writeBlob(tar, MediaType.layerTar);
  const tagImage = async (tag: string, diffID: ImageConfig['rootfs']['diff_ids'][number]) => {
    const config: ImageConfig = { architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [diffID] } };
    const configDescriptor = await layout.writeBlob(Buffer.from(JSON.stringify(config)), MediaType.imageConfig);
    const manifest: ImageManifest = { schemaVersion: 2, mediaType: MediaType.imageManifest, config: configDescriptor, layers: [layerDescriptor] };
    await layout.setTag(tag, await layout.writeBlob(Buffer.from(JSON.stringify(manifest)), MediaType.imageManifest));
  };
  await tagImage('good', sha256Digest(tar));
  await tagImage('lying', sha256Digest('something else'));

  const good = await openImage(`oci:${layoutPath}:good`);
  t.same(await readCapped(await good.layers[0].openUncompressed(), LIMIT, 'layer'), tar);
  t.same(await readCapped(await good.layers[0].openCompressed(), LIMIT, 'layer'), tar);
  const lying = await openImage(`oci:${layoutPath}:lying`);
  await t.rejects(readCapped(await lying.layers[0].openUncompressed(), LIMIT, 'layer'), { code: 'E_DIGEST_MISMATCH' });
});
