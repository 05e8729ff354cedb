import { spawnSync } from 'node:child_process';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { Readable } from 'node:stream';
import { pathToFileURL } from 'node:url';
import t, { type Test } from 'tap';
import { createDeltaPlanner } from '../../../cli/src/lib/delta/planner.js';
import { encodeDelta } from '../../../shared/delta/writer.js';
import type { DeltaOp } from '../../../shared/delta/format.js';
import { digestHex, sha256Digest, type Digest } from '../../../shared/digest.js';
import type { ReleaseDelta } from '../../../shared/release.js';
import { readCapped } from '../../../shared/capped-read.js';
import { runApplier } from '../../helpers/applier-bundle.js';
import { newSigner, publishDelta, publishTestRelease, trustRootJson, type FixtureEntry, type PublishedRelease, type Signer } from '../../helpers/signed-artifact-store.js';

const DATA_SIZE = 2 * 1024 * 1024 + 5;
const base: FixtureEntry[] = [
  { path: 'etc', type: 'directory', mode: 0o755 },
  { path: 'etc/os-release', type: 'file', mode: 0o644, content: 'ID=fixture\n' },
];
const app = (version: number): FixtureEntry[] => [
  { path: 'app', type: 'directory', mode: 0o755 },
  { path: 'app/data.bin', type: 'file', mode: 0o644, content: Buffer.alloc(DATA_SIZE, version) },
  { path: 'app/version', type: 'file', mode: 0o644, content: `${version}\n` },
];

interface Device {
  artifacts: string;
  store: string;
  signer: Signer;
  update(): Promise<{ code: number | null; stderr: string; events: Record<string, unknown>[] }>;
}

async function device(t: Test): Promise<Device> {
  const dir = t.testdir();
  const artifacts = join(dir, 'artifacts');
  const store = join(dir, 'store');
  const trust = join(dir, 'root.json');
  const signer = newSigner();
  await mkdir(artifacts);
  await writeFile(trust, trustRootJson([signer]));
  return {
    artifacts,
    store,
    signer,
    update: async () => {
      const result = await runApplier(['update', '--source', pathToFileURL(artifacts).href, '--channel', 'stable', '--store', store, '--trust', trust]);
      const events = result.stderr
        .split('\n')
        .filter((line) => line.startsWith('{'))
        .map((line) => JSON.parse(line) as Record<string, unknown>);
      return { code: result.code, stderr: result.stderr, events };
    },
  };
}

/**
 * The app layer of v2 rebuilt from v1's: tar headers as literals, data.bin as a bsdiff-style
 * patch of v1's data.bin (every byte +1), the rest as literals.
 */
async function appDelta(v1: PublishedRelease, v2: PublishedRelease): Promise<Buffer> {
  const oldLayer = v1.release.layers[1];
  const oldTar = v1.layerTars[1];
  const oldDataStart = oldTar.indexOf(Buffer.alloc(1024, 1));
  const target = v2.layerTars[1];
  const dataStart = target.indexOf(Buffer.alloc(1024, 2));
  const header = {
    target: { diffID: sha256Digest(target), size: target.length },
    bases: [{ kind: 'tar' as const, layer: oldLayer.diffID, size: oldTar.length }],
  };
  const ops: DeltaOp[] = [
    { type: 'literal', bytes: target.subarray(0, dataStart) },
    { type: 'patch', window: [{ basis: 0, offset: oldDataStart, length: DATA_SIZE }], start: 0, triples: [{ diff: Buffer.alloc(DATA_SIZE, 1), extra: Buffer.alloc(0), seek: 0 }] },
    { type: 'literal', bytes: target.subarray(dataStart + DATA_SIZE) },
  ];
  return readCapped(encodeDelta(header, ops), 1 << 26, 'delta');
}

function addDelta(d: Device, v2: PublishedRelease, base: Digest, basisLayer: Digest, blob: Buffer): Promise<ReleaseDelta> {
  return publishDelta(d.artifacts, v2, { base, layer: 1, basisLayers: [basisLayer], blob }, [d.signer]);
}

async function layerContent(d: Device, diffID: Digest, path: string): Promise<Buffer> {
  return readFile(join(d.store, 'layers', digestHex(diffID), path));
}

