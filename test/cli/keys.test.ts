import { generateKeyPairSync } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import t from 'tap';
import { generateReleaseKey, loadPrivateKey } from '../../cli/src/lib/keys.js';

t.test('loadPrivateKey reads the generated key and names what is wrong with any other file', async (t) => {
  const dir = t.testdir({ 'garbage.pem': 'not a key at all', sub: {} });
  const generated = await generateReleaseKey(join(dir, 'keys'));
  t.equal((await loadPrivateKey(generated.privateKey)).asymmetricKeyType, 'ed25519');

  const rsa = generateKeyPairSync('rsa', { modulusLength: 1024 });
  await writeFile(join(dir, 'rsa.pem'), rsa.privateKey.export({ type: 'pkcs8', format: 'pem' }));
  const encrypted = generateKeyPairSync('ed25519').privateKey.export({ type: 'pkcs8', format: 'pem', cipher: 'aes-256-cbc', passphrase: 'secret' });
  await writeFile(join(dir, 'encrypted.pem'), encrypted);

  await t.rejects(loadPrivateKey(generated.publicKey), { code: 'E_BAD_INPUT', message: /holds a public key; pass the private key/ });
  await t.rejects(loadPrivateKey(generated.trustRoot), { code: 'E_BAD_INPUT', message: /is not a PEM private key/ });
  await t.rejects(loadPrivateKey(join(dir, 'garbage.pem')), { code: 'E_BAD_INPUT', message: /is not a PEM private key/ });
  await t.rejects(loadPrivateKey(join(dir, 'rsa.pem')), { code: 'E_BAD_INPUT', message: /is a rsa key; release keys are Ed25519/ });
  await t.rejects(loadPrivateKey(join(dir, 'encrypted.pem')), { code: 'E_BAD_INPUT', message: /is encrypted/ });
  await t.rejects(loadPrivateKey(join(dir, 'absent.pem')), { code: 'E_NOT_FOUND' });
  await t.rejects(loadPrivateKey(join(dir, 'sub')), { code: 'E_BAD_INPUT', message: /is a directory/ });
});
