import { join, resolve } from 'node:path';
import t from 'tap';
import { FileStore } from '../../../cli/src/lib/artifact-store/file-store.js';
import { openStore } from '../../../cli/src/lib/artifact-store/open-store.js';
import { RegistryStore } from '../../../cli/src/lib/artifact-store/registry-store.js';
import { S3Store } from '../../../cli/src/lib/artifact-store/s3-store.js';

t.test('file:// URLs open a directory store', async (t) => {
  const absolute = await openStore('file:///srv/releases');
  t.ok(absolute instanceof FileStore);
  t.equal((absolute as FileStore).root, '/srv/releases');
  t.equal(((await openStore('file://out/store')) as FileStore).root, resolve('out/store'));
  t.equal(((await openStore('out/store')) as FileStore).root, resolve('out/store'), 'a plain path is a directory store');
  t.equal(((await openStore('/srv/releases')) as FileStore).root, '/srv/releases');
  t.equal((await openStore('FILE:///x')).location, join('/', 'x'));
});

t.test('s3:// URLs open a bucket store under a prefix', async (t) => {
  const cases: [string, string, string][] = [
    ['s3://my-bucket/fleet/prod', 'my-bucket', 'fleet/prod'],
    ['s3://my-bucket/fleet/prod/', 'my-bucket', 'fleet/prod'],
    ['S3://my.bucket', 'my.bucket', ''],
    ['s3://my-bucket/', 'my-bucket', ''],
  ];
  for (const [url, bucket, prefix] of cases) {
    const store = await openStore(url, { region: 'eu-central-1' });
    t.ok(store instanceof S3Store, url);
    t.same((store as S3Store).s3Location, { bucket, prefix }, url);
  }
  t.equal((await openStore('s3://my-bucket/fleet/')).documentLocation({ kind: 'release', channel: 'stable' }), 's3://my-bucket/fleet/channels/stable/release.json');
  t.equal((await openStore('s3://my-bucket')).location, 's3://my-bucket');
  t.equal(((await openStore('s3://b12', { endpointUrl: 'http://127.0.0.1:9000' })) as S3Store).endpoint, 'http://127.0.0.1:9000');
  t.equal(((await openStore('s3://b12')) as S3Store).endpoint, 'AWS S3');
});

t.test('malformed s3:// URLs are bad references', async (t) => {
  for (const url of ['s3://', 's3:///prefix', 's3://Upper/x', 's3://ab/x', 's3://bad_name/x', 's3://a..b/x', 's3://bucket/a//b', 's3://bucket/../x', 's3://bucket/a/./b']) {
    await t.rejects(openStore(url), { code: 'E_BAD_REFERENCE', message: /s3:\/\/<bucket>\[\/<prefix>\]/ }, url);
  }
});

t.test('S3 settings are refused for other stores, and a bad endpoint is a usage error', async (t) => {
  await t.rejects(openStore('file:///srv/releases', { region: 'eu-central-1' }), { code: 'E_USAGE', message: /apply to s3:\/\/ stores only/ });
  await t.rejects(openStore('file:///srv/releases', { endpointUrl: 'http://127.0.0.1:9000' }), { code: 'E_USAGE' });
  await t.rejects(openStore('s3://bucket', { endpointUrl: 'ftp://127.0.0.1' }), { code: 'E_USAGE', message: /not an http\(s\) URL/ });
  await t.rejects(openStore('s3://bucket', { endpointUrl: '127.0.0.1:9000' }), { code: 'E_USAGE' });
});

t.test('docker:// URLs open a registry repository store; tags and digests are refused', async (t) => {
  const store = await openStore('docker://registry.example:5000/fleet/app');
  t.ok(store instanceof RegistryStore);
  t.equal(store.location, 'docker://registry.example:5000/fleet/app');
  t.equal(store.documentLocation({ kind: 'release', channel: 'stable' }), 'docker://registry.example:5000/fleet/app:stable');
  t.equal(store.documentLocation({ kind: 'history', channel: 'stable' }), 'docker://registry.example:5000/fleet/app:_channels.stable.history');
  for (const url of ['docker://registry.example/app:v1', `docker://registry.example/app@sha256:${'a'.repeat(64)}`]) {
    await t.rejects(openStore(url), { code: 'E_BAD_REFERENCE', message: /a registry store is a whole repository, docker:\/\/<host>\/<repo>/ }, url);
  }
  await t.rejects(openStore('docker://app'), { code: 'E_BAD_REFERENCE', message: /names no registry host/ });
  await t.rejects(openStore('docker://registry.example/app', { region: 'eu-central-1' }), { code: 'E_USAGE' });
});

t.test('anything else is a usage error (exit 2) naming the supported forms', async (t) => {
  for (const url of ['http://host/x', 'file://', 'ftp://x', 'c:relative', '']) {
    await t.rejects(openStore(url), { code: 'E_USAGE', message: /<dir>, file:\/\/<dir>, s3:\/\/<bucket>\[\/<prefix>\], docker:\/\/<host>\/<repo>/ }, url);
  }
});