const fetched = (events: Record<string, unknown>[]) => events.filter((e) => e.event === 'layer.fetch').map((e) => e.via);

t.test('a delta from the installed image rebuilds the layer, and only the delta is fetched', async (t) => {
  const d = await device(t);
  const v1 = await publishTestRelease({ storeDir: d.artifacts, channel: 'stable', version: 1, layers: [base, app(1)], signers: [d.signer] });
  t.equal((await d.update()).code, 0);
  const v2 = await publishTestRelease({ storeDir: d.artifacts, channel: 'stable', version: 2, layers: [base, app(2)], signers: [d.signer] });
  const delta = await addDelta(d, v2, v1.manifestDigest, v1.release.layers[1].diffID, await appDelta(v1, v2));
  t.ok(delta.blob.size < v2.release.layers[1].blob.size, `the delta (${delta.blob.size} bytes) is smaller than the gzip layer`);

  const result = await d.update();
  t.equal(result.code, 0, result.stderr);
  t.same(fetched(result.events), ['delta'], 'the app layer came from the delta; the base layer was already there');
  const installed = result.events.find((e) => e.event === 'layer.installed');
  t.match(installed, { via: 'delta', transferred: delta.blob.size });
  t.ok((await layerContent(d, v2.release.layers[1].diffID, 'app/data.bin')).equals(Buffer.alloc(DATA_SIZE, 2)));
  t.equal((await layerContent(d, v2.release.layers[1].diffID, 'app/version')).toString(), '2\n');
});

t.test('a basis file changed on the device makes the delta fail its diffID; the full layer is installed', async (t) => {
  const d = await device(t);
  const v1 = await publishTestRelease({ storeDir: d.artifacts, channel: 'stable', version: 1, layers: [base, app(1)], signers: [d.signer] });
  t.equal((await d.update()).code, 0);
  const corrupted = join(d.store, 'layers', digestHex(v1.release.layers[1].diffID), 'app/data.bin');
  const bytes = await readFile(corrupted);
  bytes[1000] ^= 0xff;
  await writeFile(corrupted, bytes);

  const v2 = await publishTestRelease({ storeDir: d.artifacts, channel: 'stable', version: 2, layers: [base, app(2)], signers: [d.signer] });
  await addDelta(d, v2, v1.manifestDigest, v1.release.layers[1].diffID, await appDelta(v1, v2));
  const result = await d.update();
  t.equal(result.code, 0, result.stderr);
  t.same(fetched(result.events), ['delta', 'full'], 'tried the delta, then fetched the full layer');
  t.match(result.events.find((e) => e.event === 'layer.delta-failed'), { fallback: 'full', error: /digest/ });
  t.ok((await layerContent(d, v2.release.layers[1].diffID, 'app/data.bin')).equals(Buffer.alloc(DATA_SIZE, 2)), 'the layer is right');
  t.same(await readFile(join(d.store, 'staging')).catch((e: NodeJS.ErrnoException) => e.code), 'ENOENT', 'staging is gone');
});

t.test('a delta from another base image is never used', async (t) => {
  const d = await device(t);
  const v1 = await publishTestRelease({ storeDir: d.artifacts, channel: 'stable', version: 1, layers: [base, app(1)], signers: [d.signer] });
  t.equal((await d.update()).code, 0);
  const v2 = await publishTestRelease({ storeDir: d.artifacts, channel: 'stable', version: 2, layers: [base, app(2)], signers: [d.signer] });
  await addDelta(d, v2, sha256Digest('some other image'), v1.release.layers[1].diffID, await appDelta(v1, v2));
  const result = await d.update();
  t.equal(result.code, 0, result.stderr);
  t.same(fetched(result.events), ['full']);
});

t.test('a delta whose basis layer is missing is not tried', async (t) => {
  const d = await device(t);
  const v1 = await publishTestRelease({ storeDir: d.artifacts, channel: 'stable', version: 1, layers: [base, app(1)], signers: [d.signer] });
  t.equal((await d.update()).code, 0);
  const v2 = await publishTestRelease({ storeDir: d.artifacts, channel: 'stable', version: 2, layers: [base, app(2)], signers: [d.signer] });
  await addDelta(d, v2, v1.manifestDigest, sha256Digest('a layer this device never had'), await appDelta(v1, v2));
  const result = await d.update();
  t.equal(result.code, 0, result.stderr);
  t.same(fetched(result.events), ['full']);
});

