import { createPublicKey, KeyObject, sign } from 'node:crypto';
import { keyIdOf, preAuthEncoding, type Envelope } from '../../../../shared/dsse.js';
import { loadPrivateKey } from '../keys.js';
import { EXEC_SIGNER_PREFIX, execSigner } from './exec-signer.js';

/**
 * What makes the Ed25519 signatures of one key: a private key in hand, or an external signer
 * (a KMS, an HSM) that never lets the key out and only answers signing requests.
 */
export interface Signer {
  readonly publicKey: KeyObject;
  /** DSSE key id: hex sha256 of the public key's DER SubjectPublicKeyInfo. */
  readonly keyId: string;
  /** The Ed25519 signature of `message`, the DSSE pre-authentication encoding of a `payloadType` payload. */
  sign(message: Buffer, payloadType: string): Promise<Buffer>;
}

/** The public half of a key, whichever half it is. */
export function publicKeyOf(key: KeyObject): KeyObject {
  return key.type === 'private' ? createPublicKey(key) : key;
}

export function keySigner(privateKey: KeyObject): Signer {
  const publicKey = createPublicKey(privateKey);
  return { publicKey, keyId: keyIdOf(publicKey), sign: async (message) => sign(null, message, privateKey) };
}

export function asSigner(key: KeyObject | Signer): Signer {
  return key instanceof KeyObject ? keySigner(key) : key;
}

/**
 * The signer a `--key` names: `exec:<command>`, an external signer (exec-signer.ts), or a
 * private key in a file or `env:NAME`, as `loadPrivateKey` reads it.
 */
export async function loadSigner(spec: string, what = 'signing key'): Promise<Signer> {
  if (spec.startsWith(EXEC_SIGNER_PREFIX)) return execSigner(spec.slice(EXEC_SIGNER_PREFIX.length), what);
  return keySigner(await loadPrivateKey(spec, what));
}

/** A DSSE envelope over `payload`, signed by every signer in turn. */
export async function signEnvelopeWith(payloadType: string, payload: Uint8Array, signers: readonly Signer[]): Promise<Envelope> {
  const pae = preAuthEncoding(payloadType, payload);
  const signatures = [];
  for (const signer of signers) signatures.push({ keyid: signer.keyId, sig: (await signer.sign(pae, payloadType)).toString('base64') });
  return { payloadType, payload: Buffer.from(payload).toString('base64'), signatures };
}
