import { randomBytes } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import t from 'tap';
import { generateReleaseKey } from '../../../cli/src/lib/keys.js';
import { loopDevicesUnavailable, withTmpfs } from '../../helpers/loop-device.js';
import { runCli } from '../../helpers/run.js';

t.test('a full disk while publishing is E_DISK (exit 10), not an internal error', { skip: await loopDevicesUnavailable() }, async (t) => {
  const dir = t.testdir();
  const rootfs = join(dir, 'rootfs');
  await mkdir(rootfs);
  await writeFile(join(rootfs, 'noise.bin'), randomBytes(3 * 1024 * 1024));
  const built = await runCli(['build', rootfs, '--output', `oci:${join(dir, 'layout')}:1`, '--json']);
  t.equal(built.code, 0, built.stderr);
  const keys = await generateReleaseKey(join(dir, 'keys'));
  const store = join(dir, 'store');
  await mkdir(store);
  await withTmpfs(store, '1m', async () => {
    const result = await runCli(['release', '--image', `oci:${join(dir, 'layout')}:1`, '--channel', 'stable', '--release-version', '1', '--key', keys.privateKey, '--store', store, '--json']);
    t.equal(result.code, 10, result.stderr);
    t.match(JSON.parse(result.stdout).error, { code: 'E_DISK', message: /ENOSPC/ });
  });
});
