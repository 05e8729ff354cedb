import { createReadStream, createWriteStream } from 'node:fs';
import { open, rename, rm } from 'node:fs/promises';
import { dirname } from 'node:path';
import { pipeline as connectStreams, Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import tar from 'tar-stream';
import { readCapped } from '../../../../shared/capped-read.js';
import { digestHex, DigestCounter, sha256Digest, type Digest } from '../../../../shared/digest.js';
import { PrtiqlError } from '../../../../shared/errors.js';
import { MAX_CONFIG_BYTES, MAX_DOCUMENT_BYTES } from '../../../../shared/limits.js';
import { checkLayerCount, parseImageConfig, parseJson } from '../../../../shared/oci-json.js';
import { MediaType, type Descriptor, type ImageManifest } from '../../../../shared/oci.js';
import { splitTar } from '../../../../shared/tar/split.js';
import { VerifyingStream } from '../../../../shared/verify-stream.js';
import { countProgress, silentProgress, type ProgressFactory } from '../../progress.js';
import { fsyncDirectory, temporarySibling } from '../../../../filesystem/durable.js';
import type { Image, Layer, WrittenImage } from './image.js';
import { TAR_LAYER_TYPES, uncompressedLayerStream } from './layer-stream.js';
import { formatImageReference, type DockerArchiveReference } from './reference.js';

/**
 * `docker save` archives (the format `docker load` and skopeo's docker-archive: read):
 * manifest.json = [{Config, RepoTags, Layers}], the config JSON and one tar per layer,
 * by path inside the archive.
 */

const MANIFEST_FILE = 'manifest.json';
const GZIP_MAGIC = Buffer.from([0x1f, 0x8b]);
const ZSTD_MAGIC = Buffer.from([0x28, 0xb5, 0x2f, 0xfd]);
const MAGIC_BYTES = 4;

interface ArchiveEntry {
  /** Where the file's bytes start in the archive. */
  offset: number;
  size: number;
  digest: Digest;
  /** The first bytes, to tell gzip from plain tar. */
  magic: Buffer;
}

interface ArchiveImage {
  Config: string;
  RepoTags?: string[] | null;
  Layers: string[];
}

function entryName(path: string): string {
  return path.replace(/^(\.\/|\/)+/, '');
}

/**
 * One sequential read of the archive: where each regular file lies and its sha256. Layers
 * are later streamed straight from those byte ranges; nothing is extracted to disk.
 */
async function indexArchive(path: string): Promise<Map<string, ArchiveEntry>> {
  const head = Buffer.alloc(2);
  const handle = await open(path, 'r').catch((error: NodeJS.ErrnoException) => {
    if (error.code === 'ENOENT') throw new PrtiqlError('E_NOT_FOUND', `docker archive ${path} does not exist`);
    throw error;
  });
  try {
    if (!(await handle.stat()).isFile()) throw new PrtiqlError('E_BAD_INPUT', `docker archive ${path} is not a file`);
    await handle.read(head, 0, 2, 0);
  } finally {
    await handle.close();
  }
  if (head.equals(GZIP_MAGIC)) throw new PrtiqlError('E_BAD_INPUT', `docker archive ${path} is gzip-compressed: gunzip it first`);

  const entries = new Map<string, ArchiveEntry>();
  let position = 0;
  let current: { name: string; offset: number; counter: DigestCounter; magic: Buffer[] } | undefined;
  const finish = () => {
    if (!current) return;
    const magic = Buffer.concat(current.magic).subarray(0, MAGIC_BYTES);
    entries.set(current.name, { offset: current.offset, size: current.counter.size, digest: current.counter.digest(), magic });
    current = undefined;
  };
  try {
    for await (const part of splitTar(createReadStream(path))) {
      if (part.kind === 'data') {
        if (current) {
          if (current.counter.size < MAGIC_BYTES) current.magic.push(part.bytes.subarray(0, MAGIC_BYTES));
          current.counter.update(part.bytes);
        }
        position += part.bytes.length;
        continue;
      }
      finish();
      position += part.segment.length;
      if (part.kind === 'entry' && part.header.type === 'file') {
        current = { name: entryName(part.header.path), offset: position, counter: new DigestCounter(), magic: [] };
      }
    }
  } catch (error) {
    if (error instanceof PrtiqlError) throw new PrtiqlError(error.code, `docker archive ${path}: ${error.message}`);
    throw error;
  }
  finish();
  return entries;
}

class DockerArchive {
  private constructor(
    readonly path: string,
    private readonly entries: Map<string, ArchiveEntry>,
  ) {}

  static async open(path: string): Promise<DockerArchive> {
    return new DockerArchive(path, await indexArchive(path));
  }

  entry(name: string): ArchiveEntry {
    const entry = this.entries.get(entryName(name));
    if (!entry) throw new PrtiqlError('E_BAD_INPUT', `docker archive ${this.path} has no file ${name}`);
    return entry;
  }

  /** A file's bytes, verified against the sha256 taken when the archive was indexed. */
  openEntry(entry: ArchiveEntry): Readable {
    const what = `a file at byte ${entry.offset} of ${this.path}`;
    const source = entry.size === 0 ? Readable.from([]) : createReadStream(this.path, { start: entry.offset, end: entry.offset + entry.size - 1 });
    return connectStreams(source, new VerifyingStream(entry, what), () => undefined);
  }

  async readEntry(name: string, limit: number): Promise<Buffer> {
    const entry = this.entry(name);
    if (entry.size > limit) throw new PrtiqlError('E_TOO_LARGE', `${name} in ${this.path} is larger than ${limit} bytes`);
    return readCapped(this.openEntry(entry), limit, `${name} in ${this.path}`);
  }
}

class ArchiveLayer implements Layer {
  constructor(
    private readonly archive: DockerArchive,
    private readonly entry: ArchiveEntry,
    readonly descriptor: Descriptor,
    readonly diffID: Digest,
  ) {}

  async openCompressed(): Promise<Readable> {
    return this.archive.openEntry(this.entry);
  }

  async openUncompressed(): Promise<Readable> {
    return uncompressedLayerStream(this.descriptor, this.diffID, await this.openCompressed());
  }
}

function parseArchiveManifest(bytes: Buffer, what: string): ArchiveImage[] {
  const parsed = parseJson(bytes, what);
  const valid =
    Array.isArray(parsed) &&
    parsed.every(
      (image: Partial<ArchiveImage>) =>
        typeof image?.Config === 'string' && Array.isArray(image.Layers) && image.Layers.every((layer) => typeof layer === 'string'),
    );
  if (!valid) throw new PrtiqlError('E_NOT_AN_IMAGE', `${what} is not a docker save manifest ([{Config, RepoTags, Layers}])`);
  return parsed as ArchiveImage[];
}

/** docker.io/library/app:1 for app:1, as docker compares names: docker save writes the short form, skopeo the long one. */
function normalizedName(name: string): string {
  const slash = name.indexOf('/');
  const first = slash < 0 ? '' : name.slice(0, slash);
  if (first.includes('.') || first.includes(':') || first === 'localhost') return name;
  return slash < 0 ? `docker.io/library/${name}` : `docker.io/${name}`;
}

function chooseImage(images: ArchiveImage[], reference: DockerArchiveReference): ArchiveImage {
  const names = images.flatMap((image) => image.RepoTags ?? []);
  const wanted = reference.name === undefined ? undefined : normalizedName(reference.name);
  const chosen = wanted === undefined ? (images.length === 1 ? images[0] : undefined) : images.find((image) => image.RepoTags?.some((name) => normalizedName(name) === wanted));
  if (chosen) return chosen;
  const problem = reference.name === undefined ? `holds ${images.length} images: name one as docker-archive:${reference.path}:<repo>:<tag>` : `holds no image named ${reference.name}`;
  throw new PrtiqlError('E_NOT_FOUND', `docker archive ${reference.path} ${problem} (names: ${names.join(', ') || 'none'})`);
}

/** The OCI manifest an archive image is read with: the config and layer blobs as the archive stores them. */
function archiveManifest(configBytes: Buffer, layers: Descriptor[]): ImageManifest {
  return {
    schemaVersion: 2,
    mediaType: MediaType.imageManifest,
    config: { mediaType: MediaType.imageConfig, digest: sha256Digest(configBytes), size: configBytes.length },
    layers,
  };
}

function layerMediaType(entry: ArchiveEntry, name: string, path: string): string {
  if (entry.magic.subarray(0, 2).equals(GZIP_MAGIC)) return MediaType.layerGzip;
  if (entry.magic.equals(ZSTD_MAGIC)) throw new PrtiqlError('E_BAD_INPUT', `layer ${name} in ${path} is zstd-compressed, which is not supported`);
  return MediaType.layerTar;
}

/**
 * Opens one image of a docker save archive. The manifest is made here (OCI, config and
 * layer blobs as they are stored in the archive); an uncompressed layer must hash to its
 * diffID, which is checked now from the index.
 */
export async function openDockerArchiveImage(reference: DockerArchiveReference): Promise<Image> {
  const archive = await DockerArchive.open(reference.path);
  const manifestWhat = `${MANIFEST_FILE} of ${reference.path}`;
  const chosen = chooseImage(parseArchiveManifest(await archive.readEntry(MANIFEST_FILE, MAX_DOCUMENT_BYTES), manifestWhat), reference);
  const configBytes = await archive.readEntry(chosen.Config, MAX_CONFIG_BYTES);
  const configWhat = `config ${chosen.Config} of ${reference.path}`;
  const config = parseImageConfig(parseJson(configBytes, configWhat), configWhat);
  const layerEntries = chosen.Layers.map((name) => archive.entry(name));
  const manifest = archiveManifest(
    configBytes,
    layerEntries.map((entry, i) => ({ mediaType: layerMediaType(entry, chosen.Layers[i], reference.path), digest: entry.digest, size: entry.size })),
  );
  checkLayerCount(manifest, config, manifestWhat);
  manifest.layers.forEach((layer, i) => {
    const diffID = config.rootfs.diff_ids[i];
    if (layer.mediaType === MediaType.layerTar && layer.digest !== diffID) {
      throw new PrtiqlError('E_DIGEST_MISMATCH', `layer ${chosen.Layers[i]} of ${reference.path} has digest ${layer.digest}, but the config says diffID ${diffID}`);
    }
  });
  const manifestBytes = Buffer.from(JSON.stringify(manifest));
  return {
    manifest,
    manifestBytes,
    manifestDigest: sha256Digest(manifestBytes),
    config,
    configBytes,
    layers: manifest.layers.map((layer, i) => new ArchiveLayer(archive, layerEntries[i], layer, config.rootfs.diff_ids[i])),
  };
}

/** Size of a layer's uncompressed tar: known for plain tar blobs, else counted in a first pass (which also checks the diffID). */
async function uncompressedSize(layer: Layer): Promise<number> {
  if (TAR_LAYER_TYPES.has(layer.descriptor.mediaType)) return layer.descriptor.size;
  let size = 0;
  for await (const chunk of await layer.openUncompressed()) size += (chunk as Buffer).length;
  return size;
}

async function addFile(pack: tar.Pack, name: string, size: number, content: Readable): Promise<void> {
  await pipeline(content, pack.entry({ name, size, mode: 0o644, mtime: new Date(0), uid: 0, gid: 0 }));
}

/**
 * Writes an image as a docker save archive: `<config hex>.json`, one uncompressed
 * `<diffID hex>.tar` per layer, and manifest.json with the reference's name as RepoTags.
 * Tar headers need sizes first, so gzip layers are decompressed twice (count, then copy)
 * instead of being spooled. The file appears complete or not at all (temp file, fsync, rename).
 * The digest returned is that of the manifest openDockerArchiveImage makes for the archive.
 */
export async function writeDockerArchive(image: Image, reference: DockerArchiveReference, progress: ProgressFactory = silentProgress): Promise<WrittenImage> {
  const temp = temporarySibling(reference.path);
  const pack = tar.pack();
  let readBack: ImageManifest;
  const written = pipeline(pack, createWriteStream(temp, { flags: 'wx', mode: 0o644, flush: true }));
  try {
    const configName = `${digestHex(image.manifest.config.digest)}.json`;
    await addFile(pack, configName, image.configBytes.length, Readable.from([image.configBytes]));
    const layerNames: string[] = [];
    const stored = new Map<Digest, Descriptor>();
    for (const [i, layer] of image.layers.entries()) {
      const name = `${digestHex(layer.diffID)}.tar`;
      if (!stored.has(layer.diffID)) {
        const size = await uncompressedSize(layer);
        const bar = progress(`Writing layer ${i + 1}/${image.layers.length}`, size);
        await addFile(pack, name, size, countProgress(await layer.openUncompressed(), bar));
        bar.finish(`${name} (${size} bytes)`);
        stored.set(layer.diffID, { mediaType: MediaType.layerTar, digest: layer.diffID, size });
      }
      layerNames.push(name);
    }
    readBack = archiveManifest(image.configBytes, image.layers.map((layer) => stored.get(layer.diffID)!));
    const manifest = [{ Config: configName, RepoTags: reference.name === undefined ? [] : [reference.name], Layers: layerNames }];
    const manifestBytes = Buffer.from(JSON.stringify(manifest));
    await addFile(pack, MANIFEST_FILE, manifestBytes.length, Readable.from([manifestBytes]));
    pack.finalize();
    await written;
    await rename(temp, reference.path);
  } catch (error) {
    pack.destroy();
    await written.catch(() => undefined);
    await rm(temp, { force: true });
    throw error;
  }
  await fsyncDirectory(dirname(reference.path));
  return {
    reference: formatImageReference(reference),
    manifestDigest: sha256Digest(JSON.stringify(readBack)),
    blobs: { written: new Set(image.layers.map((layer) => layer.diffID)).size + 1, skipped: 0, mounted: 0 },
  };
}
