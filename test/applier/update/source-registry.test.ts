import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import t from 'tap';
import { RegistrySource } from '../../../applier/update/fetch/registry-source.js';
import { DEFAULT_RETRY_POLICY } from '../../../applier/update/fetch/retry.js';
import { DEFAULT_HTTP_TIMEOUTS, openSource, type Source } from '../../../applier/update/fetch/source.js';
import { readCapped } from '../../../shared/capped-read.js';
import { digestHex } from '../../../shared/digest.js';
import type { RegistryCredentials } from '../../../shared/registry-auth-protocol.js';
import { verifyRelease } from '../../../shared/release.js';
import { loadTrustRoot } from '../../../shared/trust-root.js';
import { RegistryStore } from '../../../cli/src/lib/artifact-store/registry-store.js';
import { pointerPath } from '../../../shared/store-layout.js';
import { makeReleaseFixture } from '../../helpers/release-fixture.js';
import { startRegistry, writeAuthFile } from '../../helpers/registry.js';
import { MAX_DOCUMENT_BYTES } from '../../../shared/limits.js';

const USERS = { ci: { password: 'push-secret' }, device: { password: 'pull-secret', actions: ['pull'] } };

/** A registry source as openSource makes it, with explicit credentials instead of the environment's. */
function registrySource(url: string, credentials?: RegistryCredentials): Source {
  const retry = { ...DEFAULT_RETRY_POLICY, retries: 0, deadline: Date.now() + 60_000 };
  return new RegistrySource(new URL(url), retry, DEFAULT_HTTP_TIMEOUTS, credentials, (root, authorization) => openSource(root, { authorization, retry }));
}

async function read(source: Source, path: string, maxBytes = MAX_DOCUMENT_BYTES, start?: number): Promise<Buffer> {
  const fetched = await source.fetch(path, { maxBytes, ...(start !== undefined && { start }) });
  return readCapped(fetched.body, maxBytes, path);
}

t.test('a device reads the channel tag and blobs of a token-auth registry with a pull-only login', async (t) => {
  const registry = await startRegistry(t, { auth: { kind: 'token', users: USERS } });
  const dir = t.testdir();
  const authFile = await writeAuthFile(dir, registry.host, 'ci', USERS.ci.password);
  const store = new RegistryStore({ transport: 'docker', registry: registry.host, repository: 'fleet/app' }, { authFile });
  const fixture = await makeReleaseFixture(t, { files: { 'etc/motd': 'hello from the registry\n', 'app/data.bin': randomBytes(300_000) }, store });
  const published = await store.readDocument({ kind: 'release', channel: 'stable' });

  const source = registrySource(`docker://${registry.host}/fleet/app`, { username: 'device', password: USERS.device.password });
  t.equal(source.url, `docker://${registry.host}/fleet/app`);
  registry.requests.length = 0;
  registry.tokenRequests.length = 0;
  const envelope = await read(source, pointerPath('stable'));
  t.same(envelope, published, 'the channel tag leads to the signed release');
  const { release } = verifyRelease(envelope, loadTrustRoot(await readFile(fixture.rootJsonPath)), { channel: 'stable', now: new Date() });
  t.same(
    registry.requests.map((line) => line.replace(/sha256:[0-9a-f]{64}/, '<digest>')),
    ['GET /v2/', 'GET /v2/fleet/app/manifests/stable', 'GET /v2/fleet/app/blobs/<digest>'],
    'the challenge, the channel tag, the envelope blob',
  );
  t.equal(registry.tokenRequests.length, 1, 'one token');
  t.match(registry.tokenRequests[0], /scope=repository%3Afleet%2Fapp%3Apull/);

  const layer = release.layers.find((candidate) => candidate.blob.size > 100_000)!;
  const whole = await read(source, `blobs/sha256/${digestHex(layer.blob.digest)}`, layer.blob.size);
  t.equal(whole.length, layer.blob.size);
  const tail = await read(source, `blobs/sha256/${digestHex(layer.blob.digest)}`, layer.blob.size, 100_000);
  t.same(tail, whole.subarray(100_000), 'a download resumes with Range');
  t.equal(registry.tokenRequests.length, 1, 'the token is reused');

  await t.rejects(read(source, pointerPath('beta')), { code: 'E_NOT_FOUND', message: /fleet\/app:beta does not exist/ });
  await t.rejects(read(source, `blobs/sha256/${'0'.repeat(64)}`), { code: 'E_NOT_FOUND' });
  await t.rejects(read(source, pointerPath('stable'), 100), { code: 'E_TOO_LARGE' }, 'a document over the caller\'s limit is not fetched');
  await t.rejects(read(registrySource(`docker://${registry.host}/fleet/app`), pointerPath('stable')), {
    code: 'E_UNAUTHORIZED',
    message: /HTTP 401; no credentials were given: set PRTIQL_REGISTRY_USERNAME and PRTIQL_REGISTRY_PASSWORD, or give the service the credentials registry-username and registry-password$/,
  });
  await t.rejects(read(registrySource(`docker://${registry.host}/fleet/app`, { username: 'device', password: 'wrong' }), pointerPath('stable')), {
    code: 'E_UNAUTHORIZED',
    message: /the token server answered HTTP 401; the registry refused the credentials of device$/,
  });
});

t.test('an anonymous registry needs no credentials; bad URLs and unreachable registries are typed', async (t) => {
  const registry = await startRegistry(t);
  const store = new RegistryStore({ transport: 'docker', registry: registry.host, repository: 'open/app' });
  await makeReleaseFixture(t, { files: { 'a.txt': 'anonymous\n' }, store });
  t.same(await read(registrySource(`docker://${registry.host}/open/app/`), pointerPath('stable')), await store.readDocument({ kind: 'release', channel: 'stable' }));

  t.throws(() => openSource(`docker://${registry.host}/Open/App`), { code: 'E_USAGE', message: /is not docker:\/\/<host>\[:<port>\]\/<repository>/ });
  t.throws(() => openSource(`docker://user:secret@${registry.host}/open/app`), { code: 'E_USAGE', message: /must not carry credentials/ });
  t.ok(openSource(`docker://${registry.host}/open/app`) instanceof RegistrySource, 'openSource knows docker://');
  await t.rejects(read(registrySource('docker://127.0.0.1:1/open/app'), pointerPath('stable')), { code: 'E_NETWORK', message: /cannot reach http:\/\/127\.0\.0\.1:1/ });
  await t.rejects(read(registrySource(`docker://${registry.host}/open/app`), `deltas/${'a'.repeat(64)}/${'b'.repeat(64)}.json`), { code: 'E_INTERNAL' });
});
