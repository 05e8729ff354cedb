import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import t from 'tap';
import { buildContext, busyboxImage } from '../../helpers/dockerfile-build.js';
import { startRegistry } from '../../helpers/registry.js';
import { runCli, runTool } from '../../helpers/run.js';

t.test('FROM and COPY --from read docker:// images; the result is pushed to a registry', async (t) => {
  const dir = t.testdir();
  const registry = await startRegistry(t);
  const base = await busyboxImage(dir);
  const push = await runCli(['push', base, `docker://${registry.host}/base/busybox:1`, '-q']);
  t.equal(push.code, 0, push.stderr);

  const context = join(dir, 'context');
  await mkdir(context);
  await writeFile(join(context, 'Dockerfile'), [
    'ARG REGISTRY',
    'FROM ${REGISTRY}/base/busybox:1',
    'ARG REGISTRY',
    'COPY --from=docker://${REGISTRY}/base/busybox:1 /etc/passwd /copied-passwd',
    'RUN grep -c : /copied-passwd > /users',
    'CMD ["cat", "/users"]',
    '',
  ].join('\n'));
  const target = `docker://${registry.host}/apps/counted:1`;
  const run = await buildContext(context, ['--build-arg', `REGISTRY=${registry.host}`, '--output', target, '--cache-dir', join(dir, 'cache'), '--json']);
  t.equal(run.code, 0, run.stderr);
  const result = JSON.parse(run.stdout);
  t.equal(result.reference, `${target}@${result.digest}`);

  const inspect = JSON.parse(await runTool('skopeo', ['inspect', '--tls-verify=false', target]));
  t.equal(inspect.Digest, result.digest, 'the registry holds the built manifest');
  t.equal(inspect.Layers.length, 3, 'the base layer, COPY and RUN');
  const unpacked = join(dir, 'unpacked');
  await runTool('skopeo', ['copy', '--src-tls-verify=false', target, `oci:${join(dir, 'pulled')}:1`]);
  await runTool('umoci', ['unpack', '--image', `${join(dir, 'pulled')}:1`, unpacked]);
  t.equal(await runTool('cat', [join(unpacked, 'rootfs', 'users')]), '3\n', 'RUN ran on the image pulled from the registry');
});
