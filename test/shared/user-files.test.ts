import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import t from 'tap';
import { readDeviceConfig } from '../../applier/runtime/device-config.js';
import { readAuthorizationFile } from '../../applier/update/fetch/source.js';
import { readGivenTrustRoot } from '../../applier/update/verify/trust.js';
import { readBuildSpec } from '../../cli/src/lib/build/build-spec.js';
import { readDockerignore } from '../../cli/src/lib/dockerfile/dockerignore.js';
import { loadPrivateKey, loadPublicKey, readTrustRootFile } from '../../cli/src/lib/keys.js';
import { findCredentials } from '../../cli/src/lib/registry/credentials.js';
import { readFileCapped } from '../../shared/capped-read.js';
import { runCli } from '../helpers/run.js';

// Every file read from a path a user gives is capped: an endless device (/dev/zero) or a
// huge file fails with E_TOO_LARGE after at most the cap, instead of filling memory.
const endless = '/dev/zero';

t.test('readFileCapped reads small files whole and refuses endless or oversized ones', async (t) => {
  const dir = t.testdir({ small: 'twelve bytes', big: 'x'.repeat(1025) });
  t.equal((await readFileCapped(join(dir, 'small'), 12, 'small')).toString(), 'twelve bytes');
  await t.rejects(readFileCapped(join(dir, 'big'), 1024, 'big file'), { code: 'E_TOO_LARGE', message: 'big file is larger than the 1024-byte limit' });
  await t.rejects(readFileCapped(endless, 1024, 'zero'), { code: 'E_TOO_LARGE' });
  await t.rejects(readFileCapped(join(dir, 'none'), 1024, 'none'), { code: 'ENOENT' });
});

t.test('device side: --trust, --config and --auth-file', async (t) => {
  await t.rejects(readGivenTrustRoot(endless), { code: 'E_TOO_LARGE', message: /trust root \/dev\/zero is larger than the 262144-byte limit/ });
  await t.rejects(readDeviceConfig(endless), { code: 'E_TOO_LARGE', message: /device config \/dev\/zero/ });
  await t.rejects(readAuthorizationFile(endless), { code: 'E_TOO_LARGE', message: /--auth-file \/dev\/zero/ });
});

t.test('build side: keys, trust roots, build specs, .dockerignore and registry auth files', async (t) => {
  await t.rejects(loadPrivateKey(endless), { code: 'E_TOO_LARGE', message: /\/dev\/zero is larger than the 65536-byte limit/ });
  await t.rejects(loadPublicKey(endless, 'timestamp key'), { code: 'E_TOO_LARGE' });
  await t.rejects(readTrustRootFile(endless), { code: 'E_TOO_LARGE' });
  await t.rejects(readBuildSpec(endless), { code: 'E_TOO_LARGE', message: /build spec \/dev\/zero/ });
  await t.rejects(findCredentials('registry.example', { authFile: endless, env: {} }), { code: 'E_TOO_LARGE', message: /registry auth file \/dev\/zero/ });
  const context = t.testdir();
  await writeFile(join(context, '.dockerignore'), 'x'.repeat(1024 * 1024 + 1));
  await t.rejects(readDockerignore(context), { code: 'E_TOO_LARGE' });
});

t.test('the CLI fails fast and clearly on --key /dev/zero and -f /dev/zero', async (t) => {
  const dir = t.testdir();
  const timestamp = await runCli(['timestamp', '--channel', 'stable', '--key', endless, '--store', join(dir, 'store'), '--json']);
  t.equal(timestamp.code, 5, timestamp.stderr);
  t.match(JSON.parse(timestamp.stdout).error, { code: 'E_TOO_LARGE', message: /timestamp key \/dev\/zero is larger than the 65536-byte limit/ });
  const build = await runCli(['build', '-f', endless, dir, '--output', `oci:${join(dir, 'layout')}`, '--json']);
  t.equal(build.code, 5, build.stderr);
  t.match(JSON.parse(build.stdout).error, { code: 'E_TOO_LARGE', message: /Dockerfile \/dev\/zero is larger than/ });
});
