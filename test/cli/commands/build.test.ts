import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import t from 'tap';
import { ANNOTATION_REF_NAME, type ImageIndex } from '../../../shared/oci.js';
import { formatPlatform, ociArchitecture } from '../../../cli/src/lib/build/platform.js';
import { runCli, runTool } from '../../helpers/run.js';

const CONTEXT = { rootfs: { bin: { app: '#!/bin/sh\necho app\n' }, 'README.txt': 'read me\n' } };

const indexTags = async (layout: string) =>
  (JSON.parse(await readFile(join(layout, 'index.json'), 'utf8')) as ImageIndex).manifests.map((m) => m.annotations?.[ANNOTATION_REF_NAME]);

t.test('prtiql build writes a tagged image with the config from its flags', async (t) => {
  const dir = t.testdir(CONTEXT);
  const layout = join(dir, 'layout');
  const run = await runCli([
    'build', join(dir, 'rootfs'), '--tag', 'v1', '--output', `oci:${layout}`, '--json',
    '--entrypoint', '["/bin/app","--serve"]', '--cmd', '--verbose', '--env', 'MODE=prod', '--env', 'LEVEL=3',
    '--workdir', '/srv', '--user', '1000:1000', '--label', 'team=edge', '--label', 'tier=1',
  ]);
  t.equal(run.code, 0, run.stderr);
  const result = JSON.parse(run.stdout);
  t.equal(result.reference, `oci:${layout}:v1@${result.digest}`);
  t.equal(result.images[0].platform, formatPlatform({ os: 'linux', ...ociArchitecture(process.arch) }), 'defaults to linux on the host architecture');
  t.match(result.images[0].layers, [{ digest: /^sha256:/, diffID: /^sha256:/, sizeBytes: Number, uncompressedSizeBytes: Number }]);

  const inspect = JSON.parse(await runTool('skopeo', ['inspect', `oci:${layout}:v1`]));
  t.equal(inspect.Digest, result.digest);
  const config = JSON.parse(await runTool('skopeo', ['inspect', '--config', `oci:${layout}:v1`]));
  t.same(config.config, {
    User: '1000:1000',
    Env: ['MODE=prod', 'LEVEL=3'],
    Entrypoint: ['/bin/app', '--serve'],
    Cmd: ['--verbose'],
    WorkingDir: '/srv',
    Labels: { team: 'edge', tier: '1' },
  });

  const again = await runCli(['build', join(dir, 'rootfs'), '--output', `oci:${layout}:v1`, '--json',
    '--entrypoint', '["/bin/app","--serve"]', '--cmd', '--verbose', '--env', 'MODE=prod', '--env', 'LEVEL=3',
    '--workdir', '/srv', '--user', '1000:1000', '--label', 'team=edge', '--label', 'tier=1']);
  t.equal(JSON.parse(again.stdout).digest, result.digest, 'building twice gives the same manifest digest');
});

t.test('the tag comes from --tag or --output; both must agree; other tags are kept', async (t) => {
  const dir = t.testdir(CONTEXT);
  const layout = join(dir, 'layout');
  const context = join(dir, 'rootfs');
  t.equal((await runCli(['build', context, '--output', `oci:${layout}:from-output`, '-q'])).code, 0);
  t.equal((await runCli(['build', context, '--output', `oci:${layout}`, '--tag', 'from-flag', '-q'])).code, 0);
  t.equal((await runCli(['build', context, '--output', `oci:${layout}:same`, '--tag', 'same', '-q'])).code, 0);
  t.equal((await runCli(['build', context, '--output', `oci:${layout}`, '-q'])).code, 0);
  t.same((await indexTags(layout)).sort(), ['from-flag', 'from-output', 'latest', 'same']);

  const conflict = await runCli(['build', context, '--output', `oci:${layout}:one`, '--tag', 'two', '--json']);
  t.equal(conflict.code, 2);
  t.match(JSON.parse(conflict.stdout), { error: { code: 'E_USAGE', message: /--tag two disagrees with the tag one/ } });
  t.same((await indexTags(layout)).sort(), ['from-flag', 'from-output', 'latest', 'same'], 'nothing was written');
});

