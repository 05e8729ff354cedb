import { pipeline, type Readable, type TransformCallback } from 'node:stream';
import { createGunzip } from 'node:zlib';
import type { Digest } from '../../../../shared/digest.js';
import { PrtiqlError } from '../../../../shared/errors.js';
import { MediaType, type Descriptor } from '../../../../shared/oci.js';
import { CountingStream } from './counting-stream.js';

export const GZIP_LAYER_TYPES: ReadonlySet<string> = new Set([MediaType.layerGzip, MediaType.dockerLayerGzip]);
export const TAR_LAYER_TYPES: ReadonlySet<string> = new Set([MediaType.layerTar, 'application/vnd.docker.image.rootfs.diff.tar']);

/** Fails at the end of the stream unless the bytes that passed hash to `expected`. */
class DiffIDCheck extends CountingStream {
  constructor(
    private readonly expected: Digest,
    private readonly what: string,
  ) {
    super();
  }

  override _flush(callback: TransformCallback): void {
    const actual = this.counter.digest();
    if (actual !== this.expected) {
      callback(new PrtiqlError('E_DIGEST_MISMATCH', `${this.what} has diffID ${actual}, expected ${this.expected}`));
      return;
    }
    callback();
  }
}

/** Fails early, before any byte is read, when a layer is neither gzip nor plain tar. */
export function checkLayerMediaType(descriptor: Descriptor): void {
  if (!GZIP_LAYER_TYPES.has(descriptor.mediaType) && !TAR_LAYER_TYPES.has(descriptor.mediaType)) {
    throw new PrtiqlError('E_BAD_INPUT', `layer ${descriptor.digest} has unsupported media type ${descriptor.mediaType} (gzip or plain tar only)`);
  }
}

/**
 * The uncompressed tar of a layer blob, as a stream that fails at its end unless the tar
 * hashes to the layer's diffID.
 */
export function uncompressedLayerStream(descriptor: Descriptor, diffID: Digest, blob: Readable): Readable {
  checkLayerMediaType(descriptor);
  const check = new DiffIDCheck(diffID, `layer ${descriptor.digest}`);
  return GZIP_LAYER_TYPES.has(descriptor.mediaType) ? pipeline(blob, createGunzip(), check, () => undefined) : pipeline(blob, check, () => undefined);
}
