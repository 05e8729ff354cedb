import { createHash, createPublicKey, sign, verify, type KeyObject } from 'node:crypto';
import { PrtiqlError } from './errors.js';

/** A DSSE envelope (github.com/secure-systems-lab/dsse), the signed form of releases and roots. */
export interface Envelope {
  payloadType: string;
  /** Standard base64 of the exact payload bytes. */
  payload: string;
  signatures: { keyid: string; sig: string }[];
}

/** DSSE pre-authentication encoding: what is actually signed. */
export function preAuthEncoding(payloadType: string, payload: Uint8Array): Buffer {
  const type = Buffer.from(payloadType, 'utf8');
  return Buffer.concat([
    Buffer.from(`DSSEv1 ${type.length} `, 'utf8'),
    type,
    Buffer.from(` ${payload.length} `, 'utf8'),
    payload,
  ]);
}

/** Key id: hex sha256 of the public key's DER SubjectPublicKeyInfo. */
export function keyIdOf(publicKey: KeyObject): string {
  return createHash('sha256').update(publicKey.export({ type: 'spki', format: 'der' })).digest('hex');
}

export function publicKeyFromBase64(spkiBase64: string): KeyObject {
  return createPublicKey({ key: Buffer.from(spkiBase64, 'base64'), format: 'der', type: 'spki' });
}

export function signEnvelope(payloadType: string, payload: Uint8Array, privateKeys: KeyObject[]): Envelope {
  const pae = preAuthEncoding(payloadType, payload);
  return {
    payloadType,
    payload: Buffer.from(payload).toString('base64'),
    signatures: privateKeys.map((key) => ({
      keyid: keyIdOf(createPublicKey(key)),
      sig: sign(null, pae, key).toString('base64'),
    })),
  };
}

export function parseEnvelope(data: unknown, what: string): Envelope {
  const e = data as Partial<Envelope> | null;
  if (
    !e ||
    typeof e !== 'object' ||
    typeof e.payloadType !== 'string' ||
    typeof e.payload !== 'string' ||
    !Array.isArray(e.signatures) ||
    !e.signatures.every((s) => s && typeof s.keyid === 'string' && typeof s.sig === 'string')
  ) {
    throw new PrtiqlError('E_BAD_INPUT', `${what} is not a signed envelope`);
  }
  return e as Envelope;
}

/**
 * Verifies an envelope against trusted keys and returns the payload bytes. Each trusted key
 * counts once, however often it appears; signatures by unknown keys are ignored.
 */
export function openEnvelope(
  envelope: Envelope,
  expectedType: string,
  trusted: ReadonlyMap<string, KeyObject>,
  threshold: number,
  what: string,
): Buffer {
  if (envelope.payloadType !== expectedType) {
    throw new PrtiqlError('E_BAD_INPUT', `${what} has payload type ${envelope.payloadType}, expected ${expectedType}`);
  }
  const payload = Buffer.from(envelope.payload, 'base64');
  const pae = preAuthEncoding(envelope.payloadType, payload);
  const valid = new Set<string>();
  let knownKeySignatures = 0;
  for (const signature of envelope.signatures) {
    const key = trusted.get(signature.keyid);
    if (!key) continue;
    knownKeySignatures++;
    if (verify(null, pae, key, Buffer.from(signature.sig, 'base64'))) valid.add(signature.keyid);
  }
  if (valid.size >= threshold) return payload;
  if (knownKeySignatures === 0) {
    throw new PrtiqlError('E_UNTRUSTED_KEY', `${what} is not signed by any trusted key`);
  }
  if (valid.size === 0) {
    throw new PrtiqlError('E_BAD_SIGNATURE', `${what} has an invalid signature`);
  }
  throw new PrtiqlError('E_THRESHOLD', `${what} has ${valid.size} valid signature(s), ${threshold} required`);
}
