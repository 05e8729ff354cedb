import { generateKeyPairSync } from 'node:crypto';
import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { verifyRelease } from '../../../shared/release.js';
import { loadTrustRoot } from '../../../shared/trust-root.js';
import { makeReleaseFixture, type ReleaseFixture } from '../../helpers/release-fixture.js';
import { runCli, type ProcessResult } from '../../helpers/run.js';

async function fixture(t: Test): Promise<ReleaseFixture> {
  return makeReleaseFixture(t, { files: [{ 'etc/motd': 'hello\n' }, { 'app/main.js': 'console.log(1)\n' }] });
}

function release(f: ReleaseFixture, storeDir: string, ...extra: string[]): Promise<ProcessResult> {
  return runCli(['release', '--image', f.imageReference, '--channel', 'stable', '--release-version', '1', '--key', f.keyPath, '--store', `file://${storeDir}`, ...extra]);
}

async function listing(root: string): Promise<string[]> {
  try {
    return (await readdir(root, { recursive: true })).sort();
  } catch {
    return [];
  }
}

/**
 * Runs with --json, whose error report holds the message unwrapped: the exit code, the
 * error code and a single-line message, and the store untouched.
 */
async function refused(t: Test, args: string[], exit: number, code: string, message: RegExp, storeDir: string, before: string[] = []): Promise<void> {
  const result = await runCli([...args, '--json']);
  t.equal(result.code, exit, `exit ${exit}`);
  const { error } = JSON.parse(result.stdout);
  t.equal(error.code, code);
  t.match(error.message, message);
  t.notMatch(error.message, /\n/, 'one line');
  t.same(await listing(storeDir), before, 'store untouched');
}

t.test('releases an image into a file:// store and reports it as JSON', async (t) => {
  const f = await fixture(t);
  const storeDir = join(f.workDir, 'cli-store');
  const result = await release(f, storeDir, '--json', '--expires', '30d', '--device-class', 'pi4');
  t.equal(result.code, 0, result.stderr);
  const report = JSON.parse(result.stdout);
  t.same(Object.keys(report).sort(), ['bases', 'blobsSkipped', 'blobsUploaded', 'channel', 'digest', 'images', 'location', 'unchanged', 'version']);
  t.same(report.bases, [], 'the first release of a channel has no bases');
  t.same(report.images[0].deltas, [], 'nor deltas');
  t.match(report, { channel: 'stable', version: 1, digest: f.manifestDigest, blobsUploaded: 4, blobsSkipped: 0, unchanged: false });
  t.equal(report.location, join(storeDir, 'channels', 'stable', 'release.json'));
  t.same(
    report.images[0].layers,
    f.result.layers.map((layer) => ({ digest: layer.digest, diffID: layer.diffID, sizeBytes: layer.size, uncompressedSizeBytes: layer.uncompressedSize })),
    'same layers as the library reports for the same image',
  );

  const trust = loadTrustRoot(await readFile(f.rootJsonPath));
  const { release: signed } = verifyRelease(await readFile(report.location), trust, { channel: 'stable', now: new Date(), deviceClass: 'pi4' });
  t.equal(signed.manifest.digest, f.manifestDigest);
  const lifetime = Date.parse(signed.expires) - Date.parse(signed.created);
  t.equal(lifetime, 30 * 86_400_000, '--expires 30d');
});

t.test('progress and the summary go to stderr, the release location to stdout', async (t) => {
  const f = await fixture(t);
  const storeDir = join(f.workDir, 'cli-store');
  const result = await release(f, storeDir);
  t.equal(result.code, 0, result.stderr);
  t.equal(result.stdout, `${join(storeDir, 'channels', 'stable', 'release.json')}\n`);
  t.match(result.stderr, /no earlier release of channel stable to compute deltas from: every device downloads the whole image, \d+ bytes/);
  t.match(result.stderr, /Checking layer 1\/2/);
  t.match(result.stderr, /Uploading manifest/);
  t.match(result.stderr, new RegExp(`channel stable is at version 1: ${f.manifestDigest} \\(4 blobs uploaded, 0 already present\\)`));

  const again = await release(f, storeDir, '--json');
  t.equal(again.code, 0, again.stderr);
  t.match(JSON.parse(again.stdout), { unchanged: true, blobsUploaded: 0, version: 1 });

  const human = await release(f, storeDir);
  t.match(human.stderr, /channel stable already has version 1 of sha256:[0-9a-f]{64}; nothing to do/);
});

