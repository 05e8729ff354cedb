import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { parseEnvelopeBytes } from '../../../shared/dsse.js';
import { parseRelease, type Release } from '../../../shared/release.js';
import { generateReleaseKey } from '../../../cli/src/lib/keys.js';
import { buildAppImage } from '../../helpers/app-image.js';
import { resultSchema } from '../../helpers/result-schema.js';
import { runCli, type ProcessResult } from '../../helpers/run.js';
import { directoryStore, registryStore, s3Store, type StoreUnderTest } from '../../helpers/stores-under-test.js';

const validateInspect = await resultSchema('inspect');

/** `prtiql inspect --json`, which must succeed and match its schema. */
async function inspect(t: Test, target: StoreUnderTest, ...extra: string[]): Promise<any> {
  const result: ProcessResult = await runCli(['inspect', target.url, '--channel', 'stable', ...target.cliArgs, '--json', ...extra], { env: target.env });
  t.equal(result.code, 0, result.stderr);
  const report = JSON.parse(result.stdout);
  t.ok(validateInspect(report), `matches schemas/inspect.schema.json: ${JSON.stringify(validateInspect.errors)}`);
  return report;
}

async function currentRelease(target: StoreUnderTest): Promise<{ bytes: Buffer; release: Release }> {
  const bytes = (await target.store.readDocument({ kind: 'release', channel: 'stable' }))!;
  return { bytes, release: parseRelease(JSON.parse(Buffer.from(parseEnvelopeBytes(bytes, 'release').payload, 'base64').toString())) };
}

/** Two releases, the second with a delta from the first; inspected with the right root, another root, and none. */
async function inspectScenario(t: Test, target: StoreUnderTest): Promise<void> {
  const dir = t.testdir();
  const keys = await generateReleaseKey(join(dir, 'keys'));
  const stranger = await generateReleaseKey(join(dir, 'stranger'));
  for (const version of [1, 2]) {
    const image = `oci:${join(dir, 'images')}:v${version}`;
    await buildAppImage(t, image, version);
    const released = await runCli(['release', '--image', image, '-c', 'stable', '--release-version', String(version), '-k', keys.privateKey, '--store', target.url, '--base-releases', '1', ...target.cliArgs], { env: target.env });
    t.equal(released.code, 0, released.stderr);
  }
  const { release: v2 } = await currentRelease(target);

  const report = await inspect(t, target, '--trust', keys.trustRoot);
  t.match(report, { store: target.store.location, channel: 'stable', currentVersion: 2, trustRootVersion: 1 });
  t.same(report.releases.map((release: { version: number; current: boolean }) => [release.version, release.current]), [[2, true], [1, false]], 'newest first');
  const [second, first] = report.releases;
  t.equal(second.signature, 'verified', 'the current release verifies against the root');
  t.same(second.signatures, [{ keyId: keys.keyId, status: 'verified' }]);
  t.equal(second.digest, v2.manifest.digest);
  t.equal(second.expires, v2.expires);
  const [image] = second.images;
  t.match(image.platform, /^linux\/[a-z0-9]+(\/[a-z0-9]+)?$/, 'the platform as os/arch[/variant]');
  t.same(image.layers, v2.layers.map((layer) => ({ diffID: layer.diffID, digest: layer.blob.digest, sizeBytes: layer.blob.size, uncompressedSizeBytes: layer.size })));
  t.equal(image.sizeBytes, v2.layers.reduce((sum, layer) => sum + layer.blob.size, 0));
  t.equal(image.deltas.length, v2.deltas.length);
  t.ok(v2.deltas.length >= 1);
  for (const delta of image.deltas) {
    t.equal(delta.baseVersion, 1, 'the delta says which release it starts from');
    t.equal(delta.baseDigest, first.digest);
    t.equal(delta.fullSizeBytes, v2.layers.find((layer) => layer.diffID === delta.targetLayer)!.blob.size, 'against the full layer it replaces');
    t.ok(delta.sizeBytes < delta.fullSizeBytes, `${delta.sizeBytes} bytes instead of ${delta.fullSizeBytes}`);
  }
  t.equal(first.signature, 'unavailable', "an earlier release's signature is no longer in the store");
  t.same(first.images[0].deltas, [], 'no delta leads to the first release');
  t.equal(first.images[0].layers.length, 2);
  t.notOk('uncompressedSizeBytes' in first.images[0].layers[0], 'earlier releases: the sizes the manifest states');

  const foreign = await inspect(t, target, '--trust', stranger.trustRoot);
  t.match(foreign.releases[0], { signature: 'failed', signatureErrorCode: 'E_UNTRUSTED_KEY', signatures: [{ keyId: keys.keyId, status: 'untrusted' }] }, 'a root without the key: failed, the signature by an untrusted key');

  const unchecked = await inspect(t, target);
  t.equal(unchecked.releases[0].signature, 'unchecked', 'no root, no verdict');
  t.notOk('signatures' in unchecked.releases[0]);
}

for (const [name, open] of [
  ['a directory store', async (t: Test) => directoryStore(t.testdirName)],
  ['an S3 store (s3rver)', s3Store],
  ['a registry store (docker-registry)', registryStore],
] as const) {
  t.test(`inspect ${name}`, (t) => open(t).then((target) => inspectScenario(t, target)));
}

t.test('inspect reports a release whose signature was altered as failed, naming the key', async (t) => {
  const target = directoryStore(t.testdirName);
  const dir = t.testdir();
  const keys = await generateReleaseKey(join(dir, 'keys'));
  const image = `oci:${join(dir, 'images')}:v1`;
  await buildAppImage(t, image, 1);
  t.equal((await runCli(['release', '--image', image, '-c', 'stable', '--release-version', '1', '-k', keys.privateKey, '--store', target.url])).code, 0);
  const { bytes } = await currentRelease(target);
  const envelope = JSON.parse(bytes.toString());
  const signature = Buffer.from(envelope.signatures[0].sig, 'base64');
  signature[10] ^= 0x01;
  envelope.signatures[0].sig = signature.toString('base64');
  await writeFile(target.store.documentLocation({ kind: 'release', channel: 'stable' }), JSON.stringify(envelope));

  const report = await inspect(t, target, '--trust', keys.trustRoot);
  t.match(report.releases[0], { signature: 'failed', signatureErrorCode: 'E_BAD_SIGNATURE', signatures: [{ keyId: keys.keyId, status: 'failed' }] });
  const human = await runCli(['inspect', target.url, '--channel', 'stable', '--trust', keys.trustRoot]);
  t.equal(human.code, 0, 'a failed verification is a report, not an error');
  t.match(human.stderr, `signature by key ${keys.keyId}: failed`);
});
