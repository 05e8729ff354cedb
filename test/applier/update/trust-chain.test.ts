import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import t from 'tap';
import { silentLogger } from '../../../applier/log.js';
import { openSource } from '../../../applier/update/fetch/source.js';
import { MAX_ROOT_CHAIN_STEPS } from '../../../applier/update/verify/trust.js';
import { update } from '../../../applier/update/update.js';
import { signEnvelope } from '../../../shared/dsse.js';
import { MediaType } from '../../../shared/oci.js';
import { rootPath } from '../../../shared/store-layout.js';
import { loadTrustRoot, trustRootPayload } from '../../../shared/trust-root.js';
import { rotateTrustRoot } from '../../../cli/src/lib/keys.js';
import { newSigner, publishTestRelease, trustRootJson, type Signer } from '../../helpers/signed-artifact-store.js';
import { countingServer } from '../../helpers/trust-fixtures.js';

const layers = (version: number) => [[{ path: 'version', type: 'file' as const, mode: 0o644, content: `${version}\n` }]];

interface Chain {
  /** roots[i] is the root.json of version i + 1. */
  roots: Buffer[];
  /** signers[i] holds the key of root version i + 1. */
  signers: Signer[];
}

/** Versions 1..count, each rotated to a fresh key by the real `keys rotate` code. */
function rotations(count: number): Chain {
  const signers = [newSigner()];
  const roots = [trustRootJson(signers)];
  while (roots.length < count) {
    const next = newSigner();
    roots.push(rotateTrustRoot({ currentRoot: roots.at(-1)!, endorsingKeys: [signers.at(-1)!.privateKey], newKeys: [next.privateKey] }).bytes);
    signers.push(next);
  }
  return { roots, signers };
}

async function publishRoots(artifacts: string, roots: Buffer[], from: number): Promise<void> {
  await mkdir(join(artifacts, 'roots'), { recursive: true });
  for (let version = from; version <= roots.length; version++) await writeFile(join(artifacts, rootPath(version)), roots[version - 1]);
}

t.test('the applier follows published rotations one version at a time, pinning each, before it fetches the release', async (t) => {
  const dir = t.testdir();
  const artifacts = join(dir, 'artifacts');
  const storeRoot = join(dir, 'store');
  const { roots, signers } = rotations(4);
  await writeFile(join(dir, 'root-1.json'), roots[0]);
  const server = await countingServer(artifacts);
  t.teardown(() => server.close());
  const run = (trustPath?: string) => update({ source: openSource(server.url), channel: 'stable', storeRoot, trustPath, log: silentLogger });
  const pinned = () => readFile(join(storeRoot, 'trust', 'root.json'));

  await publishTestRelease({ storeDir: artifacts, channel: 'stable', version: 1, layers: layers(1), signers: [signers[0]] });
  t.match(await run(join(dir, 'root-1.json')), { changed: true, version: 1 }, 'root 1 pinned on first use');
  t.same(server.requests.slice(0, 2), ['/roots/2.json', '/channels/stable/release.json'], 'a missing next root ends the chain: normal');

  await publishRoots(artifacts, roots, 2);
  await publishTestRelease({ storeDir: artifacts, channel: 'stable', version: 2, layers: layers(2), signers: [signers[3]] });
  server.reset();
  t.match(await run(join(dir, 'root-1.json')), { changed: true, version: 2 }, 'a release by the key of root 4 installs');
  t.same(server.requests.slice(0, 5), ['/roots/2.json', '/roots/3.json', '/roots/4.json', '/roots/5.json', '/channels/stable/release.json'], 'roots first, in order');
  t.ok((await pinned()).equals(roots[3]), 'root 4 is pinned, byte for byte');
  t.match(await run(join(dir, 'root-1.json')), { changed: false }, 'the overtaken provisioning file given again is ignored');
  await t.rejects(
    run(await writeRoot(dir, 'forked-4.json', trustRootJson([signers[3], newSigner()], 1, 4))),
    { code: 'E_ROLLBACK' },
    'another root of the pinned version is refused',
  );
});

async function writeRoot(dir: string, name: string, bytes: Buffer): Promise<string> {
  await writeFile(join(dir, name), bytes);
  return join(dir, name);
}

