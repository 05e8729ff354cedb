import { createPrivateKey, generateKeyPairSync, type KeyObject } from 'node:crypto';
import { lstat, mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { keyIdOf, signEnvelope } from '../../../shared/dsse.js';
import { PrtiqlError } from '../../../shared/errors.js';
import { MediaType } from '../../../shared/oci.js';
import { trustRootPayload } from '../../../shared/trust-root.js';
import { replaceFileDurably } from './store/durable-write.js';

export const PRIVATE_KEY_FILE = 'release-key.pem';
export const PUBLIC_KEY_FILE = 'release-key.pub.pem';
export const TRUST_ROOT_FILE = 'root.json';
const MAX_KEY_FILE_BYTES = 64 * 1024;

export interface GeneratedReleaseKey {
  /** Hex sha256 of the public key (DSSE keyid). */
  keyId: string;
  /** Paths of the files written. */
  privateKey: string;
  publicKey: string;
  trustRoot: string;
}

async function exists(path: string): Promise<boolean> {
  try {
    await lstat(path);
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw error;
  }
}

/**
 * Creates an Ed25519 release signing key in `directory`: the private key (PKCS#8 PEM, mode
 * 0600), its public key (SPKI PEM) and a version 1 trust root with threshold 1, self-signed,
 * to install on devices. Refuses to replace existing files unless `force`.
 */
export async function generateReleaseKey(directory: string, options: { force?: boolean } = {}): Promise<GeneratedReleaseKey> {
  const paths = { privateKey: join(directory, PRIVATE_KEY_FILE), publicKey: join(directory, PUBLIC_KEY_FILE), trustRoot: join(directory, TRUST_ROOT_FILE) };
  if (!options.force) {
    for (const path of Object.values(paths)) {
      if (await exists(path)) throw new PrtiqlError('E_BAD_INPUT', `${path} already exists; pass --force to replace it`);
    }
  }
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  const root = trustRootPayload([publicKey], 1, 1);
  const envelope = signEnvelope(MediaType.trustRoot, Buffer.from(JSON.stringify(root)), [privateKey]);

  await mkdir(directory, { recursive: true });
  await replaceFileDurably(paths.privateKey, Buffer.from(privateKey.export({ type: 'pkcs8', format: 'pem' })), 0o600);
  await replaceFileDurably(paths.publicKey, Buffer.from(publicKey.export({ type: 'spki', format: 'pem' })));
  await replaceFileDurably(paths.trustRoot, Buffer.from(`${JSON.stringify(envelope, null, 2)}\n`));
  return { keyId: keyIdOf(publicKey), ...paths };
}

/** Loads an Ed25519 private key from a PEM file, with a one-line error for any other file. */
export async function loadPrivateKey(file: string): Promise<KeyObject> {
  let pem: Buffer;
  try {
    pem = await readFile(file);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new PrtiqlError('E_NOT_FOUND', `signing key ${file} does not exist`);
    if (code === 'EISDIR') throw new PrtiqlError('E_BAD_INPUT', `signing key ${file} is a directory, not a PEM file`);
    throw error;
  }
  if (pem.length > MAX_KEY_FILE_BYTES) throw new PrtiqlError('E_BAD_INPUT', `signing key ${file} is too large to be a PEM key`);
  const text = pem.toString('utf8');
  if (/-----BEGIN PUBLIC KEY-----/.test(text)) {
    throw new PrtiqlError('E_BAD_INPUT', `${file} holds a public key; pass the private key (${PRIVATE_KEY_FILE})`);
  }
  if (/-----BEGIN ENCRYPTED PRIVATE KEY-----|Proc-Type: 4,ENCRYPTED/.test(text)) {
    throw new PrtiqlError('E_BAD_INPUT', `signing key ${file} is encrypted; use an unencrypted PKCS#8 key`);
  }
  let key: KeyObject;
  try {
    // An empty passphrase keeps OpenSSL from prompting on a terminal for an encrypted key.
    key = createPrivateKey({ key: text, format: 'pem', passphrase: '' });
  } catch (error) {
    throw new PrtiqlError('E_BAD_INPUT', `signing key ${file} is not a PEM private key`, { cause: error });
  }
  if (key.asymmetricKeyType !== 'ed25519') {
    throw new PrtiqlError('E_BAD_INPUT', `signing key ${file} is a ${key.asymmetricKeyType} key; release keys are Ed25519`);
  }
  return key;
}

