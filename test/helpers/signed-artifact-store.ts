import { generateKeyPairSync, type KeyObject } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { gzipSync } from 'node:zlib';
import { assembleImage } from '../../cli/src/lib/image/assemble-image.js';
import type { Image } from '../../cli/src/lib/image/image.js';
import { publishRelease } from '../../cli/src/lib/release/publish-release.js';
import { FileStore } from '../../cli/src/lib/artifact-store/file-store.js';
import { readCapped } from '../../shared/capped-read.js';
import { ChunkHasher } from '../../shared/chunks.js';
import { sha256Digest, type Digest } from '../../shared/digest.js';
import { signEnvelope } from '../../shared/dsse.js';
import { MediaType, type ContainerConfig, type ImageConfig, type ImageManifest } from '../../shared/oci.js';
import type { BlobRef, Release, ReleaseDelta } from '../../shared/release.js';
import { BLOB_DIRECTORY, blobPath } from '../../shared/store-layout.js';
import { deterministicTar, type TarEntrySource } from '../../shared/tar/deterministic-writer.js';
import { trustRootPayload } from '../../shared/trust-root.js';
import { readPublishedRelease, resignRelease } from './trust-fixtures.js';

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

export interface DeltaToPublish {
  /** Manifest digest of the image the delta applies to. */
  base: Digest;
  /** Index of the target layer in the published release. */
  layer: number;
  basisLayers: Digest[];
  blob: Buffer;
}

/**
 * Re-signs a published release with one hand-made delta added (64 KiB chunks), which the
 * publisher, computing its own deltas, never makes; the delta blob goes into the store.
 */
export async function publishDelta(storeDir: string, published: PublishedRelease, delta: DeltaToPublish, signers: Signer[]): Promise<ReleaseDelta> {
  const added: ReleaseDelta = {
    base: delta.base,
    target: published.release.layers[delta.layer].diffID,
    basisLayers: delta.basisLayers,
    blob: await putBlob(storeDir, delta.blob, MediaType.delta, 64 * 1024),
  };
  await resignRelease(storeDir, signers, (release) => void (release.deltas = [added]), published.release.channel);
  return added;
}

/** Fixture layers as an image in memory (gzip layers, config, manifest), assembled as `prtiql release` reads any image. */
function fixtureImage(layerTars: Buffer[], runtime: ContainerConfig): Promise<Image> {
  const layers = new Map(layerTars.map((tar) => [sha256Digest(tar), { tar, gzip: gzipSync(tar) }]));
  const config: ImageConfig = { architecture: 'amd64', os: 'linux', config: runtime, rootfs: { type: 'layers', diff_ids: layerTars.map((tar) => sha256Digest(tar)) } };
  const configBytes = Buffer.from(JSON.stringify(config));
  const manifest: ImageManifest = {
    schemaVersion: 2,
    mediaType: MediaType.imageManifest,
    config: { mediaType: MediaType.imageConfig, digest: sha256Digest(configBytes), size: configBytes.length },
    layers: config.rootfs.diff_ids.map((diffID) => ({ mediaType: MediaType.layerGzip, digest: sha256Digest(layers.get(diffID)!.gzip), size: layers.get(diffID)!.gzip.length })),
  };
  return assembleImage({
    manifestBytes: Buffer.from(JSON.stringify(manifest)),
    manifestWhat: 'fixture manifest',
    readConfig: async () => configBytes,
    layer: (descriptor, diffID) => ({
      descriptor,
      diffID,
      openCompressed: async () => Readable.from([layers.get(diffID)!.gzip]),
      openUncompressed: async () => Readable.from([layers.get(diffID)!.tar]),
    }),
  });
}

/**
 * Publishes a full-layer release of fixture layers into a directory artifact store with the
 * publisher itself (publishRelease, what `prtiql release` runs), signed by the first signer.
 * A release with more signers is then signed again by all of them: the publisher signs with
 * one key.
 */
export async function publishTestRelease(options: PublishOptions): Promise<PublishedRelease> {
  const { storeDir, channel, version, signers } = options;
  const layerTars = await Promise.all(options.layers.map(layerTar));
  const image = await fixtureImage(layerTars, options.config ?? { Cmd: ['/bin/sh'] });
  const created = new Date();
  const expires = options.expires ?? new Date(created.getTime() + 86_400_000);
  await publishRelease({ image, store: new FileStore(storeDir), channel, version, signingKey: signers[0].privateKey, created, expires });
  if (signers.length > 1) await resignRelease(storeDir, signers, () => undefined, channel);
  const release = await readPublishedRelease(storeDir, channel);
  return { release, manifestDigest: image.manifestDigest, layerTars, layerBlobPaths: release.layers.map((layer) => blobFile(storeDir, layer.blob.digest)) };
}
