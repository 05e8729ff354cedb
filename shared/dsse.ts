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

/** Parses the bytes of a signed file (release.json, root.json, timestamp.json) into its envelope. */
export function parseEnvelopeBytes(bytes: Uint8Array, what: string): Envelope {
  let json: unknown;
  try {
    json = JSON.parse(Buffer.from(bytes).toString('utf8'));
  } catch {
    throw new PrtiqlError('E_BAD_INPUT', `${what} is not valid JSON`);
  }
  return parseEnvelope(json, what);
}

/** A key id that appears on two signatures: such an envelope is refused outright. */
function repeatedKeyId(envelope: Envelope): string | undefined {
  const seen = new Set<string>();
  for (const { keyid } of envelope.signatures) {
    if (seen.has(keyid)) return keyid;
    seen.add(keyid);
  }
  return undefined;
}

/**
 * Verifies an envelope against trusted keys and returns the payload bytes. Each trusted key
 * counts once toward the threshold: an envelope carrying two signatures with one key id is
 * refused (E_DUPLICATE_SIGNATURE) before any signature is checked, since no honest signer
 * writes one. Signatures by unknown keys are ignored.
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
  const repeated = repeatedKeyId(envelope);
  if (repeated !== undefined) {
    throw new PrtiqlError('E_DUPLICATE_SIGNATURE', `${what} carries more than one signature by key ${JSON.stringify(repeated.slice(0, 64))}`);
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

/**
 * Opens a signed JSON document read whole (a release, a timestamp): at most `maxBytes`
 * (E_TOO_LARGE), an envelope of `payloadType` signed by a threshold of `signers`, whose
 * payload is JSON. Returns the parsed payload, for the document's own checks.
 */
export function openSignedJson(
  bytes: Uint8Array,
  what: string,
  maxBytes: number,
  payloadType: string,
  signers: { keys: ReadonlyMap<string, KeyObject>; threshold: number },
): unknown {
  if (bytes.byteLength > maxBytes) {
    throw new PrtiqlError('E_TOO_LARGE', `${what} of ${bytes.byteLength} bytes exceeds the ${maxBytes}-byte limit`);
  }
  const payload = openEnvelope(parseEnvelopeBytes(bytes, what), payloadType, signers.keys, signers.threshold, what);
  try {
    return JSON.parse(payload.toString('utf8'));
  } catch {
    throw new PrtiqlError('E_BAD_INPUT', `${what} payload is not valid JSON`);
  }
}
