import type { KeyObject } from 'node:crypto';
import { openEnvelope, parseEnvelope, publicKeyFromBase64, keyIdOf, type Envelope } from './dsse.js';
import { PrtiqlError } from './errors.js';
import { MediaType } from './oci.js';

/** What a device trusts: release signing keys and how many of them must sign. */
export interface TrustRoot {
  type: 'prtiql-root';
  version: number;
  threshold: number;
  /** keyid -> public key (base64 DER SubjectPublicKeyInfo). */
  keys: Record<string, { keytype: 'ed25519'; public: string }>;
}

export interface LoadedTrustRoot {
  root: TrustRoot;
  keys: Map<string, KeyObject>;
}

function validateRoot(value: unknown): TrustRoot {
  const root = value as TrustRoot;
  const ok =
    root &&
    root.type === 'prtiql-root' &&
    Number.isSafeInteger(root.version) &&
    root.version >= 1 &&
    Number.isSafeInteger(root.threshold) &&
    root.threshold >= 1 &&
    root.keys &&
    typeof root.keys === 'object' &&
    Object.values(root.keys).every((k) => k && k.keytype === 'ed25519' && typeof k.public === 'string');
  if (!ok) throw new PrtiqlError('E_BAD_INPUT', 'trust root is malformed');
  if (Object.keys(root.keys).length < root.threshold) {
    throw new PrtiqlError('E_BAD_INPUT', `trust root has fewer keys than its threshold ${root.threshold}`);
  }
  return root;
}

function keyMap(root: TrustRoot): Map<string, KeyObject> {
  const keys = new Map<string, KeyObject>();
  for (const [keyid, entry] of Object.entries(root.keys)) {
    const key = publicKeyFromBase64(entry.public);
    if (keyIdOf(key) !== keyid) throw new PrtiqlError('E_BAD_INPUT', `trust root key id ${keyid} does not match its key`);
    keys.set(keyid, key);
  }
  return keys;
}

/**
 * Parses a root.json: a DSSE envelope whose payload is the root, signed by the root's own
 * keys up to its threshold (so a corrupted or hand-edited root is refused).
 */
export function loadTrustRoot(bytes: Uint8Array): LoadedTrustRoot {
  let envelope: Envelope;
  try {
    envelope = parseEnvelope(JSON.parse(Buffer.from(bytes).toString('utf8')), 'trust root');
  } catch (error) {
    if (error instanceof PrtiqlError) throw error;
    throw new PrtiqlError('E_BAD_INPUT', 'trust root is not valid JSON');
  }
  let root: TrustRoot;
  try {
    root = validateRoot(JSON.parse(Buffer.from(envelope.payload, 'base64').toString('utf8')));
  } catch (error) {
    if (error instanceof PrtiqlError) throw error;
    throw new PrtiqlError('E_BAD_INPUT', 'trust root payload is not valid JSON');
  }
  const keys = keyMap(root);
  openEnvelope(envelope, MediaType.trustRoot, keys, root.threshold, 'trust root');
  return { root, keys };
}

export function trustRootPayload(publicKeys: KeyObject[], threshold: number, version: number): TrustRoot {
  const keys: TrustRoot['keys'] = {};
  for (const key of publicKeys) {
    keys[keyIdOf(key)] = { keytype: 'ed25519', public: key.export({ type: 'spki', format: 'der' }).toString('base64') };
  }
  return validateRoot({ type: 'prtiql-root', version, threshold, keys });
}
