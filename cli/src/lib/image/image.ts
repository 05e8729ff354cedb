import type { Readable } from 'node:stream';
import type { Digest } from '../../../../shared/digest.js';
import type { Descriptor, ImageConfig, ImageManifest } from '../../../../shared/oci.js';

/** One layer of an image: read-only, opened as often as needed. */
export interface Layer {
  /** The blob as stored (usually gzip). */
  readonly descriptor: Descriptor;
  /** sha256 of the uncompressed tar. */
  readonly diffID: Digest;
  openCompressed(): Promise<Readable>;
  openUncompressed(): Promise<Readable>;
}

/** A single-platform OCI image: read-only. */
export interface Image {
  readonly manifest: ImageManifest;
  readonly manifestBytes: Buffer;
  readonly manifestDigest: Digest;
  readonly config: ImageConfig;
  readonly configBytes: Buffer;
  readonly layers: readonly Layer[];
}

/** How many layer and config blobs a write stored, found already present, or mounted from another repository. */
export interface BlobCounts {
  written: number;
  skipped: number;
  mounted: number;
}

/** The outcome of writing an image to a destination. */
export interface WrittenImage {
  /** The destination, formatted as a reference. */
  reference: string;
  manifestDigest: Digest;
  blobs: BlobCounts;
}
