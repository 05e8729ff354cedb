import type { Readable } from 'node:stream';
import type { Digest } from '../../../../shared/digest.js';
import type { StoreDocument } from '../../../../shared/store-layout.js';

/**
 * The bytes of a blob to store: a stream, or a function that opens them, which a store may
 * call again to send them again after a transient failure.
 */
export type BlobSource = AsyncIterable<Uint8Array> | (() => Promise<AsyncIterable<Uint8Array>>);

/** A registry repository that holds a blob already: a store in another repository of that registry mounts it from there. */
export interface BlobOrigin {
  registry: string;
  repository: string;
}

export function openBlobSource(source: BlobSource): Promise<AsyncIterable<Uint8Array>> {
  return typeof source === 'function' ? source() : Promise.resolve(source);
}

/**
 * Where releases are published (DESIGN §5): immutable content-addressed blobs plus small mutable
 * documents: one pointer per channel, the signed release, written after every blob it names.
 * Implementations: a directory (file://); S3 and OCI registries follow the same contract.
 */
export interface ArtifactStore {
  /** Human-readable location of the store, for messages. */
  readonly location: string;

  hasBlob(digest: Digest): Promise<boolean>;

  /**
   * Stores a blob, checking its size and sha256 while the bytes stream in. Returns false
   * without reading `source` when the blob already exists: blobs are never overwritten.
   * On a mismatch nothing is left behind under the blob's name. A store that can take the
   * blob from `origin` without its bytes (a registry mount) does, and returns true.
   */
  putBlob(digest: Digest, size: number, source: BlobSource, origin?: BlobOrigin): Promise<boolean>;

  /** Opens a stored blob; E_NOT_FOUND when it is missing. */
  getBlob(digest: Digest): Promise<Readable>;

  /**
   * A small mutable document (shared/store-layout.ts: a channel's signed release, timestamp or
   * history, a root, a delta record), or undefined when there is none.
   */
  readDocument(document: StoreDocument): Promise<Buffer | undefined>;

  /** Replaces a document atomically: readers see the old or the new bytes, never a mix. */
  writeDocument(document: StoreDocument, bytes: Uint8Array): Promise<void>;

  /** Where a document lives (a path or URL), for reports. */
  documentLocation(document: StoreDocument): string;

  /**
   * Every blob the store holds, for garbage collection (`prtiql prune`); undefined where blobs
   * cannot be listed (a registry: its blobs are found through what names them).
   */
  listBlobs(): Promise<Digest[] | undefined>;

  /** Every document the store holds. */
  listDocuments(): Promise<StoreDocument[]>;

  /** Removes a blob; a blob that is not there is no error. */
  deleteBlob(digest: Digest): Promise<void>;

  /** Removes a document; a document that is not there is no error. */
  deleteDocument(document: StoreDocument): Promise<void>;
}
