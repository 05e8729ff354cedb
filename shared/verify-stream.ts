import { Transform, type TransformCallback } from 'node:stream';
import { DigestCounter, type Digest } from './digest.js';
import { PrtiqlError } from './errors.js';

export interface Expected {
  digest: Digest;
  size: number;
}

/**
 * Passes bytes through while counting and hashing them. Fails as soon as more than the
 * expected size arrives, and at the end if the size or the sha256 differ.
 */
export class VerifyingStream extends Transform {
  private readonly counter = new DigestCounter();

  constructor(
    private readonly expected: Expected,
    private readonly what: string,
  ) {
    super();
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.counter.update(chunk);
    if (this.counter.size > this.expected.size) {
      callback(new PrtiqlError('E_SIZE_MISMATCH', `${this.what} is larger than its declared ${this.expected.size} bytes`));
      return;
    }
    callback(null, chunk);
  }

  override _flush(callback: TransformCallback): void {
    if (this.counter.size !== this.expected.size) {
      callback(new PrtiqlError('E_SIZE_MISMATCH', `${this.what} has ${this.counter.size} bytes, expected ${this.expected.size}`));
      return;
    }
    const actual = this.counter.digest();
    if (actual !== this.expected.digest) {
      callback(new PrtiqlError('E_DIGEST_MISMATCH', `${this.what} has digest ${actual}, expected ${this.expected.digest}`));
      return;
    }
    callback();
  }
}
