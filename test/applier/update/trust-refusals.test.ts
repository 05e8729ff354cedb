import { readFile, writeFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { silentLogger } from '../../../applier/log.js';
import { openSource } from '../../../applier/update/fetch/source.js';
import { update, type UpdateRequest } from '../../../applier/update/update.js';
import { digestHex, sha256Digest } from '../../../shared/digest.js';
import { parseEnvelopeBytes } from '../../../shared/dsse.js';
import { APPLIER_EXIT_CODES, type ErrorCode } from '../../../shared/errors.js';
import { blobPath } from '../../../shared/store-layout.js';
import { runApplier } from '../../helpers/applier-bundle.js';
import { newSigner, publishTestRelease, trustRootJson } from '../../helpers/signed-artifact-store.js';
import { countingServer, readPublishedRelease, releasePath, resignRelease } from '../../helpers/trust-fixtures.js';

const layers = (tag: string) => [[{ path: 'etc/tag', type: 'file' as const, mode: 0o644, content: `${tag}\n` }]];
const day = 86_400_000;

/** A store holding release 1 of channel stable, signed by one key, and the root that trusts it. */
async function singleSignerStore(t: Test) {
  const dir = t.testdir();
  const artifacts = join(dir, 'artifacts');
  const signer = newSigner();
  const trust = join(dir, 'root.json');
  await writeFile(trust, trustRootJson([signer]));
  const published = await publishTestRelease({ storeDir: artifacts, channel: 'stable', version: 1, layers: layers('one'), signers: [signer] });
  return { dir, artifacts, signer, trust, published };
}

t.test('every refusal has its own code and comes before any blob is fetched (mix-and-match: before any layer blob)', async (t) => {
  const dir = t.testdir();
  const artifacts = join(dir, 'artifacts');
  const [a, b, stranger] = [newSigner(), newSigner(), newSigner()];
  const trust = join(dir, 'root.json');
  await writeFile(trust, trustRootJson([a, b], 2));
  await publishTestRelease({ storeDir: artifacts, channel: 'stable', version: 2, layers: layers('two'), signers: [a, b] });
  const good = await readFile(releasePath(artifacts));
  // a later release whose blobs are in the store too; the channel serves version 2 again below
  const other = await publishTestRelease({ storeDir: artifacts, channel: 'stable', version: 3, layers: layers('other'), signers: [a, b] });
  const server = await countingServer(artifacts);
  t.teardown(() => server.close());

  let devices = 0;
  const run = (extra: Partial<UpdateRequest> = {}) =>
    update({ source: openSource(server.url), channel: 'stable', storeRoot: join(dir, `device-${devices++}`), trustPath: trust, log: silentLogger, ...extra });
  const refused = async (name: string, code: ErrorCode, prepare: () => Promise<unknown>, extra: Partial<UpdateRequest> = {}) => {
    await writeFile(releasePath(artifacts), good);
    await prepare();
    server.reset();
    await t.rejects(run(extra), { code }, `${name}: ${code}`);
    t.same(server.blobRequests(), [], `${name}: no blob was fetched`);
    t.ok(server.requests.includes('/channels/stable/release.json'), `${name}: the release itself was fetched`);
  };

  await refused('bad signature', 'E_BAD_SIGNATURE', async () => {
    const envelope = parseEnvelopeBytes(good, 'release');
    const payload = Buffer.from(envelope.payload, 'base64').toString().replace('"version": 2', '"version": 9');
    await writeFile(releasePath(artifacts), JSON.stringify({ ...envelope, payload: Buffer.from(payload).toString('base64') }));
  });
  await refused('unknown key', 'E_UNTRUSTED_KEY', () => resignRelease(artifacts, [stranger], () => undefined));
  await refused('one key counted twice', 'E_DUPLICATE_SIGNATURE', () => resignRelease(artifacts, [a, a], () => undefined));
  await refused('below threshold', 'E_THRESHOLD', () => resignRelease(artifacts, [a, stranger], () => undefined));
  await refused('expired release', 'E_EXPIRED', () =>
    resignRelease(artifacts, [a, b], (release) => {
      release.created = new Date(Date.now() - 3 * day).toISOString();
      release.expires = new Date(Date.now() - day).toISOString();
    }),
  );
  const forPi4 = () => resignRelease(artifacts, [a, b], (release) => void (release.deviceClass = 'pi4'));
  await refused('wrong device class', 'E_DEVICE_CLASS', forPi4, { deviceClass: 'x86' });
  await refused('a class-bound release on a device of no class', 'E_DEVICE_CLASS', forPi4);
  await refused('oversized release', 'E_TOO_LARGE', () => writeFile(releasePath(artifacts), Buffer.alloc(4 * 1024 * 1024 + 1, ' ')));

  await writeFile(releasePath(artifacts), good);
  const storeRoot = join(dir, 'installed');
  t.match(await run({ storeRoot }), { changed: true, version: 2 }, 'the untouched release installs');
  await refused('rollback', 'E_ROLLBACK', () => resignRelease(artifacts, [a, b], (release) => void (release.version = 1)), { storeRoot });

  await writeFile(releasePath(artifacts), good);
  const v2 = await readPublishedRelease(artifacts);
  await resignRelease(artifacts, [a, b], (release) => {
    release.version = 4;
    release.layers = other.release.layers;
  });
  server.reset();
  await t.rejects(run(), { code: 'E_MIX_AND_MATCH', message: /layer list does not match the release/ }, 'mix-and-match: E_MIX_AND_MATCH');
  t.same(
    server.blobRequests(),
    [`/blobs/sha256/${digestHex(v2.manifest.digest)}`, `/blobs/sha256/${digestHex(v2.config.digest)}`],
    'mix-and-match: only the manifest and config the release names were fetched, no layer',
  );
});

t.test('endless metadata is cut off at its limit: a release, a root', async (t) => {
  const dir = t.testdir();
  const signer = newSigner();
  const trust = join(dir, 'root.json');
  await writeFile(trust, trustRootJson([signer]));
  let endlessPath = '';
  const requests: string[] = [];
  const server = createServer((request, response) => {
    requests.push(request.url ?? '');
    if (request.url !== endlessPath) return void response.writeHead(404).end();
    response.writeHead(200, { 'content-type': 'application/json' });
    const chunk = Buffer.alloc(64 * 1024, ' ');
    const pump = () => {
      while (response.write(chunk));
    };
    response.on('drain', pump);
    pump();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => new Promise<void>((resolve) => (server.closeAllConnections(), server.close(() => resolve()))));
  const source = openSource(`http://127.0.0.1:${(server.address() as AddressInfo).port}`);
  const run = () => update({ source, channel: 'stable', storeRoot: join(dir, 'device'), trustPath: trust, log: silentLogger });

  endlessPath = '/channels/stable/release.json';
  await t.rejects(run(), { code: 'E_TOO_LARGE', message: /release\.json is larger than the 4194304-byte limit/ });
  endlessPath = '/roots/2.json';
  await t.rejects(run(), { code: 'E_TOO_LARGE', message: /roots\/2\.json is larger than the 262144-byte limit/ });
  t.notOk(requests.some((path) => path.startsWith('/blobs/')), 'no blob was asked for');
});

t.test('the bundled applier takes --device-class and exits with the trust failure status', async (t) => {
  const { dir, artifacts, signer, trust } = await singleSignerStore(t);
  await resignRelease(artifacts, [signer], (release) => void (release.deviceClass = 'pi4'));
  const args = (deviceClass: string) => ['update', '--source', `file://${artifacts}`, '--channel', 'stable', '--store', join(dir, 'store'), '--trust', trust, '--device-class', deviceClass];
  const wrong = await runApplier(args('x86'));
  t.equal(wrong.code, APPLIER_EXIT_CODES.E_DEVICE_CLASS);
  t.match(wrong.stderr, /applier: E_DEVICE_CLASS: release 1 is for device class "pi4", this device is "x86"\n$/);
  const right = await runApplier(args('pi4'));
  t.equal(right.code, 0, right.stderr);
  t.match(right.stdout, /updated to version 1/);
});

t.test('a manifest or config the publisher would refuse as malformed is refused before any layer blob', async (t) => {
  const { dir, artifacts, signer, trust, published } = await singleSignerStore(t);
  const good = await readFile(releasePath(artifacts));
  const server = await countingServer(artifacts);
  t.teardown(() => server.close());
  const manifest = JSON.parse(await readFile(join(artifacts, blobPath(published.release.manifest.digest)), 'utf8'));
  const config = JSON.parse(await readFile(join(artifacts, blobPath(published.release.config.digest)), 'utf8'));

  /** Stores `document` as a blob and signs a release naming it as the image's `field`. */
  const nameDocument = async (field: 'manifest' | 'config', document: unknown) => {
    const bytes = Buffer.from(JSON.stringify(document));
    const digest = sha256Digest(bytes);
    await writeFile(join(artifacts, blobPath(digest)), bytes);
    await writeFile(releasePath(artifacts), good);
    await resignRelease(artifacts, [signer], (release) => void (release[field] = { ...release[field], digest, size: bytes.length }));
    return digest;
  };
  const cases: [string, 'manifest' | 'config', unknown, RegExp][] = [
    ['a layer descriptor without a media type', 'manifest', { ...manifest, layers: manifest.layers.map(({ mediaType: _, ...layer }: object & { mediaType: string }) => layer) }, /layers\[0\] has no mediaType/],
    ['a config without an os', 'config', { ...config, os: undefined }, /is not an image config \(no os\/architecture\)/],
  ];
  for (const [name, field, document, message] of cases) {
    const digest = await nameDocument(field, document);
    server.reset();
    await t.rejects(
      update({ source: openSource(server.url), channel: 'stable', storeRoot: join(dir, `device-${field}`), trustPath: trust, log: silentLogger }),
      { code: 'E_BAD_INPUT', message: new RegExp(`${field} ${digest} ${message.source}`) },
      name,
    );
    t.notOk(
      server.blobRequests().some((path) => published.release.layers.some((layer) => path.endsWith(digestHex(layer.blob.digest)))),
      `${name}: no layer blob was fetched`,
    );
  }
});