t.test('an older version is refused with both versions named', async (t) => {
  const f = await fixture(t);
  const before = await listing(f.storeDir);
  const result = await runCli(['release', '--image', f.imageReference, '-c', 'stable', '--release-version', '1', '-k', f.keyPath, '--store', `file://${f.storeDir}`]);
  t.equal(result.code, 0, 'the same release again is fine');
  const newer = await makeReleaseFixture(t, { files: { a: 'b' }, into: f, version: 3 });
  const after = await listing(f.storeDir);
  t.ok(after.length > before.length);
  const older = ['release', '--image', f.imageReference, '-c', 'stable', '--release-version', '2', '-k', newer.keyPath, '--store', `file://${f.storeDir}`];
  await refused(t, older, 7, 'E_ROLLBACK', /^version 2 is lower than version 3, the current release of channel stable$/, f.storeDir, after);
  const human = await runCli(older);
  t.equal(human.code, 7);
  t.match(human.stderr, /Error: version 2 is lower than version 3/);
});

t.test('bad input fails with one line and a documented exit code, leaving the store untouched', async (t) => {
  const f = await fixture(t);
  const storeDir = join(f.workDir, 'untouched');
  const rsaKey = join(f.workDir, 'rsa.pem');
  await writeFile(rsaKey, generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ type: 'pkcs8', format: 'pem' }));
  const notAKey = join(f.workDir, 'not-a-key.pem');
  await writeFile(notAKey, 'hello\n');
  const notAnImage = join(f.workDir, 'plain-dir');
  await mkdir(notAnImage);
  const tagless = f.imageReference.replace(/:[^:]+$/, ':no-such-tag');
  const args = (overrides: Record<string, string>) => {
    const flags = { image: f.imageReference, channel: 'stable', 'release-version': '1', key: f.keyPath, store: `file://${storeDir}`, ...overrides };
    return ['release', ...Object.entries(flags).flatMap(([name, value]) => [`--${name}`, value])];
  };
  const cases: [string, Record<string, string>, number, string, RegExp][] = [
    ['missing key file', { key: join(f.workDir, 'nope.pem') }, 4, 'E_NOT_FOUND', /signing key .*nope\.pem does not exist/],
    ['RSA key', { key: rsaKey }, 3, 'E_BAD_INPUT', /is a rsa key; release keys are Ed25519/],
    ['public key', { key: join(f.keyPath, '..', 'release-key.pub.pem') }, 3, 'E_BAD_INPUT', /holds a public key/],
    ['not a key', { key: notAKey }, 3, 'E_BAD_INPUT', /is not a PEM private key/],
    ['invalid channel', { channel: 'Stable/../x' }, 2, 'E_USAGE', /invalid channel name "Stable\/..\/x"/],
    ['version zero', { 'release-version': '0' }, 2, 'E_USAGE', /release version "0" is not a positive integer/],
    ['version not a number', { 'release-version': 'v1.2' }, 2, 'E_USAGE', /release version "v1.2" is not a positive integer/],
    ['expiry in the past', { expires: '2001-01-01T00:00:00Z' }, 2, 'E_USAGE', /is not in the future/],
    ['tag not found', { image: tagless }, 4, 'E_NOT_FOUND', /tag no-such-tag is not in the layout/],
    ['directory that is not an image', { image: `oci:${notAnImage}:1` }, 3, 'E_NOT_AN_IMAGE', /is not an OCI image layout/],
    ['missing image directory', { image: `oci:${join(f.workDir, 'absent')}:1` }, 3, 'E_NOT_AN_IMAGE', /is not an OCI image layout/],
    ['unsupported store', { store: 'ftp://host/prefix' }, 2, 'E_USAGE', /unsupported store URL "ftp:\/\/host\/prefix": supported forms are <dir>, file:\/\/<dir>, s3:\/\/<bucket>\[\/<prefix>\]/],
    ['plain HTTP store', { store: 'http://host/prefix' }, 2, 'E_USAGE', /unsupported store URL "http:\/\/host\/prefix"/],
  ];
  for (const [name, overrides, exit, code, message] of cases) {
    await t.test(name, async (t) => refused(t, args(overrides), exit, code, message, storeDir));
  }
});

const appSource = (version: number) => Array.from({ length: 3000 }, (_, i) => `line ${i}: ${(i * 7919) % 1009} ${i === 1500 ? `v${version}` : ''}`).join('\n');

/** Version 1 released into a store, and version 2's image (built, not released). */
async function twoVersions(t: Test): Promise<{ v1: ReleaseFixture; v2: ReleaseFixture; args: (...extra: string[]) => string[] }> {
  const v1 = await makeReleaseFixture(t, { files: [{ 'etc/motd': 'hello\n' }, { 'app/main.js': appSource(1) }] });
  const v2 = await makeReleaseFixture(t, { files: [{ 'etc/motd': 'hello\n' }, { 'app/main.js': appSource(2) }] });
  const args = (...extra: string[]) => ['release', '--image', v2.imageReference, '--channel', 'stable', '--release-version', '2', '--key', v1.keyPath, '--store', v1.storeDir, ...extra];
  return { v1, v2, args };
}

