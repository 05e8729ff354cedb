import { randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import t, { type Test } from 'tap';
import { digestHex, sha256Digest } from '../../../shared/digest.js';
import { openImage } from '../../../cli/src/lib/image/open-image.js';
import { publishRelease } from '../../../cli/src/lib/release/publish-release.js';
import type { S3ConnectionOptions } from '../../../cli/src/lib/artifact-store/s3-client.js';
import { PART_SIZE, PARTS_IN_FLIGHT } from '../../../cli/src/lib/artifact-store/s3-upload.js';
import { S3Store } from '../../../cli/src/lib/artifact-store/s3-store.js';
import { startCuttingProxy } from '../../helpers/cutting-proxy.js';
import { freePort } from '../../helpers/free-port.js';
import { makeReleaseFixture } from '../../helpers/release-fixture.js';
import { listKeys, startS3rver, S3RVER_CREDENTIALS, S3RVER_REGION } from '../../helpers/s3rver.js';

const blob = Buffer.from('some blob');
const digest = sha256Digest(blob);

function storeAt(endpoint: string, options: { bucket?: string; prefix?: string } & S3ConnectionOptions = {}): S3Store {
  const { bucket = 'releases', prefix = 'fleet', ...connection } = options;
  return new S3Store({ bucket, prefix }, { endpointUrl: endpoint, region: S3RVER_REGION, credentials: S3RVER_CREDENTIALS, ...connection });
}

/** Runs the rest of a test with these environment variables (undefined: unset). */
function withEnvironment(t: Test, variables: Record<string, string | undefined>): void {
  const saved = Object.fromEntries(Object.keys(variables).map((name) => [name, process.env[name]]));
  const apply = (values: Record<string, string | undefined>) => {
    for (const [name, value] of Object.entries(values)) {
      if (value === undefined) delete process.env[name];
      else process.env[name] = value;
    }
  };
  apply(variables);
  t.teardown(() => apply(saved));
}

const NO_AWS_CONFIGURATION = {
  AWS_ACCESS_KEY_ID: undefined,
  AWS_SECRET_ACCESS_KEY: undefined,
  AWS_SESSION_TOKEN: undefined,
  AWS_PROFILE: undefined,
  AWS_REGION: undefined,
  AWS_DEFAULT_REGION: undefined,
  AWS_CONTAINER_CREDENTIALS_RELATIVE_URI: undefined,
  AWS_CONTAINER_CREDENTIALS_FULL_URI: undefined,
  AWS_WEB_IDENTITY_TOKEN_FILE: undefined,
  AWS_CONFIG_FILE: '/nonexistent/aws-config',
  AWS_SHARED_CREDENTIALS_FILE: '/nonexistent/aws-credentials',
  AWS_EC2_METADATA_DISABLED: 'true',
};

t.test('an unreachable endpoint is E_NETWORK naming the endpoint', async (t) => {
  const endpoint = `http://127.0.0.1:${await freePort()}`;
  const store = storeAt(endpoint);
  const refused = new RegExp(`^cannot reach the S3 endpoint ${endpoint} while .*: connect ECONNREFUSED`);
  await t.rejects(store.readDocument({ kind: 'release', channel: 'stable' }), { code: 'E_NETWORK', message: refused });
  await t.rejects(store.hasBlob(digest), { code: 'E_NETWORK', message: refused });
  await t.rejects(store.putBlob(digest, blob.length, Readable.from([blob])), { code: 'E_NETWORK', message: refused });
  await t.rejects(store.writeDocument({ kind: 'release', channel: 'stable' }, Buffer.from('{}')), { code: 'E_NETWORK', message: refused });
});

t.test('a missing bucket is E_NOT_FOUND naming the bucket', async (t) => {
  const server = await startS3rver(t);
  const store = storeAt(server.endpoint, { bucket: 'no-such-bucket' });
  const missing = { code: 'E_NOT_FOUND', message: `bucket no-such-bucket does not exist at ${server.endpoint}` };
  await t.rejects(store.readDocument({ kind: 'release', channel: 'stable' }), missing);
  await t.rejects(store.putBlob(digest, blob.length, Readable.from([blob])), missing);
  await t.rejects(store.writeDocument({ kind: 'release', channel: 'stable' }, Buffer.from('{}')), missing);
});

t.test('credentials the endpoint refuses are E_UNAUTHORIZED', async (t) => {
  const server = await startS3rver(t);
  const store = storeAt(server.endpoint, { credentials: { accessKeyId: 'NOT-S3RVER', secretAccessKey: 'wrong' } });
  await t.rejects(store.readDocument({ kind: 'release', channel: 'stable' }), {
    code: 'E_UNAUTHORIZED',
    message: `the S3 endpoint ${server.endpoint} denied reading s3://releases/fleet/channels/stable/release.json in bucket releases (403 InvalidAccessKeyId: The AWS Access Key Id you provided does not exist in our records.): check the AWS credentials and the bucket policy`,
  });
  await t.rejects(store.hasBlob(digest), { code: 'E_UNAUTHORIZED', message: /denied checking for blob sha256:[0-9a-f]{64} in bucket releases \(403 Forbidden\)/ });
  await t.rejects(store.putBlob(digest, blob.length, Readable.from([blob])), { code: 'E_UNAUTHORIZED' });
  t.same(await listKeys(server), []);
});

t.test('no credentials anywhere in the default chain is E_UNAUTHORIZED', async (t) => {
  const server = await startS3rver(t);
  withEnvironment(t, NO_AWS_CONFIGURATION);
  const store = new S3Store({ bucket: 'releases', prefix: '' }, { endpointUrl: server.endpoint, region: S3RVER_REGION });
  await t.rejects(store.readDocument({ kind: 'release', channel: 'stable' }), { code: 'E_UNAUTHORIZED', message: /^no AWS credentials found for http:\/\/127\.0\.0\.1:\d+: set AWS_ACCESS_KEY_ID/ });
});

t.test('credentials from AWS_* variables are used', async (t) => {
  const server = await startS3rver(t);
  withEnvironment(t, { ...NO_AWS_CONFIGURATION, AWS_ACCESS_KEY_ID: 'S3RVER', AWS_SECRET_ACCESS_KEY: 'S3RVER', AWS_REGION: S3RVER_REGION });
  const store = new S3Store({ bucket: 'releases', prefix: '' }, { endpointUrl: server.endpoint });
  t.equal(await store.putBlob(digest, blob.length, Readable.from([blob])), true);
  t.same(await listKeys(server), [`blobs/sha256/${digestHex(digest)}`]);
});

t.test('no region anywhere is a usage error', async (t) => {
  const server = await startS3rver(t);
  withEnvironment(t, NO_AWS_CONFIGURATION);
  const store = new S3Store({ bucket: 'releases', prefix: '' }, { endpointUrl: server.endpoint, credentials: S3RVER_CREDENTIALS });
  await t.rejects(store.readDocument({ kind: 'release', channel: 'stable' }), { code: 'E_USAGE', message: /^no AWS region is set for http:\/\/127\.0\.0\.1:\d+: pass --region or set AWS_REGION$/ });
});

t.test('when every part fails the upload stops: the rest of the source is not read', async (t) => {
  const server = await startS3rver(t);
  const proxy = await startCuttingProxy(t, server.endpoint, PART_SIZE);
  const parts = 24;
  const chunk = Buffer.alloc(1024 * 1024, 7);
  let read = 0;
  const source = (async function* () {
    for (let i = 0; i < (parts * PART_SIZE) / chunk.length; i++) {
      read += chunk.length;
      yield chunk;
    }
  })();
  await t.rejects(storeAt(proxy.endpoint).putBlob(digest, parts * PART_SIZE, source), {
    code: 'E_NETWORK',
    message: /^cannot reach the S3 endpoint http:\/\/127\.0\.0\.1:\d+ while uploading blob sha256:/,
  });
  t.ok(read < (parts * PART_SIZE) / 2, `read ${read >> 20} MiB of ${(parts * PART_SIZE) >> 20} MiB (${PARTS_IN_FLIGHT} parts in flight)`);
  t.ok(proxy.requests.some((line) => /^DELETE \S+\?uploadId=/.test(line)), 'abort requested');
  t.same(await listKeys(server), []);
});

t.test('a release whose upload is cut halfway writes no pointer and leaves no partial object; the next run completes it', async (t) => {
  const server = await startS3rver(t);
  const f = await makeReleaseFixture(t, { files: [{ 'etc/os-release': 'ID=test\n' }, { 'app/data.bin': randomBytes(20 * 1024 * 1024) }] });
  const [smallLayer, largeLayer] = f.result.layers;
  const proxy = await startCuttingProxy(t, server.endpoint, 10 * 1024 * 1024);
  const publish = async (endpoint: string) =>
    publishRelease({
      image: await openImage(f.imageReference),
      store: storeAt(endpoint),
      channel: 'stable',
      version: 1,
      signingKey: f.signingKey,
      expires: new Date(Date.now() + 86_400_000),
    });

  await t.rejects(publish(proxy.endpoint), {
    code: 'E_NETWORK',
    message: new RegExp(`^cannot reach the S3 endpoint ${proxy.endpoint} while uploading blob ${largeLayer.digest}: `),
  });
  t.ok(proxy.requests.some((line) => /^DELETE \S+\?uploadId=/.test(line)), 'the multipart upload was aborted');
  t.same(await listKeys(server), [`fleet/blobs/sha256/${digestHex(smallLayer.digest)}`], 'only the complete first layer; no pointer');

  const result = await publish(server.endpoint);
  t.match(result, { blobsUploaded: 3, blobsSkipped: 1, release: 's3://releases/fleet/channels/stable/release.json' });
  const keys = await listKeys(server);
  t.ok(keys.includes(`fleet/blobs/sha256/${digestHex(largeLayer.digest)}`));
  t.ok(keys.includes('fleet/channels/stable/release.json'));
});
