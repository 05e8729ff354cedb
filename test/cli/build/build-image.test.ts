import { chmod, link, lstat, mkdir, readFile, readlink, stat, symlink, utimes, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { gunzipSync, gzipSync } from 'node:zlib';
import t from 'tap';
import tarStream from 'tar-stream';
import { readCapped } from '../../../shared/capped-read.js';
import { sha256Digest } from '../../../shared/digest.js';
import { ANNOTATION_REF_NAME, MediaType, type ImageIndex, type ImageManifest } from '../../../shared/oci.js';
import { buildImage } from '../../../cli/src/lib/build/build-image.js';
import { OciLayout } from '../../../cli/src/lib/image/oci-layout.js';
import { runTool } from '../../helpers/run.js';

/** A build context in `dir` with modes, a sticky directory, a symlink and a hard link. */
async function makeContext(dir: string): Promise<string> {
  const root = join(dir, 'context');
  await mkdir(join(root, 'app/bin'), { recursive: true });
  await writeFile(join(root, 'app/bin/server'), '#!/bin/sh\necho serving\n');
  await chmod(join(root, 'app/bin/server'), 0o755);
  await writeFile(join(root, 'app/config.ini'), 'mode=prod\n');
  await chmod(join(root, 'app/config.ini'), 0o640);
  await mkdir(join(root, 'data'));
  await chmod(join(root, 'data'), 0o1777);
  await symlink('bin/server', join(root, 'app/run'));
  await link(join(root, 'app/config.ini'), join(root, 'app/config.hardlink'));
  return root;
}

const readJson = async <T>(path: string): Promise<T> => JSON.parse(await readFile(path, 'utf8')) as T;

t.test('the same input builds the same manifest digest, whatever the file times and location', async (t) => {
  const out = t.testdir();
  const first = await makeContext(out);
  const a = await buildImage({ layers: [{ directory: first }], cmd: ['/app/run'] }, `oci:${join(out, 'a')}:v1`, { mtime: 0 });
  await utimes(join(first, 'app/config.ini'), new Date(2e12), new Date(2e12));
  const b = await buildImage({ layers: [{ directory: first }], cmd: ['/app/run'] }, `oci:${join(out, 'b')}:v1`, { mtime: 0 });
  t.equal(b.manifest.digest, a.manifest.digest);
  t.equal(b.layers[0].digest, a.layers[0].digest, 'the compressed layer is byte-identical');

  const again = await buildImage({ layers: [{ directory: first }], cmd: ['/app/run'] }, `oci:${join(out, 'a')}:v1`, { mtime: 0 });
  t.equal(again.manifest.digest, a.manifest.digest);
  t.equal((await readJson<ImageIndex>(join(out, 'a', 'index.json'))).manifests.length, 1, 'rebuilding a tag replaces it');

  const later = await buildImage({ layers: [{ directory: first }], cmd: ['/app/run'] }, `oci:${join(out, 'c')}:v1`, { mtime: 1_700_000_000 });
  t.not(later.manifest.digest, a.manifest.digest, 'SOURCE_DATE_EPOCH is part of the image');
  t.not(later.layers[0].diffID, a.layers[0].diffID);
});

t.test('SOURCE_DATE_EPOCH sets the config created time and every tar mtime', async (t) => {
  const dir = t.testdir();
  const context = await makeContext(dir);
  const layoutPath = join(dir, 'layout');
  const saved = process.env.SOURCE_DATE_EPOCH;
  process.env.SOURCE_DATE_EPOCH = '1700000000';
  t.teardown(() => {
    if (saved === undefined) delete process.env.SOURCE_DATE_EPOCH;
    else process.env.SOURCE_DATE_EPOCH = saved;
  });
  const result = await buildImage({ layers: [{ directory: context }] }, `oci:${layoutPath}:v1`);
  const layout = await OciLayout.open(layoutPath);
  const config = JSON.parse((await layout.readBlob(result.config, 1 << 20)).toString());
  t.equal(config.created, '2023-11-14T22:13:20Z');
  t.same(config.history, [{ created: '2023-11-14T22:13:20Z', created_by: 'prtiql build' }]);

  const blob = await readFile(layout.blobPath(result.layers[0].digest));
  const extract = tarStream.extract();
  extract.end(gunzipSync(blob));
  const mtimes = new Set<number>();
  for await (const entry of extract) {
    mtimes.add(entry.header.mtime!.getTime() / 1000);
    entry.resume();
  }
  t.same([...mtimes], [1_700_000_000]);

  process.env.SOURCE_DATE_EPOCH = 'yesterday';
  await t.rejects(buildImage({ layers: [{ directory: context }] }, `oci:${layoutPath}:v2`), { code: 'E_BAD_INPUT', message: /SOURCE_DATE_EPOCH/ });
});

t.test('layers are gzip with a fixed header, and the diffID is the sha256 of the tar', async (t) => {
  const dir = t.testdir();
  const context = await makeContext(dir);
  const layoutPath = join(dir, 'layout');
  const result = await buildImage({ layers: [{ directory: context }] }, `oci:${layoutPath}:v1`, { mtime: 0 });
  const layout = await OciLayout.open(layoutPath);
  const manifest = JSON.parse((await layout.readBlob(result.manifest, 1 << 20)).toString()) as ImageManifest;
  t.equal(manifest.layers[0].mediaType, MediaType.layerGzip);
  const blob = await readFile(layout.blobPath(manifest.layers[0].digest));
  t.same([...blob.subarray(0, 10)], [0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 2, 0xff], 'magic, deflate, no flags, mtime 0, level 9, OS unknown');
  const tar = gunzipSync(blob);
  t.equal(sha256Digest(tar), result.layers[0].diffID);
  t.equal(tar.length, result.layers[0].uncompressedSize);
  t.same(gunzipSync(blob), gunzipSync(gzipSync(tar)), 'a standard gzip stream');
});

t.test('skopeo reads the config and umoci unpacks the files as they were', async (t) => {
  const dir = t.testdir();
  const context = await makeContext(dir);
  const layoutPath = join(dir, 'layout');
  const settings = {
    entrypoint: ['/app/run'],
    cmd: ['--port', '8080'],
    env: { PATH: '/usr/bin:/bin', MODE: 'prod' },
    workdir: '/app',
    user: '1000:1000',
    labels: { 'org.opencontainers.image.version': '1.2.3' },
  };
  await buildImage({ layers: [{ directory: context }], platform: { os: 'linux', architecture: 'arm', variant: 'v7' }, ...settings }, `oci:${layoutPath}:v1`, { mtime: 0 });

  const inspect = JSON.parse(await runTool('skopeo', ['inspect', `oci:${layoutPath}:v1`]));
  t.match(inspect, { Architecture: 'arm', Os: 'linux', Created: '1970-01-01T00:00:00Z', Labels: settings.labels, Env: ['PATH=/usr/bin:/bin', 'MODE=prod'] });
  const config = JSON.parse(await runTool('skopeo', ['inspect', '--config', `oci:${layoutPath}:v1`]));
  t.match(config, { architecture: 'arm', variant: 'v7', os: 'linux' });
  t.same(config.config, { User: '1000:1000', Env: ['PATH=/usr/bin:/bin', 'MODE=prod'], Entrypoint: ['/app/run'], Cmd: ['--port', '8080'], WorkingDir: '/app', Labels: settings.labels });

  const bundle = join(dir, 'bundle');
  await runTool('umoci', ['unpack', '--image', `${layoutPath}:v1`, bundle]);
  const rootfs = join(bundle, 'rootfs');
  t.equal(await readFile(join(rootfs, 'app/bin/server'), 'utf8'), '#!/bin/sh\necho serving\n');
  t.equal((await stat(join(rootfs, 'app/bin/server'))).mode & 0o7777, 0o755);
  t.equal((await stat(join(rootfs, 'app/config.ini'))).mode & 0o7777, 0o640);
  t.equal((await stat(join(rootfs, 'data'))).mode & 0o7777, 0o1777);
  t.equal(await readlink(join(rootfs, 'app/run')), 'bin/server');
  const [original, hardlink] = await Promise.all([lstat(join(rootfs, 'app/config.ini')), lstat(join(rootfs, 'app/config.hardlink'))]);
  t.equal(hardlink.ino, original.ino, 'the hard link is a hard link again');
  t.equal(original.uid, 0);
  const runtime = await readJson<{ process: { args: string[]; cwd: string; env: string[] } }>(join(bundle, 'config.json'));
  t.same(runtime.process.args, ['/app/run', '--port', '8080']);
  t.equal(runtime.process.cwd, '/app');
});

t.test('a build spec stacks directory and tar layers, and other tags in the layout survive', async (t) => {
  const dir = t.testdir({ overlay: { app: { 'config.ini': 'mode=test\n' }, etc: { motd: 'hi\n' } } });
  const context = await makeContext(dir);
  const pack = tarStream.pack();
  pack.entry({ name: 'opt/tool', mode: 0o700, uid: 5, gid: 6, mtime: new Date(123456789000) }, 'tool-bytes');
  pack.finalize();
  await writeFile(join(dir, 'extra.tar.gz'), gzipSync(await readCapped(pack as unknown as AsyncIterable<Uint8Array>, 1 << 20, 'tar')));

  const layoutPath = join(dir, 'layout');
  const base = await buildImage({ layers: [{ directory: context }] }, `oci:${layoutPath}:base`, { mtime: 0 });
  await runTool('skopeo', ['copy', '--quiet', `oci:${layoutPath}:base`, `oci:${layoutPath}:copied-by-skopeo`]);
  const result = await buildImage(
    {
      layers: [
        { directory: context, comment: 'application' },
        { directory: join(dir, 'overlay'), uid: 1000, gid: 1000, comment: 'overrides' },
        { tar: join(dir, 'extra.tar.gz') },
      ],
    },
    `oci:${layoutPath}:full`,
    { mtime: 0 },
  );
  t.equal(result.layers.length, 3);
  t.equal(result.layers[0].diffID, base.layers[0].diffID, 'an unchanged layer is byte-identical across images');

  const index = await readJson<ImageIndex>(join(layoutPath, 'index.json'));
  t.same(index.manifests.map((m) => m.annotations?.[ANNOTATION_REF_NAME]).sort(), ['base', 'copied-by-skopeo', 'full']);
  const config = JSON.parse(await runTool('skopeo', ['inspect', '--config', `oci:${layoutPath}:full`]));
  t.same(config.rootfs.diff_ids, result.layers.map((l) => l.diffID));
  t.same(config.history.map((h: { comment?: string }) => h.comment), ['application', 'overrides', undefined]);

  const bundle = join(dir, 'bundle');
  await runTool('umoci', ['unpack', '--image', `${layoutPath}:full`, bundle]);
  t.equal(await readFile(join(bundle, 'rootfs/app/config.ini'), 'utf8'), 'mode=test\n', 'upper layers win');
  t.equal((await stat(join(bundle, 'rootfs/etc/motd'))).uid, 1000);
  const tool = await stat(join(bundle, 'rootfs/opt/tool'));
  t.same([tool.mode & 0o7777, tool.uid, tool.gid], [0o700, 5, 6], 'tar layers keep their owners and modes');
  await runTool('skopeo', ['inspect', `oci:${layoutPath}:copied-by-skopeo`]);
});

t.test('bad sources fail before anything is written', async (t) => {
  const dir = t.testdir({ 'file.txt': 'x' });
  const layoutPath = join(dir, 'layout');
  await t.rejects(buildImage({ layers: [{ directory: join(dir, 'absent') }] }, `oci:${layoutPath}`), { code: 'E_NOT_FOUND' });
  await t.rejects(buildImage({ layers: [{ directory: join(dir, 'file.txt') }] }, `oci:${layoutPath}`), { code: 'E_BAD_INPUT' });
  await t.rejects(buildImage({ layers: [{ tar: join(dir, 'absent.tar') }] }, `oci:${layoutPath}`), { code: 'E_NOT_FOUND' });
  await t.rejects(buildImage({ layers: [] }, `oci:${layoutPath}`), { code: 'E_BAD_INPUT' });
  await t.rejects(lstat(layoutPath), { code: 'ENOENT' });
});
