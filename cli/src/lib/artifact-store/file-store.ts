import { link, lstat, mkdir, open, readdir, rm, rmdir } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { readCapped } from '../../../../shared/capped-read.js';
import type { Digest } from '../../../../shared/digest.js';
import { PrtiqlError } from '../../../../shared/errors.js';
import { MAX_DOCUMENT_BYTES } from '../../../../shared/limits.js';
import { ownDirectoryEntries } from '../../../../shared/own-directory.js';
import { ARTIFACT_STORE_ENTRIES, BLOB_DIRECTORY, blobPath, documentPath, parseBlobPath, parseDocumentPath, type StoreDocument } from '../../../../shared/store-layout.js';
import { VerifyingStream } from '../../../../shared/verify-stream.js';
import { openBlobSource, type ArtifactStore, type BlobSource } from './artifact-store.js';
import { fsyncDirectory, replaceFileDurably, temporarySibling } from '../../../../filesystem/durable.js';

function errnoCode(error: unknown): string | undefined {
  return (error as NodeJS.ErrnoException | undefined)?.code;
}

/**
 * An artifact store in a local directory (docs/artifact-store.md):
 * `<root>/blobs/sha256/<hex>` and `<root>/channels/<channel>/release.json`.
 * Any static HTTP server pointed at the directory can serve devices.
 */
export class FileStore implements ArtifactStore {
  private rootChecked?: Promise<unknown>;

  constructor(readonly root: string) {}

  /** Before the first write: the directory must be missing, empty or an artifact store already. */
  private checkRoot(): Promise<unknown> {
    this.rootChecked ??= ownDirectoryEntries(this.root, (name) => ARTIFACT_STORE_ENTRIES.has(name), 'an artifact store');
    return this.rootChecked;
  }

  get location(): string {
    return this.root;
  }

  blobPath(digest: Digest): string {
    return join(this.root, blobPath(digest));
  }

  documentLocation(document: StoreDocument): string {
    return join(this.root, documentPath(document));
  }

  async hasBlob(digest: Digest): Promise<boolean> {
    try {
      await lstat(this.blobPath(digest));
      return true;
    } catch (error) {
      if (errnoCode(error) === 'ENOENT') return false;
      throw error;
    }
  }

  async putBlob(digest: Digest, size: number, source: BlobSource): Promise<boolean> {
    const target = this.blobPath(digest);
    if (await this.hasBlob(digest)) return false;
    const directory = join(this.root, BLOB_DIRECTORY);
    await this.checkRoot();
    await mkdir(directory, { recursive: true });
    const temp = temporarySibling(target);
    try {
      const handle = await open(temp, 'wx', 0o644);
      try {
        // Written through the handle, not handle.createWriteStream({ autoClose: false }):
        // on Node 20 handle.close() never settles after such a stream was used. A Writable,
        // not an async function, so that a write error (ENOSPC) is the error pipeline reports
        // rather than the AbortError of the iterator it would leave.
        const writer = new Writable({ write: (chunk: Buffer, _encoding, done) => void handle.write(chunk).then(() => done(), done) });
        await pipeline(Readable.from(await openBlobSource(source)), new VerifyingStream({ digest, size }, `blob ${digest}`), writer);
        await handle.sync();
      } finally {
        await handle.close();
      }
      // link() fails when the name exists, so a blob another writer published meanwhile is kept as is.
      let linked = true;
      try {
        await link(temp, target);
      } catch (error) {
        if (errnoCode(error) !== 'EEXIST') throw error;
        linked = false;
      }
      if (linked) await fsyncDirectory(directory);
      return linked;
    } finally {
      await rm(temp, { force: true });
    }
  }

  async getBlob(digest: Digest): Promise<Readable> {
    try {
      const handle = await open(this.blobPath(digest), 'r');
      return handle.createReadStream();
    } catch (error) {
      if (errnoCode(error) === 'ENOENT') throw new PrtiqlError('E_NOT_FOUND', `blob ${digest} is not in the store ${this.root}`);
      throw error;
    }
  }

  async readDocument(document: StoreDocument): Promise<Buffer | undefined> {
    const path = this.documentLocation(document);
    let handle;
    try {
      handle = await open(path, 'r');
    } catch (error) {
      if (errnoCode(error) === 'ENOENT') return undefined;
      throw error;
    }
    try {
      return await readCapped(handle.createReadStream({ autoClose: false }), MAX_DOCUMENT_BYTES, path);
    } finally {
      await handle.close();
    }
  }

  async writeDocument(document: StoreDocument, bytes: Uint8Array): Promise<void> {
    const path = this.documentLocation(document);
    await this.checkRoot();
    await mkdir(dirname(path), { recursive: true });
    await replaceFileDurably(path, bytes, 0o644);
  }

  /** The names under `directory` (relative to the store root, '/'-separated); none when it is missing. */
  private async namesUnder(directory: string, recursive: boolean): Promise<string[]> {
    try {
      return (await readdir(join(this.root, directory), { recursive })).map((name) => `${directory}/${name}`);
    } catch (error) {
      if (errnoCode(error) === 'ENOENT') return [];
      throw error;
    }
  }

  async listBlobs(): Promise<Digest[]> {
    return (await this.namesUnder(BLOB_DIRECTORY, false)).flatMap((path) => parseBlobPath(path) ?? []);
  }

  async listDocuments(): Promise<StoreDocument[]> {
    const paths = [...(await this.namesUnder('channels', true)), ...(await this.namesUnder('roots', true)), ...(await this.namesUnder('deltas', true))];
    return paths.flatMap((path) => parseDocumentPath(path) ?? []);
  }

  /** Removes `path` for good (the directory fsynced); its directory too once empty, unless it is `keepDirectory`. */
  private async removeDurably(path: string, keepDirectory: boolean): Promise<void> {
    await rm(path, { force: true });
    const directory = dirname(path);
    if (!keepDirectory) {
      try {
        await rmdir(directory);
        return;
      } catch (error) {
        if (errnoCode(error) !== 'ENOTEMPTY' && errnoCode(error) !== 'EEXIST' && errnoCode(error) !== 'ENOENT') throw error;
      }
    }
    await fsyncDirectory(directory).catch((error: unknown) => {
      if (errnoCode(error) !== 'ENOENT') throw error;
    });
  }

  deleteBlob(digest: Digest): Promise<void> {
    return this.removeDurably(this.blobPath(digest), true);
  }

  /** Delta records live in one directory per base: that directory goes with its last record. */
  deleteDocument(document: StoreDocument): Promise<void> {
    return this.removeDurably(this.documentLocation(document), document.kind !== 'delta-record');
  }
}
