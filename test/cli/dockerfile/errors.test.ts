import { join } from 'node:path';
import t from 'tap';
import { buildContext, busyboxImage, dockerfileFixture } from '../../helpers/dockerfile-build.js';
import { runCli } from '../../helpers/run.js';

t.test('each failing Dockerfile exits non-zero with one line naming the line and the problem', async (t) => {
  const dir = t.testdir();
  const base = await busyboxImage(dir);
  const cases: [string, number, string, RegExp][] = [
    ['unknown-instruction', 3, 'E_BAD_INPUT', /^Dockerfile:3: unknown instruction FETCH$/],
    ['missing-source', 4, 'E_NOT_FOUND', /^Dockerfile:3: absent\.txt does not exist in the build context$/],
    ['bad-from', 3, 'E_BAD_REFERENCE', /^Dockerfile:1: image reference "docker:\/\/busybox:latest" names no registry host/],
    ['failing-run', 125, 'E_RUNTIME', /^Dockerfile:4: RUN \["\/bin\/sh","-c","exit 7"\] exited with status 7$/],
    ['add-url', 3, 'E_BAD_INPUT', /^Dockerfile:2: ADD of the URL https:\/\/example\.com\/app\.tar\.gz is not supported/],
  ];
  for (const [name, exit, code, message] of cases) {
    await t.test(name, async (t) => {
      const context = await dockerfileFixture(`errors/${name}`, dir);
      const args = ['--build-arg', `BASE=${base}`, '--output', `oci:${join(dir, `out-${name}`)}`, '--cache-dir', join(dir, 'cache')];
      const human = await buildContext(context, args);
      t.equal(human.code, exit, human.stderr);
      const errorLines = human.stderr.split('\n').filter((line) => line.startsWith('Error:'));
      t.equal(errorLines.length, 1, 'one error line');
      t.notMatch(human.stderr, /\n\s+at /, 'no stack trace');
      const json = await buildContext(context, [...args, '--json']);
      t.equal(json.code, exit);
      t.match(JSON.parse(json.stdout).error, { code, message });
    });
  }
});

t.test('RUN names its line when runc cannot be found', async (t) => {
  const dir = t.testdir();
  const base = await busyboxImage(dir);
  const context = await dockerfileFixture('cached-run', dir);
  const run = await buildContext(context, ['--build-arg', `BASE=${base}`, '--output', `oci:${join(dir, 'out')}`, '--cache-dir', join(dir, 'cache'), '--json'], { ...process.env, PATH: join(dir, 'empty') });
  t.equal(run.code, 125);
  t.match(JSON.parse(run.stdout).error, { code: 'E_RUNTIME', message: /^Dockerfile:5: RUN needs runc: runc is not installed \(Debian package runc\)$/ });
});

t.test('usage errors of Dockerfile builds', async (t) => {
  const dir = t.testdir();
  const context = await dockerfileFixture('scratch-files', dir);
  const dockerfile = join(context, 'Dockerfile');
  const output = `oci:${join(dir, 'out')}`;
  const cases: [string[], number, RegExp][] = [
    [['build', '-f', dockerfile, '--output', output], 2, /give the build context DIRECTORY/],
    [['build', '-f', dockerfile, context, '--output', output, '--target', 'nope'], 2, /--target nope: Dockerfile has no such stage \(stages: 0\)/],
    [['build', '-f', dockerfile, context, '--output', output, '--env', 'A=1'], 2, /--env does not apply to Dockerfile builds/],
    [['build', '-f', dockerfile, context, '--output', `docker-archive:${join(dir, 'a.tar')}`, '--platform', 'linux/amd64,linux/arm64'], 2, /several platforms .* oci:/],
    [['build', context, '--output', output, '--build-arg', 'A=1'], 2, /--build-arg applies to Dockerfile builds only/],
    [['build', '-f', join(dir, 'absent'), context, '--output', output], 4, /Dockerfile .*absent does not exist/],
  ];
  for (const [args, exit, message] of cases) {
    const run = await runCli([...args, '--json']);
    t.equal(run.code, exit, args.join(' '));
    t.match(JSON.parse(run.stdout).error.message, message);
  }
});
