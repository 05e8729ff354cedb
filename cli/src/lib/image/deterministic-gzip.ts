import { Transform, type TransformCallback } from 'node:stream';
import { createGzip, constants as zlib } from 'node:zlib';

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

/**
 * The one gzip used for every layer we compress: level 9, no name, mtime 0 and a fixed OS
 * byte, so the same tar gives the same blob on any host with the same zlib. Two stages, to
 * be placed one after the other in a pipeline.
 */
export function deterministicGzip(): [Transform, Transform] {
  return [createGzip({ level: zlib.Z_BEST_COMPRESSION }), new GzipOsByte()];
}
