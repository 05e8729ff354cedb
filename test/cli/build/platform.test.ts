import t from 'tap';
import { formatPlatform, hostPlatform, ociArchitecture, parsePlatform } from '../../../cli/src/lib/build/platform.js';
import { rfc3339, sourceDateEpoch } from '../../../cli/src/lib/build/source-date-epoch.js';

t.test('Node architectures map to OCI names', async (t) => {
  t.same(ociArchitecture('x64'), { architecture: 'amd64' });
  t.same(ociArchitecture('arm64'), { architecture: 'arm64' });
  t.same(ociArchitecture('arm'), { architecture: 'arm', variant: 'v7' });
  t.same(ociArchitecture('ia32'), { architecture: '386' });
  t.same(ociArchitecture('ppc64', true), { architecture: 'ppc64le' });
  t.same(ociArchitecture('ppc64', false), { architecture: 'ppc64' });
  t.same(ociArchitecture('mipsel'), { architecture: 'mipsle' });
  t.same(ociArchitecture('s390x'), { architecture: 's390x' });
  t.same(ociArchitecture('riscv64'), { architecture: 'riscv64' });
  t.same(hostPlatform(), { os: 'linux', ...ociArchitecture(process.arch) });
});

t.test('platforms parse from os/arch[/variant]', async (t) => {
  t.same(parsePlatform('linux/arm/v6'), { os: 'linux', architecture: 'arm', variant: 'v6' });
  t.same(parsePlatform('linux/amd64'), { os: 'linux', architecture: 'amd64' });
  t.equal(formatPlatform(parsePlatform('linux/arm/v7')), 'linux/arm/v7');
  for (const bad of ['linux', 'linux/', 'linux/arm/v7/x', 'Linux/AMD64', '']) {
    t.throws(() => parsePlatform(bad), { code: 'E_BAD_INPUT' }, JSON.stringify(bad));
  }
});

t.test('SOURCE_DATE_EPOCH is a whole number of seconds, 0 when unset', async (t) => {
  t.equal(sourceDateEpoch({}), 0);
  t.equal(sourceDateEpoch({ SOURCE_DATE_EPOCH: '' }), 0);
  t.equal(sourceDateEpoch({ SOURCE_DATE_EPOCH: '1700000000' }), 1_700_000_000);
  for (const bad of ['-1', '1.5', 'now', '1e9']) t.throws(() => sourceDateEpoch({ SOURCE_DATE_EPOCH: bad }), { code: 'E_BAD_INPUT' }, bad);
  t.equal(rfc3339(0), '1970-01-01T00:00:00Z');
});
