import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import t from 'tap';
import { buildImage } from '../../../cli/src/lib/build/build-image.js';
import { createBusyboxRootfs } from '../../../fixtures/busybox-rootfs.js';
import { buildContext } from '../../helpers/dockerfile-build.js';
import { isRoot, skipUnlessAvailable } from '../../helpers/required-features.js';

t.test('FROM an image with a whiteout-named directory is refused, naming the line', { skip: skipUnlessAvailable(!isRoot && 'needs root to give the base image its owners') }, async (t) => {
  const dir = t.testdir();
  const rootfs = join(dir, 'rootfs');
  await mkdir(rootfs);
  await createBusyboxRootfs(rootfs);
  await mkdir(join(rootfs, 'etc', '.wh.hosts'));
  await writeFile(join(rootfs, 'etc', '.wh.hosts', 'inside'), 'x');
  const base = `oci:${join(dir, 'base')}:1`;
  await buildImage({ layers: [{ directory: rootfs }] }, base);

  const context = join(dir, 'context');
  await mkdir(context);
  await writeFile(join(context, 'Dockerfile'), 'ARG BASE\nFROM ${BASE}\nCOPY a /a\n');
  await writeFile(join(context, 'a'), 'a');
  const build = await buildContext(context, ['--build-arg', `BASE=${base}`, '--output', `oci:${join(dir, 'out')}`, '--cache-dir', join(dir, 'cache'), '--json']);
  t.equal(build.code, 3, build.stderr);
  t.match(JSON.parse(build.stdout).error, { code: 'E_UNSAFE_ENTRY', message: /^Dockerfile:2: tar entry "etc\/\.wh\.hosts\/": a whiteout must be an empty regular file$/ });
});
