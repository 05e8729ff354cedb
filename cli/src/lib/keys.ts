import { createPrivateKey, createPublicKey, generateKeyPairSync, type KeyObject } from 'node:crypto';
import { lstat, mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { keyIdOf, signEnvelope } from '../../../shared/dsse.js';
import { readFileCapped } from '../../../shared/capped-read.js';
import { PrtiqlError } from '../../../shared/errors.js';
import { ownDirectoryEntries } from '../../../shared/own-directory.js';
import { MediaType } from '../../../shared/oci.js';
import { loadTrustRoot, trustRootPayload, verifyRootSuccessor, type TrustRoot } from '../../../shared/trust-root.js';
import { publishRoot } from './release/trust-documents.js';
import type { ArtifactStore } from './artifact-store/artifact-store.js';
import { replaceFileDurably } from '../../../filesystem/durable.js';
import { MAX_ROOT_BYTES } from '../../../shared/limits.js';

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

/** Refuses to replace any of `paths` unless `force`. */
async function refuseExisting(paths: string[], force: boolean | undefined): Promise<void> {
  if (force) return;
  for (const path of paths) {
    if (await exists(path)) throw new PrtiqlError('E_BAD_INPUT', `${path} already exists; pass --force to replace it`);
  }
}

/** A key directory holds a key pair and a trust root, nothing else: any other directory is refused untouched. */
async function checkKeyDirectory(directory: string): Promise<void> {
  const own = new Set([PRIVATE_KEY_FILE, PUBLIC_KEY_FILE, TRUST_ROOT_FILE]);
  await ownDirectoryEntries(directory, (name) => own.has(name), 'a key directory');
}

/** Writes a private key (PKCS#8 PEM, mode 0600) and its public key (SPKI PEM). */
async function writeKeyPair(paths: { privateKey: string; publicKey: string }, privateKey: KeyObject): Promise<void> {
  await replaceFileDurably(paths.privateKey, Buffer.from(privateKey.export({ type: 'pkcs8', format: 'pem' })), 0o600);
  await replaceFileDurably(paths.publicKey, Buffer.from(createPublicKey(privateKey).export({ type: 'spki', format: 'pem' })), 0o644);
}

/**
 * Creates an Ed25519 release signing key in `directory`: the private key (PKCS#8 PEM, mode
 * 0600), its public key (SPKI PEM) and a version 1 trust root with threshold 1, self-signed,
 * to install on devices. Refuses to replace existing files unless `force`.
 */
export async function generateReleaseKey(directory: string, options: { force?: boolean } = {}): Promise<GeneratedReleaseKey> {
  const paths = { privateKey: join(directory, PRIVATE_KEY_FILE), publicKey: join(directory, PUBLIC_KEY_FILE), trustRoot: join(directory, TRUST_ROOT_FILE) };
  await checkKeyDirectory(directory);
  await refuseExisting(Object.values(paths), options.force);
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  await mkdir(directory, { recursive: true });
  await writeKeyPair(paths, privateKey);
  await replaceFileDurably(paths.trustRoot, signTrustRoot(trustRootPayload([publicKey], 1, 1), [privateKey]), 0o644);
  return { keyId: keyIdOf(publicKey), ...paths };
}

/** Where `spec` reads a key from: `env:NAME` is the environment variable NAME, anything else a file. */
const ENV_PREFIX = 'env:';

async function readKeyText(spec: string, what: string): Promise<{ text: string; name: string }> {
  if (spec.startsWith(ENV_PREFIX)) {
    const variable = spec.slice(ENV_PREFIX.length);
    const name = `${what} from environment variable ${variable}`;
    const value = process.env[variable];
    if (!variable || value === undefined || value === '') throw new PrtiqlError('E_NOT_FOUND', `${name}: the variable is not set`);
    if (value.length > MAX_KEY_FILE_BYTES) throw new PrtiqlError('E_BAD_INPUT', `${name} is too large to be a PEM key`);
    return { text: value, name };
  }
  const name = `${what} ${spec}`;
  let pem: Buffer;
  try {
    pem = await readFileCapped(spec, MAX_KEY_FILE_BYTES, name);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new PrtiqlError('E_NOT_FOUND', `${name} does not exist`);
    if (code === 'EISDIR') throw new PrtiqlError('E_BAD_INPUT', `${name} is a directory, not a PEM file`);
    throw error;
  }
  return { text: pem.toString('utf8'), name };
}

function checkEd25519(key: KeyObject, name: string): KeyObject {
  if (key.asymmetricKeyType !== 'ed25519') {
    throw new PrtiqlError('E_BAD_INPUT', `${name} is a ${key.asymmetricKeyType} key; release keys are Ed25519`);
  }
  return key;
}

function parsePrivateKey(text: string, name: string, spec: string): KeyObject {
  if (/-----BEGIN PUBLIC KEY-----/.test(text)) {
    throw new PrtiqlError('E_BAD_INPUT', `${spec} holds a public key; pass the private key (${PRIVATE_KEY_FILE})`);
  }
  if (/-----BEGIN ENCRYPTED PRIVATE KEY-----|Proc-Type: 4,ENCRYPTED/.test(text)) {
    throw new PrtiqlError('E_BAD_INPUT', `${name} is encrypted; use an unencrypted PKCS#8 key`);
  }
  try {
    // An empty passphrase keeps OpenSSL from prompting on a terminal for an encrypted key.
    return checkEd25519(createPrivateKey({ key: text, format: 'pem', passphrase: '' }), name);
  } catch (error) {
    if (error instanceof PrtiqlError) throw error;
    // The cause is left out: nothing derived from the key's text goes into a message.
    throw new PrtiqlError('E_BAD_INPUT', `${name} is not a PEM private key`);
  }
}

/**
 * Loads an Ed25519 private key (PKCS#8 PEM) from a file or, for `env:NAME`, from the
 * environment variable NAME (for CI secrets that never touch the disk). Errors name where
 * the key came from, never its content.
 */
export async function loadPrivateKey(spec: string, what = 'signing key'): Promise<KeyObject> {
  const { text, name } = await readKeyText(spec, what);
  return parsePrivateKey(text, name, spec);
}

/** Loads an Ed25519 public key from a public (SPKI) or private PEM, in a file or `env:NAME`. */
export async function loadPublicKey(spec: string, what: string): Promise<KeyObject> {
  const { text, name } = await readKeyText(spec, what);
  if (!/-----BEGIN PUBLIC KEY-----/.test(text)) return createPublicKey(parsePrivateKey(text, name, spec));
  try {
    return checkEd25519(createPublicKey({ key: text, format: 'pem' }), name);
  } catch (error) {
    if (error instanceof PrtiqlError) throw error;
    throw new PrtiqlError('E_BAD_INPUT', `${name} is not a PEM public key`);
  }
}

/** The bytes of a trust root file, read whole (at most MAX_ROOT_BYTES); parse them with loadTrustRoot. */
export async function readTrustRootFile(path: string): Promise<Buffer> {
  let bytes: Buffer;
  try {
    bytes = await readFileCapped(path, MAX_ROOT_BYTES, `trust root ${path}`);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new PrtiqlError('E_NOT_FOUND', `trust root ${path} does not exist`);
    if (code === 'EISDIR') throw new PrtiqlError('E_BAD_INPUT', `trust root ${path} is a directory`);
    throw error;
  }
  return bytes;
}

/** The bytes of a root.json: the root signed by `privateKeys`, each once. */
export function signTrustRoot(root: TrustRoot, privateKeys: KeyObject[]): Buffer {
  const unique = new Map(privateKeys.map((key) => [keyIdOf(createPublicKey(key)), key]));
  const envelope = signEnvelope(MediaType.trustRoot, Buffer.from(JSON.stringify(root)), [...unique.values()]);
  return Buffer.from(`${JSON.stringify(envelope, null, 2)}\n`);
}

export interface RootRotation {
  /** Bytes of the current root.json (version N). */
  currentRoot: Uint8Array;
  /** Private keys of root N that endorse the successor: at least N's threshold of them. */
  endorsingKeys: KeyObject[];
  /** Private keys of root N+1: all of its release keys, each of which signs it. */
  newKeys: KeyObject[];
  /** Root N+1's threshold; root N's by default. */
  threshold?: number;
  /** Root N+1's timestamp keys: undefined keeps root N's, null drops the timestamp role. */
  timestamp?: { publicKeys: KeyObject[]; threshold: number } | null;
}

/**
 * Root N+1, signed by the endorsing keys of N and by every key of N+1, and checked with the
 * device's own rule (verifyRootSuccessor) before it is returned: a rotation the devices
 * would refuse fails here, with their error code.
 */
export function rotateTrustRoot(rotation: RootRotation): { root: TrustRoot; bytes: Buffer } {
  const current = loadTrustRoot(rotation.currentRoot);
  const threshold = rotation.threshold ?? current.root.threshold;
  const newPublicKeys = [...new Map(rotation.newKeys.map((key) => [keyIdOf(createPublicKey(key)), createPublicKey(key)])).values()];
  if (newPublicKeys.length < threshold) {
    throw new PrtiqlError('E_USAGE', `root version ${current.root.version + 1} would have ${newPublicKeys.length} key(s), fewer than its threshold ${threshold}: pass more new keys or --threshold`);
  }
  const carried = current.timestamp && { threshold: current.timestamp.threshold, publicKeys: [...current.timestamp.keys.values()] };
  const timestamp = rotation.timestamp === undefined ? carried : (rotation.timestamp ?? undefined);
  const root = trustRootPayload(newPublicKeys, threshold, current.root.version + 1, timestamp);
  const bytes = signTrustRoot(root, [...rotation.endorsingKeys, ...rotation.newKeys]);
  verifyRootSuccessor(current, bytes);
  return { root, bytes };
}

export interface RotateKeysOptions {
  /** The current root.json (version N). */
  rootPath: string;
  /** Private keys of root N (files or env:NAME) that endorse root N+1. */
  endorsingKeys: string[];
  /** Private keys of root N+1; none: a new key is generated into `out`. */
  newKeys: string[];
  /** Directory for root.json (N+1) and a generated key. */
  out: string;
  threshold?: number;
  /** Public (or private) keys of root N+1's timestamp role; none: root N's role is kept. */
  timestampKeys?: string[];
  timestampThreshold?: number;
  /** Root N+1 names no timestamp keys: devices stop requiring a timestamp. */
  dropTimestamp?: boolean;
  force?: boolean;
  /** Also publish root N+1 as roots/<N+1>.json here, where devices discover it. */
  store?: ArtifactStore;
}

export interface RotatedKeys {
  version: number;
  threshold: number;
  keyIds: string[];
  timestampKeyIds: string[];
  /** Path of the new root.json. */
  trustRoot: string;
  /** Paths of the generated key, when no new key was given. */
  privateKey?: string;
  publicKey?: string;
  /** Where the root was published (`store`). */
  published?: string;
}

async function loadAll(specs: string[], load: (spec: string) => Promise<KeyObject>): Promise<KeyObject[]> {
  const keys: KeyObject[] = [];
  for (const spec of specs) keys.push(await load(spec));
  return keys;
}

/**
 * `prtiql keys rotate`: writes root N+1 into `out` (and a new key when none is given), signed
 * by the endorsing keys of root N and every key of N+1, then publishes it to `store`.
 * Every check, the devices' successor rule included, runs before any file is written.
 */
export async function rotateKeys(options: RotateKeysOptions): Promise<RotatedKeys> {
  if (options.dropTimestamp && options.timestampKeys?.length) throw new PrtiqlError('E_USAGE', 'pass either timestamp keys or --drop-timestamp, not both');
  const currentRoot = await readTrustRootFile(options.rootPath);
  const endorsingKeys = await loadAll(options.endorsingKeys, (spec) => loadPrivateKey(spec, 'signing key'));
  const generated = options.newKeys.length === 0 ? generateKeyPairSync('ed25519').privateKey : undefined;
  const newKeys = generated ? [generated] : await loadAll(options.newKeys, (spec) => loadPrivateKey(spec, 'new key'));
  const timestampKeys = await loadAll(options.timestampKeys ?? [], (spec) => loadPublicKey(spec, 'timestamp key'));
  const timestamp = options.dropTimestamp ? null : timestampKeys.length > 0 ? { publicKeys: timestampKeys, threshold: options.timestampThreshold ?? 1 } : undefined;
  const { root, bytes } = rotateTrustRoot({ currentRoot, endorsingKeys, newKeys, threshold: options.threshold, timestamp });

  const trustRoot = join(options.out, TRUST_ROOT_FILE);
  const keyPaths = { privateKey: join(options.out, PRIVATE_KEY_FILE), publicKey: join(options.out, PUBLIC_KEY_FILE) };
  await checkKeyDirectory(options.out);
  await refuseExisting(generated ? [trustRoot, ...Object.values(keyPaths)] : [trustRoot], options.force);
  await mkdir(options.out, { recursive: true });
  if (generated) await writeKeyPair(keyPaths, generated);
  await replaceFileDurably(trustRoot, bytes, 0o644);
  const published = options.store && (await publishRoot(options.store, bytes));
  return {
    version: root.version,
    threshold: root.threshold,
    keyIds: Object.keys(root.keys),
    timestampKeyIds: Object.keys(root.timestamp?.keys ?? {}),
    trustRoot,
    ...(generated && keyPaths),
    ...(published && { published: published.location }),
  };
}