t.test('in human mode stdout holds only <reference>@<digest>, for a script to capture', async (t) => {
  const dir = t.testdir(CONTEXT);
  const layout = join(dir, 'layout');
  const run = await runCli(['build', join(dir, 'rootfs'), '--output', `oci:${layout}:v1`]);
  t.equal(run.code, 0, run.stderr);
  const inspect = JSON.parse(await runTool('skopeo', ['inspect', `oci:${layout}:v1`]));
  t.equal(run.stdout, `oci:${layout}:v1@${inspect.Digest}\n`);
  t.match(run.stderr, /layer 1: sha256:/, 'messages go to stderr');
});

t.test('a --tag holding a name (app:1) is kept as given but warned about, naming the tag meant', async (t) => {
  const dir = t.testdir(CONTEXT);
  const layout = join(dir, 'layout');
  const run = await runCli(['build', join(dir, 'rootfs'), '--output', `oci:${layout}`, '-t', 'app:1']);
  t.equal(run.code, 0, run.stderr);
  t.match(run.stderr, /Warning: --tag app:1 makes a tag literally named "app:1".*Did you mean --tag 1\?/s);
  t.same(await indexTags(layout), ['app:1'], 'the tag is what was asked for');
  const plain = await runCli(['build', join(dir, 'rootfs'), '--output', `oci:${layout}`, '-t', 'v2']);
  t.notMatch(plain.stderr, /Warning/, 'a plain tag gets no warning');
  const quiet = await runCli(['build', join(dir, 'rootfs'), '--output', `oci:${layout}`, '-t', 'team/app', '-q']);
  t.match(quiet.stderr, /Did you mean --tag app\?/, 'the warning shows under --quiet too');
});

t.test('a build spec with --file builds several layers; flags override it', async (t) => {
  const dir = t.testdir({
    ...CONTEXT,
    extra: { etc: { motd: 'hello\n' } },
    'build.json': JSON.stringify({ platform: 'linux/arm/v7', layers: [{ directory: 'rootfs' }, { directory: 'extra' }], cmd: ['/bin/app'], env: { A: 'spec', B: 'spec' } }),
  });
  const layout = join(dir, 'layout');
  const run = await runCli(['build', '--file', join(dir, 'build.json'), '--output', `oci:${layout}:multi`, '--env', 'B=flag', '--json']);
  t.equal(run.code, 0, run.stderr);
  const result = JSON.parse(run.stdout);
  t.equal(result.images[0].layers.length, 2);
  t.equal(result.images[0].platform, 'linux/arm/v7');
  const config = JSON.parse(await runTool('skopeo', ['inspect', '--config', `oci:${layout}:multi`]));
  t.same(config.config.Env, ['A=spec', 'B=flag']);
  t.same(config.config.Cmd, ['/bin/app']);
  t.same(config.rootfs.diff_ids, result.images[0].layers.map((l: { diffID: string }) => l.diffID));

  const both = await runCli(['build', join(dir, 'rootfs'), '--file', join(dir, 'build.json'), '--output', `oci:${layout}`]);
  t.equal(both.code, 2, 'a directory and --file together are a usage error');
});

t.test('a missing or non-directory build context fails with one line and a documented exit code', async (t) => {
  const dir = t.testdir({ 'file.txt': 'x' });
  const cases: [string, number, RegExp][] = [
    [join(dir, 'absent'), 4, /build context .*absent does not exist/],
    [join(dir, 'file.txt'), 3, /build context .*file\.txt is not a directory/],
  ];
  for (const [path, exit, message] of cases) {
    const run = await runCli(['build', path, '--output', `oci:${join(dir, 'layout')}`]);
    t.equal(run.code, exit, path);
    const errorLines = run.stderr.split('\n').filter((line) => /Error:/.test(line));
    t.equal(errorLines.length, 1, 'one error line');
    t.notMatch(run.stderr, /\n\s+at /, 'no stack trace');
    const json = await runCli(['build', path, '--output', `oci:${join(dir, 'layout')}`, '--json']);
    t.equal(json.code, exit);
    t.match(JSON.parse(json.stdout).error.message, message);
  }
  const badReference = await runCli(['build', dir, '--output', 'oci-archive:app.tar', '--json']);
  t.equal(badReference.code, 3);
  t.match(JSON.parse(badReference.stdout).error, { code: 'E_BAD_REFERENCE', message: /oci:<path>\[:<tag>\]/ });
});