t.test('a published root the pinned keys did not sign, or out of sequence, stops the chain; verified steps stay pinned', async (t) => {
  const dir = t.testdir();
  const artifacts = join(dir, 'artifacts');
  const { roots, signers } = rotations(2);
  const trust = await writeRoot(dir, 'root-1.json', roots[0]);
  await publishTestRelease({ storeDir: artifacts, channel: 'stable', version: 1, layers: layers(1), signers: [signers[1]] });
  const server = await countingServer(artifacts);
  t.teardown(() => server.close());
  let devices = 0;
  const run = (storeRoot = join(dir, `device-${devices++}`)) => update({ source: openSource(server.url), channel: 'stable', storeRoot, trustPath: trust, log: silentLogger });

  const intruder = newSigner();
  const selfSignedOnly = Buffer.from(
    JSON.stringify(signEnvelope(MediaType.trustRoot, Buffer.from(JSON.stringify(trustRootPayload([intruder.publicKey], 1, 2))), [intruder.privateKey])),
  );
  await publishRoots(artifacts, [roots[0], selfSignedOnly], 2);
  await t.rejects(run(), { code: 'E_UNTRUSTED_KEY', message: /trust root version 2 is not signed by any trusted key/ }, 'a root signed only by its new keys');

  const unendorsedByNew = Buffer.from(
    JSON.stringify(signEnvelope(MediaType.trustRoot, Buffer.from(JSON.stringify(trustRootPayload([intruder.publicKey], 1, 2))), [signers[0].privateKey])),
  );
  await publishRoots(artifacts, [roots[0], unendorsedByNew], 2);
  await t.rejects(run(), { code: 'E_UNTRUSTED_KEY', message: /trust root version 2 is not signed/ }, 'a root its own new keys did not sign');

  await publishRoots(artifacts, [roots[0], trustRootJson([signers[0]], 1, 3)], 2);
  await t.rejects(run(), { code: 'E_BAD_INPUT', message: /version 3 does not follow version 1/ }, 'roots/2.json holding version 3');

  const third = newSigner();
  const root3 = rotateTrustRoot({ currentRoot: roots[1], endorsingKeys: [signers[1].privateKey], newKeys: [third.privateKey] }).bytes;
  const forged4 = trustRootJson([intruder], 1, 4);
  await publishRoots(artifacts, [roots[0], roots[1], root3, forged4], 2);
  const storeRoot = join(dir, 'partial');
  await t.rejects(run(storeRoot), { code: 'E_UNTRUSTED_KEY', message: /trust root version 4/ }, 'a bad fourth root');
  t.ok((await readFile(join(storeRoot, 'trust', 'root.json'))).equals(root3), 'root 3, the last verified step, stays pinned');
  t.same(server.blobRequests(), [], 'no blob was fetched by any refused update');
});

t.test(`one update follows at most ${MAX_ROOT_CHAIN_STEPS} rotations; the next goes on from there`, async (t) => {
  const dir = t.testdir();
  const artifacts = join(dir, 'artifacts');
  const storeRoot = join(dir, 'store');
  const { roots, signers } = rotations(MAX_ROOT_CHAIN_STEPS + 3);
  const trust = await writeRoot(dir, 'root-1.json', roots[0]);
  await publishRoots(artifacts, roots, 2);
  await publishTestRelease({ storeDir: artifacts, channel: 'stable', version: 1, layers: layers(1), signers: [signers.at(-1)!] });
  const server = await countingServer(artifacts);
  t.teardown(() => server.close());
  const run = () => update({ source: openSource(server.url), channel: 'stable', storeRoot, trustPath: trust, log: silentLogger });

  await t.rejects(run(), { code: 'E_UNTRUSTED_KEY' }, 'the newest key is not reached in one update');
  t.equal(server.requests.filter((path) => path.startsWith('/roots/')).length, MAX_ROOT_CHAIN_STEPS, 'no more roots than the cap were fetched');
  t.equal(loadTrustRoot(await readFile(join(storeRoot, 'trust', 'root.json'))).root.version, MAX_ROOT_CHAIN_STEPS + 1, 'the capped chain is pinned');
  t.match(await run(), { changed: true, version: 1 }, 'the next update finishes the chain');
  t.ok((await readFile(join(storeRoot, 'trust', 'root.json'))).equals(roots.at(-1)!));
});

t.test('a store that answers 403 for missing keys (S3 read with GetObject only) ends the root chain like a 404', async (t) => {
  const dir = t.testdir();
  const artifacts = join(dir, 'artifacts');
  const { roots, signers } = rotations(2);
  await writeFile(join(dir, 'root-1.json'), roots[0]);
  await publishRoots(artifacts, roots, 2);
  await publishTestRelease({ storeDir: artifacts, channel: 'stable', version: 1, layers: layers(1), signers: [signers[1]] });
  const requests: string[] = [];
  const server = createServer(async (request, response) => {
    const path = new URL(request.url ?? '/', 'http://x').pathname;
    requests.push(path);
    try {
      response.end(await readFile(join(artifacts, path)));
    } catch {
      response.writeHead(403).end('<Error><Code>AccessDenied</Code></Error>');
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => server.close());
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const outcome = await update({ source: openSource(url), channel: 'stable', storeRoot: join(dir, 'store'), trustPath: join(dir, 'root-1.json'), log: silentLogger });
  t.match(outcome, { changed: true, version: 1 }, 'updated, following root 2 and stopping at the forbidden root 3');
  t.ok(requests.includes('/roots/3.json'), 'root 3 was asked for');
  t.equal(loadTrustRoot(await readFile(join(dir, 'store', 'trust', 'root.json'))).root.version, 2);
});