t.test('deltas by default: a release carries deltas from the channel\'s newest release and says what its devices download', async (t) => {
  const { v1, args } = await twoVersions(t);
  const run = await runCli(args('--json'));
  t.equal(run.code, 0, run.stderr);
  const report = JSON.parse(run.stdout);
  const [image] = report.images;
  t.equal(image.deltas.length, 1, 'one delta: the app layer (the other layer is shared)');
  t.match(image.deltas[0], { baseDigest: v1.manifestDigest, targetLayer: image.layers[1].diffID });
  const fullBytes = image.layers[0].sizeBytes + image.layers[1].sizeBytes;
  t.same(report.bases, [{ platform: image.platform, digest: v1.manifestDigest, version: 1, downloadBytes: image.deltas[0].sizeBytes, fullBytes }], 'devices on version 1 fetch the delta only');
  t.ok(report.bases[0].downloadBytes < image.layers[1].sizeBytes, 'the delta is smaller than the layer');

  const human = await runCli(['release', '--image', v1.imageReference, '--channel', 'beta', '--release-version', '1', '--key', v1.keyPath, '--store', v1.storeDir]);
  t.equal(human.code, 0, human.stderr);
  t.match(human.stderr, /no earlier release of channel beta to compute deltas from: every device downloads the whole image, \d+ bytes/, 'a first release says it has no bases');
});

t.test('the human summary names each base\'s download against the full size', async (t) => {
  const { args } = await twoVersions(t);
  const run = await runCli(args());
  t.equal(run.code, 0, run.stderr);
  const [, download, full, percent] = /devices on version 1 download (\d+) of (\d+) bytes \((\d+\.\d+)%\)/.exec(run.stderr) ?? [];
  t.ok(download && full && Number(download) < Number(full), run.stderr);
  t.ok(Number(percent) < 1, 'a one-line change costs under 1% of the image');
  t.equal(Number(percent), Number(((100 * Number(download)) / Number(full)).toPrecision(2)), 'the share, to two significant digits below 1%');
});

t.test('--no-deltas and --base-releases 0 publish full layers only; --no-deltas refuses bases', async (t) => {
  const { v1, args } = await twoVersions(t);
  const none = await runCli(args('--no-deltas'));
  t.equal(none.code, 0, none.stderr);
  t.match(none.stderr, /no deltas \(--no-deltas\): every device downloads the whole image/);
  const trust = loadTrustRoot(await readFile(v1.rootJsonPath));
  const { release: signed } = verifyRelease(await readFile(join(v1.storeDir, 'channels', 'stable', 'release.json')), trust, { channel: 'stable', now: new Date() });
  t.same([signed.version, signed.deltas], [2, []], 'version 2 went out without deltas');
  const other = await twoVersions(t);
  const zero = JSON.parse((await runCli(other.args('--base-releases', '0', '--json'))).stdout);
  t.same(zero.bases, [], '--base-releases 0: no bases although the channel has a release');
  t.same(zero.images[0].deltas, []);
  for (const extra of [['--base', v1.imageReference], ['--base-releases', '2']]) {
    const conflict = await runCli(args('--no-deltas', ...extra, '--json'));
    t.equal(conflict.code, 2, `--no-deltas ${extra[0]} is a usage error`);
    t.match(JSON.parse(conflict.stdout).error, { code: 'E_USAGE', message: /--no-deltas releases without deltas/ });
  }
});

t.test('the old spellings -v, --version and --to still work, each with a deprecation warning', async (t) => {
  const f = await fixture(t);
  const storeDir = join(f.workDir, 'cli-store');
  const run = await runCli(['release', '--image', f.imageReference, '-c', 'stable', '-v', '1', '-k', f.keyPath, '--to', storeDir]);
  t.equal(run.code, 0, run.stderr);
  t.equal(run.stdout, `${join(storeDir, 'channels', 'stable', 'release.json')}\n`);
  t.match(run.stderr, /^Warning: .*"-v" .*deprecated.*--release-version/m);
  t.match(run.stderr, /^Warning: .*"--to" .*deprecated.*--store/m);
  t.equal(run.stderr.split('\n').filter((line) => line.startsWith('Warning:')).length, 2, 'each warning once');
  const long = await runCli(['release', '--image', f.imageReference, '-c', 'stable', '--version', '1', '-k', f.keyPath, '--store', storeDir]);
  t.equal(long.code, 0, long.stderr);
  t.match(long.stderr, /^Warning: .*"--version" .*deprecated.*--release-version/m);
  const json = await runCli(['release', '--image', f.imageReference, '-c', 'stable', '-v', '1', '-k', f.keyPath, '--to', storeDir, '--json']);
  t.equal(JSON.parse(json.stdout).unchanged, true, 'under --json stdout is the result alone');
});
