import { Transform, pipeline as pipelineCallback, type Readable, type TransformCallback } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGunzip } from 'node:zlib';
import { ChunkHasher } from '../../../../shared/chunks.js';
import { DigestCounter, type Digest } from '../../../../shared/digest.js';
import { PrtiqlError } from '../../../../shared/errors.js';
import { MediaType } from '../../../../shared/oci.js';
import type { BlobRef } from '../../../../shared/release.js';
import { deterministicGzip } from '../image/deterministic-gzip.js';
import type { Layer } from '../image/image.js';
import { layerOrigin, type LayerOrigin } from '../image/registry-image.js';

/** A layer as a release ships it: one gzip blob, described while it streamed past once. */
export interface GzipLayerBlob {
  diffID: Digest;
  uncompressedSize: number;
  blob: BlobRef;
  /** Opens the same gzip bytes again, to upload them. */
  open(): Promise<Readable>;
  /** The registry repository the gzip blob was read from as it is, if it was. */
  origin?: LayerOrigin;
}

const GZIP_MEDIA_TYPES: readonly string[] = [MediaType.layerGzip, MediaType.dockerLayerGzip];

export function isGzipLayer(layer: Layer): boolean {
  return GZIP_MEDIA_TYPES.includes(layer.descriptor.mediaType);
}

function tap(observe: (chunk: Buffer) => void): Transform {
  return new Transform({
    transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback) {
      observe(chunk);
      callback(null, chunk);
    },
  });
}

async function consume(source: AsyncIterable<Buffer>, observe: (chunk: Buffer) => void): Promise<void> {
  for await (const chunk of source) observe(chunk);
}

function isZlibError(error: unknown): error is Error {
  return error instanceof Error && typeof (error as NodeJS.ErrnoException).code === 'string' && (error as NodeJS.ErrnoException).code!.startsWith('Z_');
}

async function openGzipBytes(layer: Layer): Promise<Readable> {
  if (isGzipLayer(layer)) return layer.openCompressed();
  const [gzip, osByte] = deterministicGzip();
  return pipelineCallback(await layer.openUncompressed(), gzip, osByte, () => undefined);
}

/**
 * Streams a layer once: records the gzip blob's digest, size and chunk hashes, and the
 * uncompressed size, and checks the uncompressed bytes against the diffID the image
 * config declares. Memory use is bounded by the stream buffers, whatever the layer size.
 * Gzip layers are kept byte for byte; uncompressed ones are gzipped.
 */
export async function describeLayerBlob(layer: Layer, what: string, onBytes: (count: number) => void): Promise<GzipLayerBlob> {
  const compressed = new DigestCounter();
  const chunks = new ChunkHasher();
  const uncompressed = new DigestCounter();
  const recordCompressed = (chunk: Buffer) => {
    compressed.update(chunk);
    chunks.update(chunk);
  };
  const gzipInput = isGzipLayer(layer);
  try {
    if (gzipInput) {
      await pipeline(
        await layer.openCompressed(),
        tap((chunk) => {
          recordCompressed(chunk);
          onBytes(chunk.byteLength);
        }),
        createGunzip(),
        (source: AsyncIterable<Buffer>) => consume(source, (chunk) => uncompressed.update(chunk)),
      );
    } else {
      await pipeline(
        await layer.openUncompressed(),
        tap((chunk) => {
          uncompressed.update(chunk);
          onBytes(chunk.byteLength);
        }),
        ...deterministicGzip(),
        (source: AsyncIterable<Buffer>) => consume(source, recordCompressed),
      );
    }
  } catch (error) {
    if (isZlibError(error)) throw new PrtiqlError('E_BAD_INPUT', `${what} is not valid gzip: ${error.message}`);
    throw error;
  }
  const diffID = uncompressed.digest();
  if (diffID !== layer.diffID) {
    throw new PrtiqlError('E_DIGEST_MISMATCH', `${what} has diffID ${diffID}, but the image config says ${layer.diffID}`);
  }
  const digest = compressed.digest();
  if (gzipInput && (digest !== layer.descriptor.digest || compressed.size !== layer.descriptor.size)) {
    throw new PrtiqlError('E_DIGEST_MISMATCH', `${what} blob has digest ${digest} (${compressed.size} bytes), the manifest says ${layer.descriptor.digest} (${layer.descriptor.size} bytes)`);
  }
  const { chunkSize, chunks: chunkHashes } = chunks.finish();
  const origin = gzipInput ? layerOrigin(layer) : undefined;
  return {
    diffID,
    uncompressedSize: uncompressed.size,
    blob: { mediaType: MediaType.layerGzip, digest, size: compressed.size, chunkSize, chunks: chunkHashes },
    open: () => openGzipBytes(layer),
    ...(origin && { origin }),
  };
}
