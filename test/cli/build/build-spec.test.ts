import { join } from 'node:path';
import t from 'tap';
import { parseBuildSpec, readBuildSpec } from '../../../cli/src/lib/build/build-spec.js';

t.test('a spec lists layers relative to its own directory plus the image settings', async (t) => {
  const dir = t.testdir({
    'build.json': JSON.stringify({
      platform: 'linux/arm64',
      layers: [{ directory: 'rootfs', uid: 1000, gid: 1000, comment: 'base' }, { tar: '../shared/app.tar.gz' }],
      entrypoint: ['/bin/app'],
      cmd: ['--serve'],
      env: { PATH: '/bin', MODE: 'prod' },
      workdir: '/srv',
      user: 'app',
      labels: { team: 'edge' },
    }),
  });
  t.same(await readBuildSpec(join(dir, 'build.json')), {
    layers: [
      { directory: join(dir, 'rootfs'), uid: 1000, gid: 1000, comment: 'base' },
      { tar: join(dir, '..', 'shared/app.tar.gz') },
    ],
    platform: { os: 'linux', architecture: 'arm64' },
    entrypoint: ['/bin/app'],
    cmd: ['--serve'],
    env: { PATH: '/bin', MODE: 'prod' },
    workdir: '/srv',
    user: 'app',
    labels: { team: 'edge' },
  });
  t.same(parseBuildSpec({ layers: [{ directory: '/abs' }] }, '/base'), { layers: [{ directory: '/abs' }] });
});

t.test('mistakes in a spec are named precisely', async (t) => {
  const cases: [unknown, RegExp][] = [
    [[], /the spec must be an object/],
    [{}, /layers must be a non-empty array/],
    [{ layers: [] }, /layers must be a non-empty array/],
    [{ layers: [{}] }, /layers\[0\] needs "directory" or "tar"/],
    [{ layers: [{ directory: 'a', tar: 'b' }] }, /layers\[0\] has unknown field\(s\) directory/],
    [{ layers: [{ directory: 'a', uid: -1 }] }, /layers\[0\]\.uid must be a numeric id/],
    [{ layers: [{ directory: 'a' }], entrypoint: '/bin/sh' }, /entrypoint must be an array of strings/],
    [{ layers: [{ directory: 'a' }], env: { A: 1 } }, /env must be an object of string values/],
    [{ layers: [{ directory: 'a' }], enviroment: {} }, /unknown field\(s\) enviroment/],
    [{ layers: [{ directory: 'a' }], platform: 'arm64' }, /invalid platform/],
  ];
  for (const [spec, message] of cases) t.throws(() => parseBuildSpec(spec, '/base', 'build.json'), { code: 'E_BAD_INPUT', message }, message.source);
});

t.test('a missing or malformed spec file is a typed error', async (t) => {
  const dir = t.testdir({ 'broken.json': '{"layers": [' });
  await t.rejects(readBuildSpec(join(dir, 'absent.json')), { code: 'E_NOT_FOUND' });
  await t.rejects(readBuildSpec(join(dir, 'broken.json')), { code: 'E_BAD_INPUT', message: /not valid JSON/ });
});
