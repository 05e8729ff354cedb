import type { KeyObject } from 'node:crypto';
import { openEnvelope, parseEnvelopeBytes, publicKeyFromBase64, keyIdOf, type Envelope } from './dsse.js';
import { PrtiqlError } from './errors.js';
import { MAX_ROOT_BYTES } from './limits.js';
import { MediaType } from './oci.js';

type PublicKeys = Record<string, { keytype: 'ed25519'; public: string }>;

/** What a device trusts: release signing keys and how many of them must sign. */
export interface TrustRoot {
  type: 'prtiql-root';
  version: number;
  threshold: number;
  /** keyid -> public key (base64 DER SubjectPublicKeyInfo). Sign releases and the next root. */
  keys: PublicKeys;
  /**
   * Online keys that sign the channels' short-lived timestamp files. When present, a device
   * requires a valid timestamp; these keys sign nothing else.
   */
  timestamp?: { threshold: number; keys: PublicKeys };
}

export interface LoadedTrustRoot {
  root: TrustRoot;
  keys: Map<string, KeyObject>;
  /** Present exactly when the root names timestamp keys. */
  timestamp?: { threshold: number; keys: Map<string, KeyObject> };
}

function isKeySet(value: unknown): value is { threshold: number; keys: PublicKeys } {
  const set = value as { threshold: number; keys: PublicKeys };
  return (
    !!set &&
    typeof set === 'object' &&
    Number.isSafeInteger(set.threshold) &&
    set.threshold >= 1 &&
    !!set.keys &&
    typeof set.keys === 'object' &&
    !Array.isArray(set.keys) &&
    Object.values(set.keys).every((k) => !!k && k.keytype === 'ed25519' && typeof k.public === 'string')
  );
}

function validateRoot(value: unknown): TrustRoot {
  const root = value as TrustRoot;
  const ok =
    !!root &&
    root.type === 'prtiql-root' &&
    Number.isSafeInteger(root.version) &&
    root.version >= 1 &&
    isKeySet(root) &&
    (root.timestamp === undefined || isKeySet(root.timestamp));
  if (!ok) throw new PrtiqlError('E_BAD_INPUT', 'trust root is malformed');
  for (const [set, what] of [[root, 'keys'], [root.timestamp, 'timestamp keys']] as const) {
    if (set && Object.keys(set.keys).length < set.threshold) {
      throw new PrtiqlError('E_BAD_INPUT', `trust root has fewer ${what} than their threshold ${set.threshold}`);
    }
  }
  if (root.timestamp && Object.keys(root.timestamp.keys).some((keyid) => Object.hasOwn(root.keys, keyid))) {
    throw new PrtiqlError('E_BAD_INPUT', 'trust root lists a key both as a release key and as a timestamp key');
  }
  return root;
}

function keyMap(keys: PublicKeys): Map<string, KeyObject> {
  const map = new Map<string, KeyObject>();
  for (const [keyid, entry] of Object.entries(keys)) {
    let key: KeyObject;
    try {
      key = publicKeyFromBase64(entry.public);
    } catch {
      throw new PrtiqlError('E_BAD_INPUT', `trust root key ${JSON.stringify(keyid.slice(0, 64))} is not a DER public key`);
    }
    if (key.asymmetricKeyType !== 'ed25519') throw new PrtiqlError('E_BAD_INPUT', `trust root key ${JSON.stringify(keyid.slice(0, 64))} is not an Ed25519 key`);
    if (keyIdOf(key) !== keyid) throw new PrtiqlError('E_BAD_INPUT', `trust root key id ${JSON.stringify(keyid.slice(0, 64))} does not match its key`);
    map.set(keyid, key);
  }
  return map;
}

/** Parses and checks a root.json, self-signature included; returns its envelope too. */
function openRoot(bytes: Uint8Array): { loaded: LoadedTrustRoot; envelope: Envelope } {
  if (bytes.byteLength > MAX_ROOT_BYTES) {
    throw new PrtiqlError('E_TOO_LARGE', `trust root of ${bytes.byteLength} bytes exceeds the ${MAX_ROOT_BYTES}-byte limit`);
  }
  const envelope = parseEnvelopeBytes(bytes, 'trust root');
  let root: TrustRoot;
  try {
    root = validateRoot(JSON.parse(Buffer.from(envelope.payload, 'base64').toString('utf8')));
  } catch (error) {
    if (error instanceof PrtiqlError) throw error;
    throw new PrtiqlError('E_BAD_INPUT', 'trust root payload is not valid JSON');
  }
  const keys = keyMap(root.keys);
  const timestamp = root.timestamp && { threshold: root.timestamp.threshold, keys: keyMap(root.timestamp.keys) };
  openEnvelope(envelope, MediaType.trustRoot, keys, root.threshold, `trust root version ${root.version}`);
  return { loaded: { root, keys, ...(timestamp && { timestamp }) }, envelope };
}

/**
 * Parses a root.json: a DSSE envelope whose payload is the root, signed by the root's own
 * keys up to its threshold (so a corrupted or hand-edited root is refused).
 */
export function loadTrustRoot(bytes: Uint8Array): LoadedTrustRoot {
  return openRoot(bytes).loaded;
}

/**
 * Accepts `bytes` as the root that follows `previous` (TUF's root rotation rule): version
 * exactly previous + 1, signed by a threshold of the previous root's keys and by a threshold
 * of its own. A root signed only by new keys is E_UNTRUSTED_KEY; an older or equal version
 * E_ROLLBACK; a version that skips one E_BAD_INPUT.
 */
export function verifyRootSuccessor(previous: LoadedTrustRoot, bytes: Uint8Array): LoadedTrustRoot {
  const { loaded, envelope } = openRoot(bytes);
  const { version } = loaded.root;
  openEnvelope(envelope, MediaType.trustRoot, previous.keys, previous.root.threshold, `trust root version ${version}`);
  if (version <= previous.root.version) {
    throw new PrtiqlError('E_ROLLBACK', `trust root version ${version} is not newer than version ${previous.root.version}`);
  }
  if (version !== previous.root.version + 1) {
    throw new PrtiqlError('E_BAD_INPUT', `trust root version ${version} does not follow version ${previous.root.version}: roots are rotated one version at a time`);
  }
  return loaded;
}

function publicKeyEntries(publicKeys: KeyObject[]): PublicKeys {
  const keys: PublicKeys = {};
  for (const key of publicKeys) {
    keys[keyIdOf(key)] = { keytype: 'ed25519', public: key.export({ type: 'spki', format: 'der' }).toString('base64') };
  }
  return keys;
}

export function trustRootPayload(
  publicKeys: KeyObject[],
  threshold: number,
  version: number,
  timestamp?: { publicKeys: KeyObject[]; threshold: number },
): TrustRoot {
  return validateRoot({
    type: 'prtiql-root',
    version,
    threshold,
    keys: publicKeyEntries(publicKeys),
    ...(timestamp && { timestamp: { threshold: timestamp.threshold, keys: publicKeyEntries(timestamp.publicKeys) } }),
  });
}
