import { chmod, readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import t from 'tap';
import { createPublicKey } from 'node:crypto';
import { loadTrustRoot, trustRootPayload } from '../../../shared/trust-root.js';
import { verifyTimestamp } from '../../../shared/timestamp.js';
import { generateReleaseKey, loadPrivateKey, signTrustRoot } from '../../../cli/src/lib/keys.js';
import { runApplier } from '../../helpers/applier-bundle.js';
import { buildAppImage } from '../../helpers/app-image.js';
import { runCli } from '../../helpers/run.js';

/**
 * The external signer the docs describe, with openssl: the private key stays in a file only this
 * script reads; prtiql sees the public key and signatures. OpenSSL 3.0's pkeyutl signs Ed25519
 * messages from a file only (it needs their size), hence the temporary file.
 */
async function opensslSigner(dir: string, keyPath: string, signature = 'openssl pkeyutl -sign -rawin -inkey "$KEY" -in "$MESSAGE"'): Promise<string> {
  const script = join(dir, `signer-${Math.random().toString(36).slice(2)}.sh`);
  await writeFile(
    script,
    `#!/bin/sh
set -eu
KEY=${JSON.stringify(keyPath)}
case "$PRTIQL_SIGNER_OPERATION" in
  public-key) openssl pkey -in "$KEY" -pubout ;;
  sign) MESSAGE=$(mktemp); trap 'rm -f "$MESSAGE"' EXIT; cat > "$MESSAGE"; ${signature} ;;
  *) echo "unknown operation $PRTIQL_SIGNER_OPERATION" >&2; exit 2 ;;
esac
`,
  );
  await chmod(script, 0o700);
  return script;
}

async function listing(root: string): Promise<string[]> {
  return (await readdir(root, { recursive: true }).catch(() => [])).sort();
}

t.test('--key exec:<command>: an external signer signs the release, and a device verifies it', async (t) => {
  const dir = t.testdir();
  const keys = await generateReleaseKey(join(dir, 'keys'));
  const image = `oci:${join(dir, 'image')}:1`;
  await buildAppImage(t, image, 1);
  const store = join(dir, 'store');
  const signer = await opensslSigner(dir, keys.privateKey);

  const result = await runCli(['release', '--image', image, '-c', 'stable', '--release-version', '1', '--key', `exec:${signer}`, '--store', store, '--json']);
  t.equal(result.code, 0, result.stderr);
  const envelope = JSON.parse(await readFile(join(store, 'channels/stable/release.json'), 'utf8'));
  t.equal(envelope.signatures.length, 1);
  t.equal(envelope.signatures[0].keyid, keys.keyId, 'signed under the key id of the public key the signer printed');

  const device = await runApplier(['update', '--source', pathToFileURL(store).href, '--channel', 'stable', '--store', join(dir, 'device'), '--trust', keys.trustRoot]);
  t.equal(device.code, 0, device.stderr);
  t.match(device.stdout, /updated to version 1/, 'the device verified and installed the externally signed release');
});

t.test('a signer that fails or answers garbage: E_SIGNER, one line, nothing published', async (t) => {
  const dir = t.testdir();
  const keys = await generateReleaseKey(join(dir, 'keys'));
  const other = await generateReleaseKey(join(dir, 'other'));
  const image = `oci:${join(dir, 'image')}:1`;
  await buildAppImage(t, image, 1);
  const cases: [string, string, RegExp][] = [
    ['fails', await opensslSigner(dir, keys.privateKey, 'echo "KMS: AccessDeniedException" >&2; exit 3'), /"sign" failed with exit status 3: KMS: AccessDeniedException$/],
    ['answers garbage', await opensslSigner(dir, keys.privateKey, 'echo "not a signature"'), /its "sign" answer \(16 bytes\) is not an Ed25519 signature/],
    ['signs with another key', await opensslSigner(dir, keys.privateKey, `openssl pkeyutl -sign -rawin -inkey ${other.privateKey} -in "$MESSAGE"`), /its signature does not verify against its public key \(key id [0-9a-f]{64}\)$/],
    ['random bytes', await opensslSigner(dir, keys.privateKey, 'head -c 64 /dev/urandom'), /does not verify against its public key/],
  ];
  for (const [name, signer, message] of cases) {
    const store = join(dir, `store-${name.replaceAll(' ', '-')}`);
    const result = await runCli(['release', '--image', image, '-c', 'stable', '--release-version', '1', '--key', `exec:${signer}`, '--store', store, '--json']);
    t.equal(result.code, 13, `${name}: exit 13`);
    const { error } = JSON.parse(result.stdout);
    t.equal(error.code, 'E_SIGNER', name);
    t.match(error.message, message, name);
    t.match(error.message, `signing key exec:${signer}`, `${name}: names the signer`);
    t.notMatch(error.message, /\n/, 'one line');
    t.notOk((await listing(store)).some((path) => path.startsWith('channels')), `${name}: no release and no history was written`);
  }

  const noKey = await runCli(['release', '--image', image, '-c', 'stable', '--release-version', '1', '--key', 'exec:echo hello', '--store', join(dir, 'store-none'), '--json']);
  t.equal(noKey.code, 13);
  t.match(JSON.parse(noKey.stdout).error.message, /its "public-key" answer is not a PEM public key$/);
  t.same(await listing(join(dir, 'store-none')), [], 'a signer without a public key stops the release before anything is read or written');
});

t.test('exec: signers for the release and the timestamp keys: devices whose root names timestamp keys verify both; `prtiql timestamp` renews through its signer', async (t) => {
  const dir = t.testdir();
  const releaseKeys = await generateReleaseKey(join(dir, 'release'));
  const timestampKeys = await generateReleaseKey(join(dir, 'timestamp'));
  const releaseKey = await loadPrivateKey(releaseKeys.privateKey);
  const timestampPublic = createPublicKey(await loadPrivateKey(timestampKeys.privateKey));
  const root = join(dir, 'root.json');
  await writeFile(root, signTrustRoot(trustRootPayload([createPublicKey(releaseKey)], 1, 1, { publicKeys: [timestampPublic], threshold: 1 }), [releaseKey]));
  const image = `oci:${join(dir, 'image')}:1`;
  await buildAppImage(t, image, 1);
  const store = join(dir, 'store');
  const releaseSigner = await opensslSigner(dir, releaseKeys.privateKey);
  const timestampSigner = await opensslSigner(dir, timestampKeys.privateKey);

  const released = await runCli(['release', '--image', image, '-c', 'stable', '--release-version', '1', '--key', `exec:${releaseSigner}`, '--timestamp-key', `exec:${timestampSigner}`, '--root', root, '--store', store]);
  t.equal(released.code, 0, released.stderr);
  const device = await runApplier(['update', '--source', pathToFileURL(store).href, '--channel', 'stable', '--store', join(dir, 'device'), '--trust', root]);
  t.equal(device.code, 0, device.stderr);
  t.match(device.stdout, /updated to version 1/, 'the device verified the release and its timestamp, both signed by exec: signers');

  const first = verifyTimestamp(await readFile(join(store, 'channels/stable/timestamp.json')), loadTrustRoot(await readFile(root)), { channel: 'stable', now: new Date() });
  const renewed = await runCli(['timestamp', '-c', 'stable', '--key', `exec:${timestampSigner}`, '--store', store, '--expires', '2d', '--json']);
  t.equal(renewed.code, 0, renewed.stderr);
  const second = verifyTimestamp(await readFile(join(store, 'channels/stable/timestamp.json')), loadTrustRoot(await readFile(root)), { channel: 'stable', now: new Date() });
  t.ok(Date.parse(second.expires) > Date.parse(first.expires), 'the renewed timestamp verifies under the root and lasts longer');

  const garbage = await opensslSigner(dir, timestampKeys.privateKey, 'head -c 64 /dev/urandom');
  const refused = await runCli(['timestamp', '-c', 'stable', '--key', `exec:${garbage}`, '--store', store, '--json']);
  t.equal(refused.code, 13);
  t.equal(JSON.parse(refused.stdout).error.code, 'E_SIGNER');
  const kept = verifyTimestamp(await readFile(join(store, 'channels/stable/timestamp.json')), loadTrustRoot(await readFile(root)), { channel: 'stable', now: new Date() });
  t.equal(kept.expires, second.expires, 'a failing timestamp signer leaves the timestamp as it was');
});
