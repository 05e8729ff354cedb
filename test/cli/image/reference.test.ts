import t from 'tap';
import { formatImageReference, outputReference, parseImageReference } from '../../../cli/src/lib/image/reference.js';

t.test('oci references name a layout path and an optional tag', async (t) => {
  t.same(parseImageReference('oci:/var/images/app'), { transport: 'oci', path: '/var/images/app' });
  t.same(parseImageReference('oci:./app:1.2.3'), { transport: 'oci', path: './app', tag: '1.2.3' });
  t.same(parseImageReference('oci:app:registry.example/team/app:v1'), { transport: 'oci', path: 'app', tag: 'registry.example/team/app:v1' });
  t.equal(formatImageReference({ transport: 'oci', path: '/x' }), 'oci:/x:latest', 'a missing tag means latest');
});

t.test('unknown transports and malformed references are refused with E_BAD_REFERENCE', async (t) => {
  for (const text of ['containers-storage:alpine', '/plain/path', 'oci-archive:x.tar']) {
    t.throws(() => parseImageReference(text), { code: 'E_BAD_REFERENCE', message: /oci:<path>\[:<tag>\]/ }, text);
  }
  t.throws(() => parseImageReference('oci:'), { code: 'E_BAD_REFERENCE', message: /no layout path/ });
  t.throws(() => parseImageReference('oci:/x:bad tag'), { code: 'E_BAD_REFERENCE', message: /invalid image tag/ });
  t.throws(() => parseImageReference('oci:/x:'), { code: 'E_BAD_REFERENCE' });
});

t.test('a build output takes its tag from --tag or --output, which must agree', async (t) => {
  t.same(outputReference('oci:/x', undefined), { transport: 'oci', path: '/x', tag: 'latest' });
  t.same(outputReference('oci:/x:v1', undefined), { transport: 'oci', path: '/x', tag: 'v1' });
  t.same(outputReference('oci:/x', 'v2'), { transport: 'oci', path: '/x', tag: 'v2' });
  t.same(outputReference('oci:/x:v2', 'v2'), { transport: 'oci', path: '/x', tag: 'v2' });
  t.throws(() => outputReference('oci:/x:v1', 'v2'), { code: 'E_USAGE', message: /disagrees/ });
  t.throws(() => outputReference('oci:/x', 'no spaces'), { code: 'E_BAD_REFERENCE' });
});
