import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import t from 'tap';
import { keyIdOf } from '../../../shared/dsse.js';
import { MediaType } from '../../../shared/oci.js';
import { loadTrustRoot } from '../../../shared/trust-root.js';
import { loadPrivateKey } from '../../../cli/src/lib/keys.js';
import { createPublicKey } from 'node:crypto';
import { runCli } from '../../helpers/run.js';

t.test('keys generate writes a private key, its public key and a self-signed trust root', async (t) => {
  const dir = join(t.testdir(), 'keys');
  const run = await runCli(['keys', 'generate', dir, '--json']);
  t.equal(run.code, 0, run.stderr);
  const result = JSON.parse(run.stdout);
  t.same(result, {
    keyId: result.keyId,
    privateKey: join(dir, 'release-key.pem'),
    publicKey: join(dir, 'release-key.pub.pem'),
    trustRoot: join(dir, 'root.json'),
  });
  t.equal((await stat(result.privateKey)).mode & 0o777, 0o600, 'the private key is readable by its owner only');

  const privateKey = await loadPrivateKey(result.privateKey);
  t.equal(privateKey.asymmetricKeyType, 'ed25519');
  t.match(await readFile(result.privateKey, 'utf8'), /^-----BEGIN PRIVATE KEY-----\n/);
  t.equal(keyIdOf(createPublicKey(privateKey)), result.keyId);
  t.equal(keyIdOf(createPublicKey(await readFile(result.publicKey, 'utf8'))), result.keyId);

  const rootBytes = await readFile(result.trustRoot);
  t.equal(JSON.parse(rootBytes.toString()).payloadType, MediaType.trustRoot);
  const { root, keys } = loadTrustRoot(rootBytes);
  t.match(root, { type: 'prtiql-root', version: 1, threshold: 1 });
  t.same([...keys.keys()], [result.keyId]);
});

t.test('existing keys are kept unless --force', async (t) => {
  const dir = t.testdir();
  const first = JSON.parse((await runCli(['keys', 'generate', dir, '--json'])).stdout);
  const pem = await readFile(first.privateKey, 'utf8');

  const refused = await runCli(['keys', 'generate', dir]);
  t.equal(refused.code, 3);
  t.match(refused.stderr, /release-key\.pem already exists; pass --force/);
  t.equal(await readFile(first.privateKey, 'utf8'), pem, 'the key was not touched');

  const forced = await runCli(['keys', 'generate', dir, '--force', '--json']);
  t.equal(forced.code, 0, forced.stderr);
  const second = JSON.parse(forced.stdout);
  t.not(second.keyId, first.keyId);
  t.equal((await stat(second.privateKey)).mode & 0o777, 0o600);
  t.same([...loadTrustRoot(await readFile(second.trustRoot)).keys.keys()], [second.keyId]);
});

t.test('in human mode stdout holds the key id alone, the paths go to stderr', async (t) => {
  const dir = join(t.testdir(), 'keys');
  const run = await runCli(['keys', 'generate', dir]);
  t.equal(run.code, 0, run.stderr);
  const [keyId] = loadTrustRoot(await readFile(join(dir, 'root.json'))).keys.keys();
  t.equal(run.stdout, `${keyId}\n`);
  t.match(run.stderr, /private key: .*release-key\.pem \(keep it secret\)/);
});
