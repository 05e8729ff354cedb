import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { digestHex } from '../../../shared/digest.js';
import { verifyRelease } from '../../../shared/release.js';
import { loadTrustRoot } from '../../../shared/trust-root.js';
import { runApplier } from '../../helpers/applier-bundle.js';
import { makeReleaseFixture, type FileTree, type ReleaseFixture } from '../../helpers/release-fixture.js';
import { runCli } from '../../helpers/run.js';

const library = randomBytes(300_000).toString('base64');
const base: FileTree = { 'etc/os-release': 'ID=fixture\n', 'lib/big.js': library };
const app = (version: number): FileTree => ({
  'app/main.js': `console.log(${version});\n`.repeat(200),
  'app/lib.js': library.slice(0, 200_000) + `// v${version}\n` + library.slice(200_000),
});

/** v1 released in full; v2's image built (and released as the fixture does, without deltas). */
async function versions(t: Test): Promise<{ v1: ReleaseFixture; v2: ReleaseFixture }> {
  const v1 = await makeReleaseFixture(t, { files: [base, app(1)] });
  const v2 = await makeReleaseFixture(t, { files: [base, app(2)], channel: 'next' });
  return { v1, v2 };
}

t.test('prtiql delta writes a delta for each layer the base lacks and records the pair', async (t) => {
  const { v1, v2 } = await versions(t);
  const out = join(t.testdir(), 'store');
  const first = await runCli(['delta', '--from', v1.imageReference, '--to', v2.imageReference, '--store', out, '--json']);
  t.equal(first.code, 0, first.stderr);
  const report = JSON.parse(first.stdout);
  t.equal(report.reused, false);
  t.equal(report.baseDigest, v1.manifestDigest);
  t.equal(report.targetDigest, v2.manifestDigest);
  t.equal(report.location, join(out, 'deltas', digestHex(v1.manifestDigest), `${digestHex(v2.manifestDigest)}.json`));
  t.same(report.fullLayers, []);
  t.same(report.sharedLayers, [v1.result.layers[0].diffID], 'the unchanged base layer costs nothing');
  t.equal(report.deltas.length, 1);
  const [delta] = report.deltas;
  t.equal(delta.targetLayer, v2.result.layers[1].diffID);
  t.equal(delta.baseDigest, v1.manifestDigest);
  t.same(delta.basisLayers.length > 0 && delta.basisLayers.every((d: string) => v1.result.layers.some((l) => l.diffID === d)), true);
  const appGzip = v2.result.layers[1].size;
  t.ok(delta.sizeBytes * 30 < appGzip, `delta ${delta.sizeBytes} bytes vs gzip layer ${appGzip} bytes`);
  t.equal(delta.ratio, Number((appGzip / delta.sizeBytes).toFixed(2)));
  t.same([report.downloadBytes, report.fullBytes], [delta.sizeBytes, v2.result.layers[0].size + appGzip], 'a device on the base downloads the delta only');
  const blob = await readFile(join(out, 'blobs/sha256', digestHex(delta.digest)));
  t.equal(blob.length, delta.sizeBytes);
  const record = JSON.parse(await readFile(report.location, 'utf8'));
  t.same(record.deltas.map((recorded: { blob: { digest: string } }) => recorded.blob.digest), [delta.digest]);

  const again = await runCli(['delta', '--from', v1.imageReference, '--to', v2.imageReference, '--store', out]);
  t.equal(again.stdout, `${report.location}\n`, 'in human mode stdout holds the record\'s location');
  t.match(again.stderr, /^reused 1 delta\(s\)/m, 'a second job reuses the record');
  const old = await runCli(['delta', '--from', v1.imageReference, '--to', v2.imageReference, '--out', out]);
  t.equal(old.code, 0, old.stderr);
  t.match(old.stderr, /^Warning: .*"--out" .*deprecated.*--store/m, '--out still works, with a deprecation warning');
});

t.test('release --base carries the delta, chunk hashes included, and a device applies it', async (t) => {
  const { v1, v2 } = await versions(t);
  const device = join(t.testdir(), 'device');
  const update = () => runApplier(['update', '--source', `file://${v1.storeDir}`, '--channel', 'stable', '--store', device, '--trust', v1.rootJsonPath]);
  t.equal((await update()).code, 0);

  const released = await runCli([
    'release', '--image', v2.imageReference, '--channel', 'stable', '--release-version', '2', '--key', v1.keyPath, '--store', v1.storeDir, '--base', v1.imageReference, '--json',
  ]);
  t.equal(released.code, 0, released.stderr);
  const report = JSON.parse(released.stdout);
  t.equal(report.images[0].deltas.length, 1);
  const { release } = verifyRelease(await readFile(join(v1.storeDir, 'channels/stable/release.json')), loadTrustRoot(await readFile(v1.rootJsonPath)), {
    channel: 'stable',
    now: new Date(),
  });
  t.equal(release.deltas.length, 1);
  t.match(release.deltas[0], { base: v1.manifestDigest, target: v2.result.layers[1].diffID, blob: { digest: report.images[0].deltas[0].digest } });
  t.equal(release.deltas[0].blob.chunks.length, Math.ceil(release.deltas[0].blob.size / release.deltas[0].blob.chunkSize));

  const applied = await update();
  t.equal(applied.code, 0, applied.stderr);
  const installed = applied.stderr.split('\n').filter((l) => l.includes('"layer.installed"')).map((l) => JSON.parse(l));
  t.match(installed, [{ via: 'delta', transferred: report.images[0].deltas[0].sizeBytes }]);
  t.equal(report.bases.find((base: { version?: number }) => base.version === 1)?.downloadBytes, report.images[0].deltas[0].sizeBytes, 'what the summary said devices on version 1 download');
  const lib = await readFile(join(device, 'layers', digestHex(v2.result.layers[1].diffID), 'app/lib.js'), 'utf8');
  t.equal(lib, app(2)['app/lib.js']);
});

t.test('bad references fail with one line and a documented exit code', async (t) => {
  const { v1 } = await versions(t);
  const out = join(t.testdir(), 'store');
  const missing = await runCli(['delta', '--from', v1.imageReference, '--to', 'oci:/nonexistent/layout:v9', '--store', out, '--json']);
  t.equal(missing.code, 3);
  t.equal(JSON.parse(missing.stdout).error.code, 'E_NOT_AN_IMAGE');
  const usage = await runCli(['delta', '--from', v1.imageReference, '--store', out]);
  t.equal(usage.code, 2);
  t.equal(usage.stderr.trim().split('\n').length, 1, usage.stderr);
});
