import type { KeyObject } from 'node:crypto';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import type { Test } from 'tap';
import type { Digest } from '../../shared/digest.js';
import { buildImage } from '../../cli/src/lib/build/build-image.js';
import { openImage } from '../../cli/src/lib/image/open-image.js';
import { generateReleaseKey, loadPrivateKey } from '../../cli/src/lib/keys.js';
import { publishRelease, type PublishReleaseResult } from '../../cli/src/lib/release/publish-release.js';
import type { ArtifactStore } from '../../cli/src/lib/artifact-store/artifact-store.js';
import { FileStore } from '../../cli/src/lib/artifact-store/file-store.js';

/** Relative path -> file content. Parent directories are created as needed. */
export type FileTree = Record<string, string | Buffer>;

export interface ReleaseFixtureOptions {
  /** One layer's files, or several layers (base first). */
  files: FileTree | FileTree[];
  version?: number;
  channel?: string;
  /** Publish into this earlier fixture's store, signed with its key (for version 2, 3, ...). */
  into?: ReleaseFixture;
  /** Publish into this store instead of a directory store (storeDir then stays empty). */
  store?: ArtifactStore;
  created?: Date;
  expires?: Date;
  deviceClass?: string;
}

export interface ReleaseFixture {
  /** Root of the file:// store: blobs/sha256/..., channels/<channel>/release.json. */
  storeDir: string;
  /** Self-signed trust root (DSSE, threshold 1) trusting the signing key. */
  rootJsonPath: string;
  /** PKCS#8 PEM Ed25519 private key that signed the release. */
  keyPath: string;
  signingKey: KeyObject;
  /** oci:<path>:<tag> of the image that was released. */
  imageReference: string;
  manifestDigest: Digest;
  channel: string;
  version: number;
  result: PublishReleaseResult;
  /** Scratch directory holding everything above except an `into` store; removed at teardown. */
  workDir: string;
}

async function writeTree(root: string, tree: FileTree): Promise<void> {
  await mkdir(root, { recursive: true });
  for (const [path, content] of Object.entries(tree)) {
    await mkdir(dirname(join(root, path)), { recursive: true });
    await writeFile(join(root, path), content);
  }
}

async function newSigningIdentity(directory: string): Promise<{ keyPath: string; rootJsonPath: string; signingKey: KeyObject }> {
  const generated = await generateReleaseKey(join(directory, 'keys'));
  return { keyPath: generated.privateKey, rootJsonPath: generated.trustRoot, signingKey: await loadPrivateKey(generated.privateKey) };
}

/**
 * Builds a reproducible image from file trees (mtime 0) and publishes it as a signed
 * full-layer release into a directory store, with the real build and release code.
 * Pass `into` to add a later version to an existing fixture's store and channel.
 */
export async function makeReleaseFixture(t: Test, options: ReleaseFixtureOptions): Promise<ReleaseFixture> {
  const workDir = await mkdtemp(join(tmpdir(), 'prtiql-release-'));
  t.teardown(() => rm(workDir, { recursive: true, force: true }));
  const channel = options.channel ?? options.into?.channel ?? 'stable';
  const version = options.version ?? (options.into ? options.into.version + 1 : 1);
  const identity = options.into ?? (await newSigningIdentity(workDir));
  const storeDir = options.into?.storeDir ?? join(workDir, 'store');

  const trees = Array.isArray(options.files) ? options.files : [options.files];
  const layers = [];
  for (const [i, tree] of trees.entries()) {
    const directory = join(workDir, 'context', String(i));
    await writeTree(directory, tree);
    layers.push({ directory });
  }
  const built = await buildImage({ layers }, `oci:${join(workDir, 'image')}:v${version}`, { mtime: 0 });

  const created = options.created ?? new Date();
  const result = await publishRelease({
    image: await openImage(built.reference),
    store: options.store ?? new FileStore(storeDir),
    channel,
    version,
    signingKey: identity.signingKey,
    created,
    expires: options.expires ?? new Date(created.getTime() + 90 * 86_400_000),
    ...(options.deviceClass !== undefined && { deviceClass: options.deviceClass }),
  });
  return {
    storeDir,
    rootJsonPath: identity.rootJsonPath,
    keyPath: identity.keyPath,
    signingKey: identity.signingKey,
    imageReference: built.reference,
    manifestDigest: result.manifestDigest,
    channel,
    version,
    result,
    workDir,
  };
}
