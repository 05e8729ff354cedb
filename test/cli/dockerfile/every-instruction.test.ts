import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import t from 'tap';
import { formatPlatform, ociArchitecture } from '../../../cli/src/lib/build/platform.js';
import { buildContext, busyboxImage, dockerfileFixture } from '../../helpers/dockerfile-build.js';
import { runTool } from '../../helpers/run.js';
import { listTree } from '../../helpers/tree-listing.js';

/** Path, mode and owner of every entry of one layer blob, as tar lists them. */
async function layerListing(layout: string, digest: string): Promise<string[]> {
  const listing = await runTool('tar', ['-tzvf', join(layout, 'blobs', 'sha256', digest.slice('sha256:'.length)), '--numeric-owner']);
  return listing.trim().split('\n').map((line) => {
    const [mode, owner, , , , path] = line.split(/\s+/);
    return `${mode} ${owner} ${path}`;
  });
}

t.test('a Dockerfile with every instruction builds a standard image that holds what it says', async (t) => {
  const dir = t.testdir();
  const base = await busyboxImage(dir);
  const context = await dockerfileFixture('every-instruction', dir);
  await mkdir(join(dir, 'vendor', 'bin'), { recursive: true });
  await writeFile(join(dir, 'vendor', 'bin', 'tool'), '#!/bin/sh\necho tool\n', { mode: 0o755 });
  await runTool('tar', ['-czf', join(context, 'vendor.tar.gz'), '-C', join(dir, 'vendor'), '.']);
  const layout = join(dir, 'out');
  const cache = join(dir, 'cache');

  const run = await buildContext(context, ['--build-arg', `BASE=${base}`, '--output', `oci:${layout}:1`, '--cache-dir', cache, '--json']);
  t.equal(run.code, 0, run.stderr);
  const result = JSON.parse(run.stdout);
  t.equal(result.images[0].platform, formatPlatform({ os: 'linux', ...ociArchitecture(process.arch) }));

  const raw = JSON.parse(await runTool('skopeo', ['inspect', '--raw', `oci:${layout}:1`]));
  const config = JSON.parse(await readFile(join(layout, 'blobs', 'sha256', raw.config.digest.slice('sha256:'.length)), 'utf8'));
  t.equal(config.created, '1970-01-01T00:00:00Z', 'SOURCE_DATE_EPOCH defaults to 0');
  t.equal(config.author, 'edge team <edge@example.com>');
  t.same(config.config, {
    User: 'app',
    ExposedPorts: { '8080/tcp': {}, '9090/udp': {} },
    Env: ['APP_HOME=/srv/app', 'MODE=prod mode', 'LEGACY=old form value'],
    Entrypoint: ['/bin/sh', '-c'],
    Cmd: ['/bin/sh', '-ec', 'cat /srv/app/env.txt'],
    Volumes: { '/data': {} },
    WorkingDir: '/srv/app',
    Labels: { 'org.opencontainers.image.title': 'every instruction', version: '3' },
    StopSignal: 'SIGINT',
    Healthcheck: { Test: ['CMD', 'cat', '/srv/app/env.txt'], Interval: 5e9, Timeout: 2e9, Retries: 2 },
    Shell: ['/bin/sh', '-ec'],
    OnBuild: ['RUN echo built on top'],
  });
  const layered = config.history.filter((entry: { empty_layer?: boolean }) => !entry.empty_layer).map((entry: { created_by: string }) => entry.created_by.split(' ')[0]);
  t.same(layered, ['prtiql', 'WORKDIR', 'COPY', 'COPY', 'COPY', 'COPY', 'ADD', 'RUN', 'RUN'], 'one layer per base layer, WORKDIR creating a directory, COPY, ADD and RUN');
  t.equal(raw.layers.length, layered.length);
  t.same(config.rootfs.diff_ids, result.images[0].layers.map((layer: { diffID: string }) => layer.diffID));

  const unpacked = join(dir, 'unpacked');
  await runTool('umoci', ['unpack', '--image', `${layout}:1`, unpacked]);
  const rootfs = join(unpacked, 'rootfs');
  const tree = new Map((await listTree(rootfs)).map((node) => [node.path, node]));
  const text = (path: string) => readFile(join(rootfs, path), 'utf8');
  t.same([...tree.keys()].filter((path) => path.startsWith('srv/app/')).sort(), [
    'srv/app/docs', 'srv/app/docs/README', 'srv/app/env.txt', 'srv/app/from-builder', 'srv/app/from-builder/exec',
    'srv/app/from-builder/message', 'srv/app/lib', 'srv/app/lib/lib.txt', 'srv/app/one.txt', 'srv/app/shell.txt', 'srv/app/two.txt',
  ], 'COPY patterns match *.txt only; .dockerignore keeps docs/draft.txt out');
  t.match(tree.get('srv/app/lib/lib.txt'), { uid: 1000, gid: 50, mode: 0o640 }, '--chown names from the image, --chmod');
  t.match(tree.get('srv/app/one.txt'), { uid: 0, gid: 0, mode: 0o644 }, 'context files belong to root');
  t.equal(await text('srv/app/from-builder/message'), 'hello from the builder\n', 'COPY --from a stage; ARG default from the global scope');
  t.equal(await text('srv/app/from-builder/exec'), 'exec form\n');
  t.equal(await text('opt/vendor/bin/tool'), '#!/bin/sh\necho tool\n', 'ADD unpacks a local tar archive');
  t.match(tree.get('opt/vendor/bin/tool'), { mode: 0o755 });
  t.equal(await text('srv/app/env.txt'), 'prod mode hello 3\n', 'RUN sees ENV and ARG values');
  t.equal(await text('srv/app/shell.txt'), 'shell is /bin/sh\n', 'SHELL changes the shell of RUN');
  t.notOk(tree.has('bin/wc'), 'a file RUN deleted is gone');
  t.ok(tree.has('bin/cat'));
  t.same([...tree.keys()].filter((path) => path.startsWith('home/app/')), ['home/app/new'], 'a directory RUN replaced shows only its new contents');

  const runLayer = await layerListing(layout, raw.layers[7].digest);
  t.same(runLayer, [
    'drwxr-xr-x 0/0 bin/', '-rw-r--r-- 0/0 bin/.wh.wc',
    'drwxr-xr-x 0/0 home/', 'drwxr-xr-x 0/0 home/app/', '-rw-r--r-- 0/0 home/app/.wh..wh..opq', '-rw-r--r-- 0/0 home/app/new',
    'drwxr-xr-x 0/0 srv/', 'drwxr-xr-x 0/0 srv/app/', '-rw-r--r-- 0/0 srv/app/env.txt',
  ], 'the RUN layer is the overlay diff: whiteout, opaque directory, changed files and their parents, no mount points');

  const again = await buildContext(context, ['--build-arg', `BASE=${base}`, '--output', `oci:${join(dir, 'again')}:1`, '--cache-dir', join(dir, 'fresh-cache'), '--json']);
  t.equal(again.code, 0, again.stderr);
  t.equal(JSON.parse(again.stdout).digest, result.digest, 'the same inputs with an empty cache give the same manifest digest');
  const later = await buildContext(context, ['--build-arg', `BASE=${base}`, '--output', `oci:${join(dir, 'later')}:1`, '--cache-dir', join(dir, 'later-cache'), '--json'], { ...process.env, SOURCE_DATE_EPOCH: '1700000000' });
  t.equal(later.code, 0, later.stderr);
  t.not(JSON.parse(later.stdout).digest, result.digest, 'SOURCE_DATE_EPOCH is in the image');
  const laterRaw = JSON.parse(await runTool('skopeo', ['inspect', '--config', `oci:${join(dir, 'later')}:1`]));
  t.equal(laterRaw.created, '2023-11-14T22:13:20Z');
});
