import { pipeline, Transform, type TransformCallback } from 'node:stream';
import { createGzip, constants as zlib } from 'node:zlib';
import type { Digest } from '../../../../shared/digest.js';
import { MediaType, type Descriptor } from '../../../../shared/oci.js';
import { deterministicTar, type TarEntrySource } from '../../../../shared/tar/deterministic-writer.js';
import { CountingStream } from '../image/counting-stream.js';
import type { OciLayout } from '../image/oci-layout.js';

const GZIP_OS_BYTE_OFFSET = 9;
/** "Unknown OS", as Go's compress/gzip writes it; zlib would write the build host's OS. */
const GZIP_OS_UNKNOWN = 0xff;

/** Sets the gzip header's OS byte so that the same input compresses to the same bytes on every host. */
class GzipOsByte extends Transform {
  private offset = 0;

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    const index = GZIP_OS_BYTE_OFFSET - this.offset;
    this.offset += chunk.length;
    if (index >= 0 && index < chunk.length) {
      chunk = Buffer.from(chunk);
      chunk[index] = GZIP_OS_UNKNOWN;
    }
    callback(null, chunk);
  }
}

export interface WrittenLayer {
  descriptor: Descriptor;
  diffID: Digest;
  /** Size of the uncompressed tar. */
  size: number;
}

/**
 * Writes entries as one gzip layer blob, streaming: deterministic tar, hashed for the diffID,
 * gzip level 9 with header mtime 0, hashed again and stored by the layout.
 */
export async function writeLayerBlob(layout: OciLayout, entries: Iterable<TarEntrySource>, mtime: number): Promise<WrittenLayer> {
  const uncompressed = new CountingStream();
  const compressed = pipeline(
    deterministicTar(entries, { mtime }),
    uncompressed,
    createGzip({ level: zlib.Z_BEST_COMPRESSION }),
    new GzipOsByte(),
    () => undefined,
  );
  const descriptor = await layout.writeBlob(compressed, MediaType.layerGzip);
  return { descriptor, diffID: uncompressed.counter.digest(), size: uncompressed.counter.size };
}
