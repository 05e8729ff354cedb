import { lstat, mkdir, open, readdir, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { createWriteStream } from 'node:fs';
import { Readable, pipeline as connectStreams } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { readCapped, readFileCapped } from '../../../../shared/capped-read.js';
import { digestHex, type Digest } from '../../../../shared/digest.js';
import { PrtiqlError } from '../../../../shared/errors.js';
import { ANNOTATION_REF_NAME, MediaType, type Descriptor, type ImageIndex } from '../../../../shared/oci.js';
import { VerifyingStream } from '../../../../shared/verify-stream.js';
import { fsyncDirectory, replaceFileDurably, temporarySibling } from '../../../../filesystem/durable.js';
import { CountingStream } from './counting-stream.js';
import { parseIndex, parseJson } from '../../../../shared/oci-json.js';
import { MAX_DOCUMENT_BYTES } from '../../../../shared/limits.js';

export const OCI_LAYOUT_FILE = 'oci-layout';
export const INDEX_FILE = 'index.json';
const LAYOUT_VERSION = '1.0.0';
const MAX_LAYOUT_FILE_BYTES = 64 * 1024;

function errnoCode(error: unknown): string | undefined {
  return (error as NodeJS.ErrnoException | undefined)?.code;
}

async function exists(path: string): Promise<boolean> {
  try {
    await lstat(path);
    return true;
  } catch (error) {
    if (errnoCode(error) === 'ENOENT') return false;
    throw error;
  }
}

function readSmallFile(path: string, limit: number): Promise<Buffer> {
  return readFileCapped(path, limit, path);
}

/**
 * An OCI image layout directory (image-spec image-layout.md): content-addressed blobs,
 * index.json naming manifests by org.opencontainers.image.ref.name. Blobs are written
 * to a temporary file while hashed, renamed into place, and never overwritten.
 */
export class OciLayout {
  private constructor(readonly root: string) {}

  /** Opens an existing layout; E_NOT_AN_IMAGE when `root` is not one. */
  static async open(root: string): Promise<OciLayout> {
    const layout = new OciLayout(root);
    await layout.checkLayoutFile();
    if (!(await exists(join(root, INDEX_FILE)))) {
      throw new PrtiqlError('E_NOT_AN_IMAGE', `${root} is not an OCI image layout: it has no ${INDEX_FILE}`);
    }
    return layout;
  }

  /** Opens a layout, creating it when `root` is missing or an empty directory. */
  static async openOrCreate(root: string): Promise<OciLayout> {
    let entries: string[];
    try {
      entries = await readdir(root);
    } catch (error) {
      if (errnoCode(error) === 'ENOTDIR') throw new PrtiqlError('E_NOT_AN_IMAGE', `${root} is not a directory`);
      if (errnoCode(error) !== 'ENOENT') throw error;
      entries = [];
    }
    if (entries.length > 0) return OciLayout.open(root);
    await mkdir(join(root, 'blobs', 'sha256'), { recursive: true });
    const index: ImageIndex = { schemaVersion: 2, mediaType: MediaType.imageIndex, manifests: [] };
    await replaceFileDurably(join(root, INDEX_FILE), Buffer.from(`${JSON.stringify(index)}\n`), 0o644);
    await replaceFileDurably(join(root, OCI_LAYOUT_FILE), Buffer.from(`${JSON.stringify({ imageLayoutVersion: LAYOUT_VERSION })}\n`), 0o644);
    return new OciLayout(root);
  }

  private async checkLayoutFile(): Promise<void> {
    const path = join(this.root, OCI_LAYOUT_FILE);
    let bytes: Buffer;
    try {
      bytes = await readSmallFile(path, MAX_LAYOUT_FILE_BYTES);
    } catch (error) {
      if (errnoCode(error) === 'ENOENT' || errnoCode(error) === 'ENOTDIR') {
        throw new PrtiqlError('E_NOT_AN_IMAGE', `${this.root} is not an OCI image layout: it has no ${OCI_LAYOUT_FILE} file`);
      }
      throw error;
    }
    const marker = parseJson(bytes, path) as { imageLayoutVersion?: unknown } | null;
    if (typeof marker?.imageLayoutVersion !== 'string') {
      throw new PrtiqlError('E_NOT_AN_IMAGE', `${path} has no imageLayoutVersion`);
    }
  }

  blobPath(digest: Digest): string {
    return join(this.root, 'blobs', 'sha256', digestHex(digest));
  }

  async hasBlob(digest: Digest): Promise<boolean> {
    return exists(this.blobPath(digest));
  }

  /** Streams `source` into the blob store and returns its descriptor. */
  async writeBlob(source: Uint8Array | AsyncIterable<Uint8Array>, mediaType: string): Promise<Descriptor> {
    const blobs = join(this.root, 'blobs', 'sha256');
    await mkdir(blobs, { recursive: true });
    const temp = temporarySibling(join(this.root, 'blobs', 'upload'));
    const counting = new CountingStream();
    try {
      const input = source instanceof Uint8Array ? Readable.from([source]) : Readable.from(source);
      await pipeline(input, counting, createWriteStream(temp, { flags: 'wx', mode: 0o644, flush: true }));
      const digest = counting.counter.digest();
      const target = this.blobPath(digest);
      if (await exists(target)) {
        await rm(temp);
      } else {
        await rename(temp, target);
        await fsyncDirectory(blobs);
      }
      return { mediaType, digest, size: counting.counter.size };
    } catch (error) {
      await rm(temp, { force: true });
      throw error;
    }
  }

  /** Opens a blob as a stream that fails unless its bytes match the descriptor. */
  async openBlob(descriptor: Pick<Descriptor, 'digest' | 'size'>): Promise<Readable> {
    const path = this.blobPath(descriptor.digest);
    let handle;
    try {
      handle = await open(path, 'r');
    } catch (error) {
      if (errnoCode(error) === 'ENOENT') {
        throw new PrtiqlError('E_NOT_FOUND', `blob ${descriptor.digest} is missing from the layout ${this.root}`);
      }
      throw error;
    }
    const verifier = new VerifyingStream(descriptor, `blob ${descriptor.digest} in ${this.root}`);
    return connectStreams(handle.createReadStream(), verifier, () => undefined);
  }

  /** Reads a small blob (manifest, config) whole, verified against its descriptor. */
  async readBlob(descriptor: Pick<Descriptor, 'digest' | 'size'>, limit: number): Promise<Buffer> {
    if (descriptor.size > limit) {
      throw new PrtiqlError('E_TOO_LARGE', `blob ${descriptor.digest} is larger than the ${limit}-byte limit`);
    }
    return readCapped(await this.openBlob(descriptor), limit, `blob ${descriptor.digest}`);
  }

  async readIndex(): Promise<ImageIndex> {
    const path = join(this.root, INDEX_FILE);
    return parseIndex(parseJson(await readSmallFile(path, MAX_DOCUMENT_BYTES), path), path);
  }

  /** Tags (ref.name annotations) in index.json order. */
  async tags(): Promise<string[]> {
    const index = await this.readIndex();
    return index.manifests.flatMap((entry) => {
      const name = entry.annotations?.[ANNOTATION_REF_NAME];
      return name === undefined ? [] : [name];
    });
  }

  /** The index.json entry for `tag`; E_NOT_FOUND names the tags that exist. */
  async resolveTag(tag: string): Promise<Descriptor> {
    const index = await this.readIndex();
    const entry = index.manifests.find((candidate) => candidate.annotations?.[ANNOTATION_REF_NAME] === tag);
    if (entry) return entry;
    const available = (await this.tags()).join(', ') || 'none';
    throw new PrtiqlError('E_NOT_FOUND', `tag ${tag} is not in the layout ${this.root} (tags: ${available})`);
  }

  /** Points `tag` at `descriptor`, replacing the entry that had the tag and keeping all others. */
  async setTag(tag: string, descriptor: Descriptor): Promise<void> {
    if (!(await this.hasBlob(descriptor.digest))) {
      throw new PrtiqlError('E_NOT_FOUND', `cannot tag ${descriptor.digest}: the blob is not in ${this.root}`);
    }
    const index = await this.readIndex();
    const manifests = index.manifests.filter((entry) => entry.annotations?.[ANNOTATION_REF_NAME] !== tag);
    manifests.push({ ...descriptor, annotations: { ...descriptor.annotations, [ANNOTATION_REF_NAME]: tag } });
    await replaceFileDurably(join(this.root, INDEX_FILE), Buffer.from(`${JSON.stringify({ ...index, manifests })}\n`), 0o644);
  }
}
