import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import t from 'tap';
import { ociArchitecture } from '../../../cli/src/lib/build/platform.js';
import type { ImageIndex } from '../../../shared/oci.js';
import { buildContext, busyboxImage, dockerfileFixture } from '../../helpers/dockerfile-build.js';
import { runTool } from '../../helpers/run.js';

const FOREIGN = process.arch === 'arm64' ? 'linux/amd64' : 'linux/arm64';

t.test('--platform with several platforms writes one OCI index; FROM picks the platform from an index', async (t) => {
  const dir = t.testdir();
  const context = await dockerfileFixture('scratch-files', dir);
  const layout = join(dir, 'multi');
  const run = await buildContext(context, ['--platform', 'linux/amd64,linux/arm64,linux/arm/v7', '--output', `oci:${layout}:1`, '--cache-dir', join(dir, 'cache'), '--json']);
  t.equal(run.code, 0, run.stderr);
  const result = JSON.parse(run.stdout);
  const index = JSON.parse(await runTool('skopeo', ['inspect', '--raw', `oci:${layout}:1`])) as ImageIndex;
  t.equal(result.digest, JSON.parse(await readFile(join(layout, 'index.json'), 'utf8')).manifests[0].digest);
  t.same(index.manifests.map((entry) => entry.platform), [
    { os: 'linux', architecture: 'amd64' },
    { os: 'linux', architecture: 'arm64' },
    { os: 'linux', architecture: 'arm', variant: 'v7' },
  ]);
  for (const [arch, variant] of [['amd64', undefined], ['arm64', undefined], ['arm', 'v7']]) {
    const config = JSON.parse(await runTool('skopeo', ['inspect', '--config', '--override-arch', arch!, ...(variant ? ['--override-variant', variant] : []), `oci:${layout}:1`]));
    t.equal(config.architecture, arch);
    t.equal(config.config.Labels.arch, arch, 'TARGETARCH follows the platform');
  }
  t.equal(new Set(result.images.map((image: { layers: { diffID: string }[] }) => image.layers[0].diffID)).size, 1, 'the same files give the same layer on every platform');

  const fromIndex = join(dir, 'from-index');
  await mkdir(fromIndex);
  await writeFile(join(fromIndex, 'Dockerfile'), `FROM oci:${layout}:1\nLABEL derived=yes\n`);
  const derived = await buildContext(fromIndex, ['--platform', 'linux/arm64', '--output', `oci:${join(dir, 'derived')}:1`, '--cache-dir', join(dir, 'cache'), '--json']);
  t.equal(derived.code, 0, derived.stderr);
  const derivedResult = JSON.parse(derived.stdout);
  t.equal(derivedResult.images[0].platform, 'linux/arm64');
  t.same(derivedResult.images[0].layers, result.images[1].layers, 'FROM took the arm64 image of the index');
});

t.test('RUN for a foreign architecture is refused without an emulator; FROM refuses an image of another platform', async (t) => {
  const dir = t.testdir();
  const [os, architecture] = FOREIGN.split('/');
  const base = await busyboxImage(dir, { os, architecture });
  const context = await dockerfileFixture('cached-run', dir);
  const run = await buildContext(context, ['--build-arg', `BASE=${base}`, '--platform', FOREIGN, '--output', `oci:${join(dir, 'foreign')}:1`, '--cache-dir', join(dir, 'cache'), '--json']);
  t.equal(run.code, 125);
  t.match(JSON.parse(run.stdout).error, { code: 'E_RUNTIME', message: new RegExp(`^Dockerfile:5: RUN for ${FOREIGN} on a linux/${ociArchitecture(process.arch).architecture} host needs an emulator \\(qemu-`) });

  const native = await buildContext(context, ['--build-arg', `BASE=${base}`, '--output', `oci:${join(dir, 'native')}:1`, '--cache-dir', join(dir, 'cache'), '--json']);
  t.equal(native.code, 4, 'FROM refuses an image of another platform');
  t.match(JSON.parse(native.stdout).error.message, new RegExp(`^Dockerfile:3: oci:.* is an image for ${FOREIGN}, not linux/`));
});
