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
  t.same(Object.keys(report).sort(), ['blobsSkipped', 'blobsUploaded', 'channel', 'deltas', 'layers', 'manifestDigest', 'release', 'unchanged', 'version']);
    t.same(report.deltas, [], 'no --base, no deltas');
  t.match(report, { channel: 'stable', version: 1, manifestDigest: f.manifestDigest, blobsUploaded: 4, blobsSkipped: 0, unchanged: false });
  t.equal(report.release, join(storeDir, 'channels', 'stable', 'release.json'));
  t.same(report.layers, f.result.layers, 'same layers as the library reports for the same image');

  const trust = loadTrustRoot(await readFile(f.rootJsonPath));
  const { release: signed } = verifyRelease(await readFile(report.release), trust, { channel: 'stable', now: new Date(), deviceClass: 'pi4' });
  t.equal(signed.manifest.digest, f.manifestDigest);
  const lifetime = Date.parse(signed.expires) - Date.parse(signed.created);
  t.equal(lifetime, 30 * 86_400_000, '--expires 30d');
});

t.test('progress goes to stderr, the summary names the channel and version', async (t) => {
  const f = await fixture(t);
  const storeDir = join(f.workDir, 'cli-store');
  const result = await release(f, storeDir);
  t.equal(result.code, 0, result.stderr);
  t.equal(result.stdout, '');
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
    const flags = { image: f.imageReference, channel: 'stable', version: '1', key: f.keyPath, to: `file://${storeDir}`, ...overrides };
    return ['release', ...Object.entries(flags).flatMap(([name, value]) => [`--${name}`, value])];
  };
  const cases: [string, Record<string, string>, number, string, RegExp][] = [
    ['missing key file', { key: join(f.workDir, 'nope.pem') }, 4, 'E_NOT_FOUND', /signing key .*nope\.pem does not exist/],
    ['RSA key', { key: rsaKey }, 3, 'E_BAD_INPUT', /is a rsa key; release keys are Ed25519/],
    ['public key', { key: join(f.keyPath, '..', 'release-key.pub.pem') }, 3, 'E_BAD_INPUT', /holds a public key/],
    ['not a key', { key: notAKey }, 3, 'E_BAD_INPUT', /is not a PEM private key/],
    ['invalid channel', { channel: 'Stable/../x' }, 2, 'E_USAGE', /invalid channel name "Stable\/..\/x"/],
    ['version zero', { version: '0' }, 2, 'E_USAGE', /release version "0" is not a positive integer/],
    ['version not a number', { version: 'v1.2' }, 2, 'E_USAGE', /release version "v1.2" is not a positive integer/],
    ['expiry in the past', { expires: '2001-01-01T00:00:00Z' }, 2, 'E_USAGE', /is not in the future/],
    ['tag not found', { image: tagless }, 4, 'E_NOT_FOUND', /tag no-such-tag is not in the layout/],
    ['directory that is not an image', { image: `oci:${notAnImage}:1` }, 3, 'E_NOT_AN_IMAGE', /is not an OCI image layout/],
    ['missing image directory', { image: `oci:${join(f.workDir, 'absent')}:1` }, 3, 'E_NOT_AN_IMAGE', /is not an OCI image layout/],
    ['unsupported store', { to: 'ftp://host/prefix' }, 2, 'E_USAGE', /unsupported store URL "ftp:\/\/host\/prefix": supported forms are <dir>, file:\/\/<dir>, s3:\/\/<bucket>\[\/<prefix>\]/],
    ['plain HTTP store', { to: 'http://host/prefix' }, 2, 'E_USAGE', /unsupported store URL "http:\/\/host\/prefix"/],
  ];
  for (const [name, overrides, exit, code, message] of cases) {
    await t.test(name, async (t) => refused(t, args(overrides), exit, code, message, storeDir));
  }
});
