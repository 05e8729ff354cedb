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

t.test('docker:// references need a host; docker.io gets library/; digests win and outputs take none', async (t) => {
  t.same(parseImageReference('docker://ghcr.io/acme/app:1.4'), { transport: 'docker', registry: 'ghcr.io', repository: 'acme/app', tag: '1.4' });
  t.same(parseImageReference('docker://127.0.0.1:5000/app'), { transport: 'docker', registry: '127.0.0.1:5000', repository: 'app' });
  t.same(parseImageReference('docker://docker.io/alpine:3.20'), { transport: 'docker', registry: 'docker.io', repository: 'library/alpine', tag: '3.20' });
  t.same(parseImageReference('docker://index.docker.io/acme/app'), { transport: 'docker', registry: 'docker.io', repository: 'acme/app' });
  const digest = `sha256:${'a'.repeat(64)}`;
  t.same(parseImageReference(`docker://localhost/app:v1@${digest}`), { transport: 'docker', registry: 'localhost', repository: 'app', tag: 'v1', digest });
  t.equal(formatImageReference(parseImageReference(`docker://localhost/app@${digest}`)), `docker://localhost/app@${digest}`);
  t.equal(formatImageReference(parseImageReference('docker://localhost:5000/a/b')), 'docker://localhost:5000/a/b:latest');
  for (const [text, message] of [
    ['docker://alpine', /names no registry host: write it out, e\.g\. docker:\/\/docker\.io\/library\/alpine/],
    ['docker://team/app', /names no registry host/],
    ['docker://localhost/App', /invalid repository/],
    ['docker://localhost/app:bad tag', /invalid tag/],
    ['docker://localhost/app@sha256:123', /invalid digest/],
    ['docker://bad_host.example/app', /invalid registry host/],
  ] as const) {
    t.throws(() => parseImageReference(text), { code: 'E_BAD_REFERENCE', message }, text);
  }
  t.same(outputReference('docker://localhost/app', 'v2'), { transport: 'docker', registry: 'localhost', repository: 'app', tag: 'v2' });
  t.throws(() => outputReference(`docker://localhost/app@${digest}`), { code: 'E_BAD_REFERENCE', message: /names a tag, not a digest/ });
});

t.test('docker-archive: references name a file and optionally an image in it', async (t) => {
  t.same(parseImageReference('docker-archive:/tmp/app.tar'), { transport: 'docker-archive', path: '/tmp/app.tar' });
  t.same(parseImageReference('docker-archive:app.tar:team/app:1.0'), { transport: 'docker-archive', path: 'app.tar', name: 'team/app:1.0' });
  t.same(parseImageReference('docker-archive:app.tar:app'), { transport: 'docker-archive', path: 'app.tar', name: 'app:latest' });
  t.same(parseImageReference('docker-archive:app.tar:localhost:5000/app:v1'), { transport: 'docker-archive', path: 'app.tar', name: 'localhost:5000/app:v1' });
  t.throws(() => parseImageReference('docker-archive:'), { code: 'E_BAD_REFERENCE', message: /names no archive file/ });
  t.throws(() => parseImageReference('docker-archive:app.tar:Bad:1'), { code: 'E_BAD_REFERENCE', message: /invalid image name/ });
  t.throws(() => outputReference('docker-archive:app.tar', 'v1'), { code: 'E_USAGE', message: /--tag does not apply/ });
  t.equal(formatImageReference(parseImageReference('docker-archive:app.tar:app:1')), 'docker-archive:app.tar:app:1');
});
