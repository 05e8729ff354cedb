import { join } from 'node:path';
import t, { type Test } from 'tap';
import { generateReleaseKey } from '../../../cli/src/lib/keys.js';
import { bareApplierCommand, ensureApplierBundle } from '../../helpers/applier-bundle.js';
import { buildAppImage } from '../../helpers/app-image.js';
import { startFaultProxy, type FaultProxy } from '../../helpers/fault-proxy.js';
import { startRegistry } from '../../helpers/registry.js';
import { makeReleaseFixture } from '../../helpers/release-fixture.js';
import { runCli, runProcess, type ProcessResult } from '../../helpers/run.js';
import { s3rverEnvironment, startS3rver, S3RVER_REGION } from '../../helpers/s3rver.js';

// Retries wait PRTIQL_RETRY_BASE_MS (1 ms, package.json's test environment) and what Retry-After asks.

function succeeded(t: Test, result: ProcessResult, what: string): any {
  t.equal(result.code, 0, `${what}: ${result.stderr}`);
  return JSON.parse(result.stdout);
}

function answers(proxy: FaultProxy, status: number | 'reset'): number {
  return proxy.exchanges.filter((exchange) => exchange.answer === status).length;
}

/** A second from now as an HTTP-date: a Retry-After of the date form. */
function inOneSecond(): string {
  return new Date(Date.now() + 1000).toUTCString();
}

/** Transient faults served on the way, then a fault that does not pass: the release fails naming it. */
async function faultsThenOutage(t: Test, proxy: FaultProxy, release: (version: number) => Promise<ProcessResult>): Promise<void> {
  proxy.faults.failWith = { status: 503, times: 2, method: 'PUT', retryAfter: '1' };
  succeeded(t, await release(1), 'release 1 through two 503 answers to uploads, one asking to retry after a second');
  t.equal(answers(proxy, 503), 2, 'both 503 answers were served');

  proxy.faults.failWith = { status: 429, times: 2, retryAfter: inOneSecond() };
  proxy.faults.reset = { times: 1, method: 'PUT' };
  succeeded(t, await release(2), 'release 2 through two 429 answers (Retry-After as a date) and a dropped upload');
  t.equal(answers(proxy, 429), 2);
  t.equal(answers(proxy, 'reset'), 1, 'an upload connection was dropped');

  proxy.faults.failWith = { status: 503, times: 1_000_000 };
  const outage = await release(3);
  t.equal(outage.code, 8, outage.stderr);
  const { error } = JSON.parse(outage.stdout);
  t.equal(error.code, 'E_NETWORK');
  t.match(error.message, /503.*\(after 5 attempts\)/, 'the error names the last status and the attempts');
  t.notMatch(error.message, /\n/, 'one line');
  proxy.faults.failWith = undefined;
}

t.test('a release to S3 goes through throttling, server errors and a dropped connection, and fails clearly in an outage', async (t) => {
  const server = await startS3rver(t);
  const proxy = await startFaultProxy(t, server.endpoint);
  const fixture = await makeReleaseFixture(t, { files: [{ 'etc/os-release': 'ID=test\n' }, { 'app/data.bin': Buffer.alloc(300_000, 7) }] });
  const release = (version: number) =>
    runCli(
      ['release', '--image', fixture.imageReference, '-c', 'stable', '--release-version', String(version), '-k', fixture.keyPath, '--store', 's3://releases', '--endpoint-url', proxy.endpoint, '--region', S3RVER_REGION, '--json'],
      { env: s3rverEnvironment() },
    );
  await faultsThenOutage(t, proxy, release);
  const device = await runProcess(...bareApplierCommand(['update', '--source', `${server.endpoint}/releases/`, '--channel', 'stable', '--store', join(t.testdir(), 'device'), '--trust', fixture.rootJsonPath]));
  t.equal(device.code, 0, device.stderr);
  t.match(device.stdout, /updated to version 2/, 'the bucket holds release 2, complete');
});

t.test('a release to a registry goes through the same faults, uploads started over, and fails clearly in an outage', async (t) => {
  const registry = await startRegistry(t);
  const proxy = await startFaultProxy(t, `http://${registry.host}`);
  const dir = t.testdir();
  const keys = await generateReleaseKey(join(dir, 'keys'));
  await buildAppImage(t, `oci:${join(dir, 'images')}:1`, 1);
  await ensureApplierBundle();
  const repo = `docker://${proxy.host}/app`;
  const release = (version: number) =>
    runCli(['release', '--image', `oci:${join(dir, 'images')}:1`, '-c', 'stable', '--release-version', String(version), '-k', keys.privateKey, '--store', repo, '--json']);
  await faultsThenOutage(t, proxy, release);
  const uploads = proxy.exchanges.filter((exchange) => exchange.method === 'PUT' && exchange.url.includes('/blobs/uploads/'));
  t.ok(uploads.some((exchange) => exchange.answer === 503 && exchange.bodyBytes > 0), 'a blob upload failed after sending its bytes...');
  t.ok(uploads.filter((exchange) => exchange.answer === 201).length >= 3, '...and was made again, streamed from the start');
  const device = await runProcess(...bareApplierCommand(['update', '--source', `docker://${registry.host}/app`, '--channel', 'stable', '--store', join(dir, 'device'), '--trust', keys.trustRoot]));
  t.equal(device.code, 0, device.stderr);
  t.match(device.stdout, /updated to version 2/, 'the repository holds release 2, complete');
});
