import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import t from 'tap';
import { sha256Digest } from '../../../shared/digest.js';
import { repositoryScope } from '../../../shared/registry-auth-protocol.js';
import { generateReleaseKey } from '../../../cli/src/lib/keys.js';
import { pushBlob } from '../../../cli/src/lib/registry/blob-upload.js';
import { RegistryClient } from '../../../cli/src/lib/registry/registry-client.js';
import { silentProgress } from '../../../cli/src/progress.js';
import { bareApplierCommand, ensureApplierBundle } from '../../helpers/applier-bundle.js';
import { buildAppImage } from '../../helpers/app-image.js';
import { startFaultProxy } from '../../helpers/fault-proxy.js';
import { startRegistry, writeAuthFile } from '../../helpers/registry.js';
import { runCli, runProcess } from '../../helpers/run.js';

const USERS = { ci: { password: 'push-secret' }, device: { password: 'pull-secret', actions: ['pull'] } };

t.test('a release from one repository of a registry to another mounts the layers instead of uploading them', async (t) => {
  const registry = await startRegistry(t, { auth: { kind: 'token', users: USERS } });
  const counting = await startFaultProxy(t, `http://${registry.host}`);
  const dir = t.testdir();
  const ciAuth = await writeAuthFile(dir, counting.host, 'ci', USERS.ci.password);
  const keys = await generateReleaseKey(join(dir, 'keys'));
  await buildAppImage(t, `docker://${counting.host}/ci/app:1`, 1, { authFile: ciAuth, extra: { 'app/assets.bin': randomBytes(2_000_000) } });
  counting.exchanges.length = 0;

  const result = await runCli(['release', '--image', `docker://${counting.host}/ci/app:1`, '-c', 'stable', '--release-version', '1', '-k', keys.privateKey, '--store', `docker://${counting.host}/app-releases`, '--authfile', ciAuth, '--json']);
  t.equal(result.code, 0, result.stderr);
  const report = JSON.parse(result.stdout);
  const { layers } = report.images[0];
  const layerBytes = layers.reduce((sum: number, layer: { sizeBytes: number }) => sum + layer.sizeBytes, 0);
  t.ok(layerBytes > 2_000_000, `the layers hold ${layerBytes} bytes`);

  const mounts = counting.exchanges.filter((exchange) => exchange.method === 'POST' && exchange.url.startsWith('/v2/app-releases/blobs/uploads/?mount='));
  t.same(mounts.map((exchange) => exchange.answer), layers.map(() => 201), 'every layer is mounted from ci/app (201 Created)');
  t.ok(mounts.every((exchange) => exchange.url.includes('from=ci%2Fapp')));
  const uploaded = counting.exchanges
    .filter((exchange) => (exchange.method === 'PUT' || exchange.method === 'PATCH') && exchange.url.startsWith('/v2/app-releases/blobs/uploads/'))
    .reduce((sum, exchange) => sum + exchange.bodyBytes, 0);
  t.ok(uploaded < 20_000, `only the config, manifest and documents are uploaded (${uploaded} bytes), no layer`);

  await ensureApplierBundle();
  const device = await runProcess(...bareApplierCommand(['update', '--source', `docker://${registry.host}/app-releases`, '--channel', 'stable', '--store', join(dir, 'device'), '--trust', keys.trustRoot]), {
    env: { ...process.env, PRTIQL_REGISTRY_USERNAME: 'device', PRTIQL_REGISTRY_PASSWORD: USERS.device.password },
  });
  t.equal(device.code, 0, device.stderr);
  t.match(device.stdout, /updated to version 1/, 'the mounted layers serve devices from the release repository');
});

t.test('a mount the registry answers with 202 (the source lacks the blob) goes on as an upload', async (t) => {
  const registry = await startRegistry(t);
  const client = new RegistryClient(registry.host);
  const bytes = randomBytes(50_000);
  const blob = { digest: sha256Digest(bytes), size: bytes.length, open: async () => Readable.from([bytes]) };
  const scopes = [repositoryScope('target', 'pull,push'), repositoryScope('elsewhere', 'pull')];
  t.equal(await pushBlob(client, 'target', blob, { scopes, mountFrom: 'elsewhere', progress: (total) => silentProgress('blob', total) }), 'written');
  t.ok(registry.requests.some((line) => line.startsWith('POST /v2/target/blobs/uploads/?mount=')), 'a mount was asked for');
  t.ok(registry.requests.some((line) => line.startsWith('PUT /v2/target/blobs/uploads/')), 'then the bytes were uploaded');
  t.equal(await client.hasBlob('target', blob.digest, scopes), true);
});