/** A Debian-style changelog compressed the way dh_compress does it (gzip -9n); each version prepends an entry. */
function changelogGz(version: number): Buffer {
  const entries = Array.from({ length: 1500 + version }, (_, i) => `app (1.${i}) stable; urgency=medium\n\n  * Change ${sha256Digest(String(i)).slice(7, 47)}.\n\n`);
  const result = spawnSync('gzip', ['-9n'], { input: Buffer.from(entries.reverse().join('')) });
  if (result.status !== 0) throw new Error(`gzip failed: ${result.stderr}`);
  return result.stdout;
}

const docs = (version: number): FixtureEntry[] => [
  { path: 'doc', type: 'directory', mode: 0o755 },
  { path: 'doc/changelog.gz', type: 'file', mode: 0o644, content: changelogGz(version) },
];

/** The planner's delta from v1's second layer to v2's, built beside the device's artifacts. */
async function plannedDelta(t: Test, d: Device, v1: PublishedRelease, v2: PublishedRelease): Promise<Buffer> {
  const layer = (tar: Buffer) => ({ diffID: sha256Digest(tar), openUncompressed: async () => Readable.from([tar]) });
  const dir = join(dirname(d.artifacts), 'planner');
  await mkdir(dir);
  const planner = await createDeltaPlanner([layer(v1.layerTars[1])], { workDir: dir });
  try {
    const result = await planner.plan(layer(v2.layerTars[1]), join(dir, 'delta'));
    t.equal(result.stats.files.deflateMember, 1, 'the changelog travels as a deflate member');
    return await readFile(join(dir, 'delta'));
  } finally {
    await planner.close();
  }
}

t.test('a gzip member is rebuilt on the device from its old version inflated and re-deflated', async (t) => {
  const d = await device(t);
  const v1 = await publishTestRelease({ storeDir: d.artifacts, channel: 'stable', version: 1, layers: [base, docs(1)], signers: [d.signer] });
  t.equal((await d.update()).code, 0);
  const v2 = await publishTestRelease({ storeDir: d.artifacts, channel: 'stable', version: 2, layers: [base, docs(2)], signers: [d.signer] });
  const delta = await addDelta(d, v2, v1.manifestDigest, v1.release.layers[1].diffID, await plannedDelta(t, d, v1, v2));
  t.ok(delta.blob.size * 10 < changelogGz(2).length, `the delta (${delta.blob.size} bytes) is a fraction of the changelog (${changelogGz(2).length} bytes)`);

  const result = await d.update();
  t.equal(result.code, 0, result.stderr);
  t.same(fetched(result.events), ['delta']);
  t.ok((await layerContent(d, v2.release.layers[1].diffID, 'doc/changelog.gz')).equals(changelogGz(2)), 'the gzip file is the same, byte for byte');
});

t.test('an old member that no longer inflates on the device makes the delta fail; the full layer is installed', async (t) => {
  const d = await device(t);
  const v1 = await publishTestRelease({ storeDir: d.artifacts, channel: 'stable', version: 1, layers: [base, docs(1)], signers: [d.signer] });
  t.equal((await d.update()).code, 0);
  const member = join(d.store, 'layers', digestHex(v1.release.layers[1].diffID), 'doc/changelog.gz');
  const bytes = await readFile(member);
  bytes.fill(0xff, 100, 200);
  await writeFile(member, bytes);

  const v2 = await publishTestRelease({ storeDir: d.artifacts, channel: 'stable', version: 2, layers: [base, docs(2)], signers: [d.signer] });
  await addDelta(d, v2, v1.manifestDigest, v1.release.layers[1].diffID, await plannedDelta(t, d, v1, v2));
  const result = await d.update();
  t.equal(result.code, 0, result.stderr);
  t.same(fetched(result.events), ['delta', 'full'], 'tried the delta, then fetched the full layer');
  t.match(result.events.find((e) => e.event === 'layer.delta-failed'), { fallback: 'full' });
  t.ok((await layerContent(d, v2.release.layers[1].diffID, 'doc/changelog.gz')).equals(changelogGz(2)), 'the layer is right');
});
