import { join } from 'node:path';
import t from 'tap';
import { openImage } from '../../../cli/src/lib/image/open-image.js';
import { writeImage } from '../../../cli/src/lib/image/write-image.js';
import { startRegistry } from '../../helpers/registry.js';
import { makeReleaseFixture } from '../../helpers/release-fixture.js';
import { runCli, runTool } from '../../helpers/run.js';

const CONTEXT = { rootfs: { bin: { app: '#!/bin/sh\necho app\n' }, 'README.txt': 'read me\n' } };

async function skopeoDigest(reference: string): Promise<string> {
  return (JSON.parse(await runTool('skopeo', ['inspect', '--tls-verify=false', reference])) as { Digest: string }).Digest;
}

t.test('build to a registry, push, pull and copy to a docker archive from the command line', async (t) => {
  const registry = await startRegistry(t);
  const dir = t.testdir(CONTEXT);

  const built = await runCli(['build', join(dir, 'rootfs'), '--output', `docker://${registry.host}/app`, '--tag', 'v1', '--json']);
  t.equal(built.code, 0, built.stderr);
  const build = JSON.parse(built.stdout);
  t.equal(build.reference, `docker://${registry.host}/app:v1@${build.digest}`);
  t.equal(await skopeoDigest(`docker://${registry.host}/app:v1`), build.digest, 'built straight into the registry');

  const pulled = await runCli(['pull', `docker://${registry.host}/app:v1`, '--output', `oci:${join(dir, 'layout')}:v1`]);
  t.equal(pulled.code, 0, pulled.stderr);
  t.match(pulled.stderr, /^Copying layer 1\/1\.\.\.$/m, 'progress on stderr');
  t.match(pulled.stderr, new RegExp(`oci:${join(dir, 'layout')}:v1 ${build.digest} \\(linux/`));
  t.equal(pulled.stdout, `oci:${join(dir, 'layout')}:v1@${build.digest}\n`, 'stdout holds the reference written, for a script to capture');
  t.equal(await skopeoDigest(`oci:${join(dir, 'layout')}:v1`), build.digest);

  const pushed = await runCli(['push', `oci:${join(dir, 'layout')}:v1`, `docker://${registry.host}/copy:v1`, '--json']);
  t.equal(pushed.code, 0, pushed.stderr);
  t.same(JSON.parse(pushed.stdout), {
    source: `oci:${join(dir, 'layout')}:v1`,
    reference: `docker://${registry.host}/copy:v1@${build.digest}`,
    digest: build.digest,
    platform: build.images[0].platform,
    blobsWritten: 2,
    blobsSkipped: 0,
    blobsMounted: 0,
  });
  t.equal(pushed.stderr, '', 'nothing on stderr under --json');

  const again = await runCli(['push', `oci:${join(dir, 'layout')}:v1`, `docker://${registry.host}/copy:v1`]);
  t.match(again.stderr, /0 blobs uploaded, 2 already present, 0 mounted/);

  const archived = await runCli(['pull', `docker://${registry.host}/copy:v1`, '--output', `docker-archive:${join(dir, 'app.tar')}:app:v1`, '-q']);
  t.equal(archived.code, 0, archived.stderr);
  t.equal(archived.stderr, '', '--quiet silences progress');
  const inspected = JSON.parse(await runTool('skopeo', ['inspect', `docker-archive:${join(dir, 'app.tar')}`]));
  t.same(inspected.Layers, build.images[0].layers.map((layer: { diffID: string }) => layer.diffID));
});

t.test('bad references, missing images and refused credentials exit non-zero with one line', async (t) => {
  const open = await startRegistry(t);
  const secured = await startRegistry(t, { auth: { kind: 'token', users: { ci: { password: 'secret' } } } });
  const dir = t.testdir(CONTEXT);
  const env = { ...process.env, HOME: dir, REGISTRY_AUTH_FILE: '', DOCKER_CONFIG: join(dir, 'no-docker-config') };
  const cases: [string[], number, string, RegExp][] = [
    [['pull', 'docker://alpine', '--output', `oci:${join(dir, 'x')}`], 3, 'E_BAD_REFERENCE', /names no registry host: write it out, e\.g\. docker:\/\/docker\.io\/library\/alpine/],
    [['push', `oci:${join(dir, 'x')}`, 'docker://localhost/UPPER:v1'], 3, 'E_BAD_REFERENCE', /invalid repository "UPPER"/],
    [['pull', `docker://${open.host}/absent:v1`, '--output', `oci:${join(dir, 'x')}`], 4, 'E_NOT_FOUND', /absent/],
    [['pull', `docker://${open.host}/app:v1`, '--output', `oci:${join(dir, 'x')}`, '--platform', 'linux'], 3, 'E_BAD_INPUT', /invalid platform/],
    [['build', join(dir, 'rootfs'), '--output', `docker://${secured.host}/app:v1`], 11, 'E_UNAUTHORIZED', /requires credentials and none were found/],
    [['pull', `docker://127.0.0.1:1/app:v1`, '--output', `oci:${join(dir, 'x')}`], 8, 'E_NETWORK', /cannot reach http:\/\/127\.0\.0\.1:1/],
  ];
  for (const [args, exit, code, message] of cases) {
    const run = await runCli([...args, '--json'], { env });
    t.equal(run.code, exit, `${args.join(' ')}: ${run.stderr}`);
    t.match(JSON.parse(run.stdout), { error: { code, message } });
    t.match(run.stderr, /^Error: [^\n]+\n$/, 'one line on stderr');
  }
});

t.test('prtiql release takes its image from a registry or a docker archive', async (t) => {
  const registry = await startRegistry(t);
  const fixture = await makeReleaseFixture(t, { files: { 'etc/motd': 'from a registry\n' } });
  await writeImage(await openImage(fixture.imageReference), `docker://${registry.host}/released:v1`);
  const archive = join(fixture.workDir, 'released.tar');
  await writeImage(await openImage(fixture.imageReference), `docker-archive:${archive}`);
  const release = (image: string, store: string) =>
    runCli(['release', '--image', image, '--channel', 'stable', '--release-version', '1', '--key', fixture.keyPath, '--store', `file://${join(fixture.workDir, store)}`, '--json']);

  const fromRegistry = await release(`docker://${registry.host}/released:v1`, 'store-registry');
  t.equal(fromRegistry.code, 0, fromRegistry.stderr);
  t.equal(JSON.parse(fromRegistry.stdout).digest, fixture.manifestDigest, 'the registry keeps the manifest, so the release names the same image');

  const fromArchive = await release(`docker-archive:${archive}`, 'store-archive');
  t.equal(fromArchive.code, 0, fromArchive.stderr);
  t.same(
    JSON.parse(fromArchive.stdout).images[0].layers.map((layer: { diffID: string }) => layer.diffID),
    fixture.result.layers.map((layer) => layer.diffID),
    'the archive gives the same layers',
  );
});
