import { Transform, type TransformCallback } from 'node:stream';
import { DigestCounter } from '../../../../shared/digest.js';

/** Passes bytes through unchanged while recording their sha256 and count. */
export class CountingStream extends Transform {
  readonly counter = new DigestCounter();

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.counter.update(chunk);
    callback(null, chunk);
  }
}
