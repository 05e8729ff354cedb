import { readFile } from 'node:fs/promises';
import { createServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { generateReleaseKey } from '../../../cli/src/lib/keys.js';
import { bareApplierCommand, ensureApplierBundle } from '../../helpers/applier-bundle.js';
import { buildAppImage } from '../../helpers/app-image.js';
import { startForwardProxy } from '../../helpers/forward-proxy.js';
import { startRegistry } from '../../helpers/registry.js';
import { runCli, runProcess, runTool, type ProcessResult } from '../../helpers/run.js';
import { s3rverEnvironment, startS3rver, S3RVER_REGION } from '../../helpers/s3rver.js';

/** The test's environment without any proxy variables, plus `extra`. */
function environment(extra: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const env = { ...process.env };
  for (const name of ['http_proxy', 'https_proxy', 'no_proxy']) {
    delete env[name];
    delete env[name.toUpperCase()];
  }
  return { ...env, ...extra };
}

function succeeded(t: Test, result: ProcessResult, what: string): void {
  t.equal(result.code, 0, `${what}: ${result.stderr}`);
}

/** Versions 1 to `count` of the test app in an image layout, and a release key; `release` publishes one. */
async function releasable(t: Test, count: number) {
  const dir = t.testdir();
  const keys = await generateReleaseKey(join(dir, 'keys'));
  for (let version = 1; version <= count; version++) await buildAppImage(t, `oci:${join(dir, 'images')}:${version}`, version);
  const release = (version: number, to: string, env: NodeJS.ProcessEnv, ...extra: string[]) =>
    runCli(['release', '--image', `oci:${join(dir, 'images')}:${version}`, '-c', 'stable', '--release-version', String(version), '-k', keys.privateKey, '--store', to, '--json', ...extra], { env });
  return { dir, keys, release };
}

t.test('the CLI releases to a registry and a device updates from it through HTTP_PROXY; NO_PROXY=127.0.0.1 goes around it', async (t) => {
  const registry = await startRegistry(t);
  const proxy = await startForwardProxy(t);
  const { dir, keys, release: publish } = await releasable(t, 2);
  await ensureApplierBundle();
  const repo = `docker://${registry.host}/app`;
  const release = (version: number, env: NodeJS.ProcessEnv) => publish(version, repo, environment(env));
  const update = (env: NodeJS.ProcessEnv) =>
    runProcess(...bareApplierCommand(['update', '--source', repo, '--channel', 'stable', '--store', join(dir, 'device'), '--trust', keys.trustRoot]), { env: environment(env) });

  succeeded(t, await release(1, { HTTP_PROXY: proxy.url }), 'release 1 through the proxy');
  const api = `http://${registry.host}/v2/app`;
  t.ok(proxy.requests.some((line) => line.startsWith(`POST ${api}/blobs/uploads/`)), 'blob uploads went through the proxy');
  t.ok(proxy.requests.includes(`PUT ${api}/manifests/stable`), 'so did the channel tag');
  const byCli = proxy.requests.length;

  succeeded(t, await update({ http_proxy: proxy.url.replace('http://', 'http://device:s%3Acret@') }), 'the device update through the proxy, with credentials');
  const byDevice = proxy.requests.slice(byCli);
  const basic = `Basic ${Buffer.from('device:s:cret').toString('base64')}`;
  t.ok(proxy.authorizations.slice(byCli).every((header) => header === basic), 'the device sent the proxy its credentials');
  t.ok(byDevice.includes(`GET ${api}/manifests/stable`), 'the device read the channel tag through the proxy');
  t.ok(byDevice.some((line) => line.startsWith(`GET ${api}/blobs/sha256:`)), 'and the blobs');

  const before = proxy.requests.length;
  succeeded(t, await release(2, { HTTP_PROXY: proxy.url, NO_PROXY: '127.0.0.1' }), 'release 2 with NO_PROXY');
  const updated = await update({ http_proxy: proxy.url, no_proxy: 'localhost,127.0.0.1' });
  succeeded(t, updated, 'the device update with no_proxy');
  t.match(updated.stdout, /updated to version 2/);
  t.equal(proxy.requests.length, before, 'nothing went through the proxy');
});

t.test('the CLI reaches S3 through HTTP_PROXY', async (t) => {
  const server = await startS3rver(t);
  const proxy = await startForwardProxy(t);
  const { release } = await releasable(t, 1);
  const result = await release(1, 's3://releases', s3rverEnvironment(environment({ HTTP_PROXY: proxy.url })), '--endpoint-url', server.endpoint, '--region', S3RVER_REGION);
  succeeded(t, result, 'release to S3 through the proxy');
  t.ok(proxy.requests.includes(`PUT ${server.endpoint}/releases/channels/stable/release.json?x-id=PutObject`), 'the pointer was written through the proxy');
  t.ok(proxy.requests.some((line) => line.startsWith(`PUT ${server.endpoint}/releases/blobs/sha256/`)), 'and the blobs');
});

t.test('a device updates from an HTTPS store through a CONNECT tunnel', async (t) => {
  const proxy = await startForwardProxy(t);
  const { dir, keys, release } = await releasable(t, 1);
  succeeded(t, await release(1, join(dir, 'store'), environment({})), 'release to a directory');
  await runTool('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '2', '-subj', '/CN=127.0.0.1',
    '-addext', 'subjectAltName=IP:127.0.0.1', '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem')]);
  const server = createServer({ key: await readFile(join(dir, 'key.pem')), cert: await readFile(join(dir, 'cert.pem')) }, (request, response) => {
    readFile(join(dir, 'store', decodeURIComponent(new URL(request.url!, 'https://x').pathname)))
      .then((bytes) => response.writeHead(200, { 'content-length': bytes.length }).end(bytes))
      .catch(() => response.writeHead(404).end());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => {
    server.closeAllConnections();
    return new Promise<void>((resolve) => server.close(() => resolve()));
  });
  const origin = `127.0.0.1:${(server.address() as AddressInfo).port}`;
  await ensureApplierBundle();
  const updated = await runProcess(...bareApplierCommand(['update', '--source', `https://${origin}/`, '--channel', 'stable', '--store', join(dir, 'device'), '--trust', keys.trustRoot]), {
    env: environment({ HTTPS_PROXY: proxy.url.replace('http://', 'http://ops:pw@'), NODE_EXTRA_CA_CERTS: join(dir, 'cert.pem') }),
  });
  succeeded(t, updated, 'the device update through the tunnel');
  t.match(updated.stdout, /updated to version 1/);
  t.ok(proxy.requests.length > 0 && proxy.requests.every((line) => line === `CONNECT ${origin}`), 'every connection was a tunnel to the store');
  t.ok(proxy.authorizations.every((header) => header === `Basic ${Buffer.from('ops:pw').toString('base64')}`), 'with the proxy credentials');
});
