import { GetObjectCommand } from '@aws-sdk/client-s3';
import { readdir, readFile } from 'node:fs/promises';
import type { Readable } from 'node:stream';
import t, { type Test } from 'tap';
import { readCapped } from '../../../shared/capped-read.js';
import { sha256Digest } from '../../../shared/digest.js';
import { verifyRelease } from '../../../shared/release.js';
import { loadTrustRoot } from '../../../shared/trust-root.js';
import { startCuttingProxy } from '../../helpers/cutting-proxy.js';
import { freePort } from '../../helpers/free-port.js';
import { makeReleaseFixture, type ReleaseFixture } from '../../helpers/release-fixture.js';
import { runCli, type ProcessResult } from '../../helpers/run.js';
import { listKeys, s3rverClient, startS3rver, S3RVER_CREDENTIALS, S3RVER_REGION, type S3rverInstance } from '../../helpers/s3rver.js';

// Credentials reach the CLI the way they reach it in CI: through the AWS SDK's default chain.
const AWS_ENVIRONMENT = {
  ...process.env,
  AWS_ACCESS_KEY_ID: S3RVER_CREDENTIALS.accessKeyId,
  AWS_SECRET_ACCESS_KEY: S3RVER_CREDENTIALS.secretAccessKey,
  AWS_CONFIG_FILE: '/nonexistent/aws-config',
  AWS_SHARED_CREDENTIALS_FILE: '/nonexistent/aws-credentials',
  AWS_EC2_METADATA_DISABLED: 'true',
};

function release(f: ReleaseFixture, to: string, endpoint: string, version: number, ...extra: string[]): Promise<ProcessResult> {
  return runCli(
    ['release', '--image', f.imageReference, '--channel', 'stable', '--release-version', String(version), '--key', f.keyPath, '--store', to, '--endpoint-url', endpoint, '--region', S3RVER_REGION, '--json', ...extra],
    { env: AWS_ENVIRONMENT },
  );
}

async function objectBytes(server: S3rverInstance, key: string): Promise<Buffer> {
  const response = await s3rverClient(server).send(new GetObjectCommand({ Bucket: 'releases', Key: key }));
  return readCapped(response.Body as Readable, 1 << 30, key);
}

function puts(requests: string[]): string[] {
  return requests.filter((line) => line.startsWith('PUT ') || line.startsWith('POST '));
}

/** The CLI failed with this exit code and error code, on one line, and wrote nothing. */
async function refused(t: Test, result: ProcessResult, exit: number, code: string, message: RegExp, server: S3rverInstance): Promise<void> {
  t.equal(result.code, exit, `exit ${exit}`);
  const { error } = JSON.parse(result.stdout);
  t.equal(error.code, code);
  t.match(error.message, message);
  t.notMatch(error.message, /\n/, 'one line');
  t.same(await listKeys(server), [], 'nothing written');
}

t.test('releases a built image to S3 in the artifact store layout; publishing it again uploads nothing', async (t) => {
  const server = await startS3rver(t);
  const proxy = await startCuttingProxy(t, server.endpoint, Infinity);
  const f = await makeReleaseFixture(t, { files: [{ 'etc/os-release': 'ID=test\n' }, { 'app/main.js': 'console.log(1)\n', 'app/data.bin': Buffer.alloc(300_000, 1) }] });

  const first = await release(f, 's3://releases/fleet/prod', proxy.endpoint, 1, '--force-path-style');
  t.equal(first.code, 0, first.stderr);
  const report = JSON.parse(first.stdout);
  t.match(report, { channel: 'stable', version: 1, digest: f.manifestDigest, blobsUploaded: 4, blobsSkipped: 0, unchanged: false });
  t.equal(report.location, 's3://releases/fleet/prod/channels/stable/release.json');

  // The same keys as the directory store the fixture published the same image into.
  const fileStoreFiles = (await readdir(f.storeDir, { recursive: true, withFileTypes: true })).filter((entry) => entry.isFile());
  const expected = fileStoreFiles.map((entry) => `fleet/prod/${entry.parentPath.slice(f.storeDir.length + 1)}/${entry.name}`).sort();
  const keys = await listKeys(server);
  t.same(keys, expected);
  for (const key of keys.filter((key) => key.includes('/blobs/sha256/'))) {
    t.equal(sha256Digest(await objectBytes(server, key)), `sha256:${key.split('/').pop()}`, `${key} holds its digest's bytes`);
  }
  const trust = loadTrustRoot(await readFile(f.rootJsonPath));
  const { release: signed } = verifyRelease(await objectBytes(server, 'fleet/prod/channels/stable/release.json'), trust, { channel: 'stable', now: new Date() });
  t.equal(signed.manifest.digest, f.manifestDigest, 'a device accepts the release');

  const uploadsBefore = puts(proxy.requests).length;
  const again = await release(f, 's3://releases/fleet/prod', proxy.endpoint, 1);
  t.equal(again.code, 0, again.stderr);
  t.match(JSON.parse(again.stdout), { unchanged: true, blobsUploaded: 0 });
  t.equal(puts(proxy.requests).length, uploadsBefore, 'same version again: nothing written');

  const requestsBefore = proxy.requests.length;
  const next = await release(f, 's3://releases/fleet/prod', proxy.endpoint, 2);
  t.equal(next.code, 0, next.stderr);
  t.match(JSON.parse(next.stdout), { version: 2, blobsUploaded: 0, blobsSkipped: 4, unchanged: false });
  const requests = proxy.requests.slice(requestsBefore);
  t.equal(requests.filter((line) => line.startsWith('HEAD ')).length, 4, 'every blob checked with HEAD');
  t.same(
    puts(requests),
    ['PUT /releases/fleet/prod/channels/stable/history.json?x-id=PutObject', 'PUT /releases/fleet/prod/channels/stable/release.json?x-id=PutObject'],
    'only the history and the pointer written',
  );
  t.same(await listKeys(server), expected);
});

t.test('the CLI reports S3 failures with one line and its exit code, writing nothing', async (t) => {
  const server = await startS3rver(t);
  const f = await makeReleaseFixture(t, { files: { 'etc/motd': 'hello\n' } });
  const closed = `http://127.0.0.1:${await freePort()}`;

  await refused(t, await release(f, 's3://releases/x', closed, 1), 8, 'E_NETWORK', new RegExp(`^cannot reach the S3 endpoint ${closed} while reading`), server);
  await refused(t, await release(f, 's3://no-such-bucket/x', server.endpoint, 1), 4, 'E_NOT_FOUND', /^bucket no-such-bucket does not exist at http:\/\/127\.0\.0\.1:\d+$/, server);
  const wrongKey = await runCli(
    ['release', '--image', f.imageReference, '--channel', 'stable', '--release-version', '1', '--key', f.keyPath, '--store', 's3://releases/x', '--endpoint-url', server.endpoint, '--region', S3RVER_REGION, '--json'],
    { env: { ...AWS_ENVIRONMENT, AWS_ACCESS_KEY_ID: 'NOT-S3RVER' } },
  );
  await refused(t, wrongKey, 11, 'E_UNAUTHORIZED', /denied reading s3:\/\/releases\/x\/channels\/stable\/release\.json in bucket releases \(403 InvalidAccessKeyId/, server);
  const fileWithRegion = await runCli(['release', '--image', f.imageReference, '--channel', 'stable', '--release-version', '1', '--key', f.keyPath, '--store', `file://${f.workDir}/other`, '--region', 'eu-central-1', '--json']);
  t.equal(fileWithRegion.code, 2, 'S3 flags with a file:// store');
});
