import { generateKeyPairSync, type KeyObject } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { readCapped } from '../../shared/capped-read.js';
import { ChunkHasher } from '../../shared/chunks.js';
import { sha256Digest, type Digest } from '../../shared/digest.js';
import { signEnvelope } from '../../shared/dsse.js';
import { MediaType, type ContainerConfig, type ImageConfig, type ImageManifest } from '../../shared/oci.js';
import { encodeRelease, type BlobRef, type Release, type ReleaseDelta } from '../../shared/release.js';
import { BLOB_DIRECTORY, blobPath, pointerPath } from '../../shared/store-layout.js';
import { deterministicTar, type TarEntrySource } from '../../shared/tar/deterministic-writer.js';
import { trustRootPayload } from '../../shared/trust-root.js';

/** The fixed mtime of every fixture layer entry. */
export const FIXTURE_MTIME = 1_700_000_000;

/** One entry of a fixture layer; `content` makes a regular file. */
export interface FixtureEntry {
  path: string;
  type: 'file' | 'directory' | 'symlink' | 'link';
  mode: number;
  uid?: number;
  gid?: number;
  content?: string | Buffer;
  linkname?: string;
}

export interface Signer {
  privateKey: KeyObject;
  publicKey: KeyObject;
}

export function newSigner(): Signer {
  return generateKeyPairSync('ed25519');
}

/** A self-signed root.json (DSSE envelope) trusting `signers`. */
export function trustRootJson(signers: Signer[], threshold = 1, version = 1): Buffer {
  const payload = Buffer.from(JSON.stringify(trustRootPayload(signers.map((s) => s.publicKey), threshold, version)));
  return Buffer.from(JSON.stringify(signEnvelope(MediaType.trustRoot, payload, signers.map((s) => s.privateKey))));
}

export async function layerTar(entries: FixtureEntry[]): Promise<Buffer> {
  const sources: TarEntrySource[] = entries.map((entry) => {
    const content = entry.content === undefined ? undefined : Buffer.from(entry.content);
    return {
      path: entry.path,
      type: entry.type,
      mode: entry.mode,
      uid: entry.uid,
      gid: entry.gid,
      linkname: entry.linkname,
      size: content?.length,
      open: content && (async function* () { yield content; }),
    };
  });
  return readCapped(deterministicTar(sources, { mtime: FIXTURE_MTIME }), 1 << 30, 'fixture layer');
}

export interface PublishOptions {
  /** Root of the directory artifact store (created if missing). */
  storeDir: string;
  channel: string;
  version: number;
  /** Layers, bottom first. */
  layers: FixtureEntry[][];
  signers: Signer[];
  expires?: Date;
  chunkSize?: number;
  /** The image's runtime settings; `{ Cmd: ['/bin/sh'] }` by default. */
  config?: ContainerConfig;
}

export interface PublishedRelease {
  release: Release;
  manifestDigest: Digest;
  /** Uncompressed tar bytes of each layer, as the device must rebuild them. */
  layerTars: Buffer[];
  /** Store paths of the compressed layer blobs. */
  layerBlobPaths: string[];
}

function blobFile(storeDir: string, digest: Digest): string {
  return join(storeDir, blobPath(digest));
}

async function putBlob(storeDir: string, bytes: Buffer, mediaType: string, chunkSize?: number): Promise<BlobRef> {
  const digest = sha256Digest(bytes);
  await mkdir(join(storeDir, BLOB_DIRECTORY), { recursive: true });
  await writeFile(blobFile(storeDir, digest), bytes);
  const hasher = new ChunkHasher(chunkSize);
  hasher.update(bytes);
  return { mediaType, digest, size: bytes.length, ...hasher.finish() };
}

async function writeSignedRelease(storeDir: string, release: Release, signers: Signer[]): Promise<void> {
  const envelope = signEnvelope(MediaType.release, encodeRelease(release), signers.map((s) => s.privateKey));
  const pointer = join(storeDir, pointerPath(release.channel));
  await mkdir(dirname(pointer), { recursive: true });
  await writeFile(pointer, JSON.stringify(envelope));
}

export interface DeltaToPublish {
  /** Manifest digest of the image the delta applies to. */
  base: Digest;
  /** Index of the target layer in the published release. */
  layer: number;
  basisLayers: Digest[];
  blob: Buffer;
}

/** Re-signs a published release with one delta added (64 KiB chunks); the delta blob goes into the store. */
export async function publishDelta(storeDir: string, published: PublishedRelease, delta: DeltaToPublish, signers: Signer[]): Promise<ReleaseDelta> {
  const added: ReleaseDelta = {
    base: delta.base,
    target: published.release.layers[delta.layer].diffID,
    basisLayers: delta.basisLayers,
    blob: await putBlob(storeDir, delta.blob, MediaType.delta, 64 * 1024),
  };
  await writeSignedRelease(storeDir, { ...published.release, deltas: [added] }, signers);
  return added;
}

/**
 * Writes a full-layer release into a directory artifact store with shared/ code only:
 * gzip layer blobs, config, manifest, and the signed channels/<channel>/release.json.
 */
export async function publishTestRelease(options: PublishOptions): Promise<PublishedRelease> {
  const { storeDir, channel, version } = options;
  const layerTars = await Promise.all(options.layers.map(layerTar));
  const blobs = await Promise.all(layerTars.map((tar) => putBlob(storeDir, gzipSync(tar), MediaType.layerGzip, options.chunkSize)));
  const config: ImageConfig = {
    architecture: 'amd64',
    os: 'linux',
    config: options.config ?? { Cmd: ['/bin/sh'] },
    rootfs: { type: 'layers', diff_ids: layerTars.map((tar) => sha256Digest(tar)) },
  };
  const configBlob = await putBlob(storeDir, Buffer.from(JSON.stringify(config)), MediaType.imageConfig);
  const manifest: ImageManifest = {
    schemaVersion: 2,
    mediaType: MediaType.imageManifest,
    config: { mediaType: MediaType.imageConfig, digest: configBlob.digest, size: configBlob.size },
    layers: blobs.map((blob) => ({ mediaType: blob.mediaType, digest: blob.digest, size: blob.size })),
  };
  const manifestBlob = await putBlob(storeDir, Buffer.from(JSON.stringify(manifest)), MediaType.imageManifest);
  const created = new Date();
  const release: Release = {
    type: 'prtiql-release',
    channel,
    version,
    created: created.toISOString(),
    expires: (options.expires ?? new Date(created.getTime() + 86_400_000)).toISOString(),
    manifest: { mediaType: MediaType.imageManifest, digest: manifestBlob.digest, size: manifestBlob.size },
    config: { mediaType: MediaType.imageConfig, digest: configBlob.digest, size: configBlob.size },
    layers: layerTars.map((tar, i) => ({ diffID: sha256Digest(tar), size: tar.length, blob: blobs[i] })),
    deltas: [],
  };
  await writeSignedRelease(storeDir, release, options.signers);
  return { release, manifestDigest: manifestBlob.digest, layerTars, layerBlobPaths: blobs.map((blob) => blobFile(storeDir, blob.digest)) };
}
