import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import t from 'tap';
import { buildContext, busyboxImage, dockerfileFixture } from '../../helpers/dockerfile-build.js';
import { runTool } from '../../helpers/run.js';

/** The file the fixture's RUN writes: a timestamp of when it ran, then the input. */
async function stamp(layout: string, dir: string): Promise<string> {
  const unpacked = join(dir, `unpacked-${Math.random().toString(16).slice(2)}`);
  await runTool('umoci', ['unpack', '--image', `${layout}:1`, unpacked]);
  return readFile(join(unpacked, 'rootfs', 'stamp'), 'utf8');
}

t.test('an unchanged step reuses its cached layer; --no-cache and changed inputs run it again', async (t) => {
  const dir = t.testdir();
  const base = await busyboxImage(dir);
  const context = await dockerfileFixture('cached-run', dir);
  const cache = join(dir, 'cache');
  const build = async (name: string, ...extra: string[]) => {
    const run = await buildContext(context, ['--build-arg', `BASE=${base}`, '--output', `oci:${join(dir, name)}:1`, '--cache-dir', cache, ...extra]);
    t.equal(run.code, 0, run.stderr);
    const digest = JSON.parse(await runTool('skopeo', ['inspect', `oci:${join(dir, name)}:1`])).Digest as string;
    return { stderr: run.stderr, digest, stamp: await stamp(join(dir, name), dir) };
  };

  const first = await build('first');
  t.notMatch(first.stderr, /CACHED/);
  const second = await build('second');
  t.match(second.stderr, /Dockerfile:4: CACHED COPY input\.txt \/input\.txt/);
  t.match(second.stderr, /Dockerfile:5: CACHED RUN \/bin\/sh -c date/);
  t.equal(second.stamp, first.stamp, 'the RUN did not run again');
  t.equal(second.digest, first.digest, 'so the image is identical');

  const uncached = await build('uncached', '--no-cache');
  t.notMatch(uncached.stderr, /CACHED/);
  t.not(uncached.stamp, first.stamp, '--no-cache runs the RUN again');
  t.not(uncached.digest, first.digest);

  await writeFile(join(context, 'input.txt'), 'changed input\n');
  const changed = await build('changed');
  t.notMatch(changed.stderr, /CACHED/, 'a changed COPY source invalidates the COPY and every step after it');
  t.match(changed.stamp, /changed input\n$/);
});
