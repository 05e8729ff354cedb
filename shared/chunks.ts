import { createHash } from 'node:crypto';
import { PrtiqlError } from './errors.js';

/**
 * Blobs are hashed in chunks of this size so that a device can verify bytes before it uses
 * them. The device holds the chunk it is using and the one it is verifying: a quarter MiB
 * each, for 67 bytes of chunk list per chunk in the release document.
 */
export const DEFAULT_CHUNK_SIZE = 256 * 1024;

export interface ChunkList {
  chunkSize: number;
  /** Hex sha256 of each chunk; the last one may be short. */
  chunks: string[];
}

/** Records the chunk hashes of a blob as it streams past. */
export class ChunkHasher {
  readonly chunks: string[] = [];
  private hash = createHash('sha256');
  private filled = 0;

  constructor(readonly chunkSize = DEFAULT_CHUNK_SIZE) {}

  update(data: Uint8Array): void {
    let offset = 0;
    while (offset < data.byteLength) {
      const take = Math.min(this.chunkSize - this.filled, data.byteLength - offset);
      this.hash.update(data.subarray(offset, offset + take));
      this.filled += take;
      offset += take;
      if (this.filled === this.chunkSize) this.closeChunk();
    }
  }

  finish(): ChunkList {
    if (this.filled > 0) this.closeChunk();
    return { chunkSize: this.chunkSize, chunks: this.chunks };
  }

  private closeChunk(): void {
    this.chunks.push(this.hash.digest('hex'));
    this.hash = createHash('sha256');
    this.filled = 0;
  }
}

export function expectedChunkCount(size: number, chunkSize: number): number {
  return Math.ceil(size / chunkSize);
}

/**
 * Yields a blob's bytes one verified chunk at a time. At most one unverified chunk is held;
 * a chunk that does not match its signed hash is never yielded. `startChunk` lets a
 * resumed download begin at a chunk boundary. Each chunk is copied once, into its own buffer,
 * and hashed as it fills.
 */
export async function* verifiedChunks(
  source: AsyncIterable<Uint8Array>,
  list: ChunkList,
  size: number,
  what: string,
  startChunk = 0,
): AsyncGenerator<Buffer> {
  const count = expectedChunkCount(size, list.chunkSize);
  if (list.chunks.length !== count) {
    throw new PrtiqlError('E_BAD_INPUT', `${what} lists ${list.chunks.length} chunk hashes for ${size} bytes, expected ${count}`);
  }
  let index = startChunk;
  const lengthOf = (i: number) => Math.min(list.chunkSize, size - i * list.chunkSize);
  let pending: Buffer | undefined;
  let filled = 0;
  let hash = createHash('sha256');

  for await (const data of source) {
    let offset = 0;
    while (offset < data.byteLength) {
      if (index >= count) {
        throw new PrtiqlError('E_SIZE_MISMATCH', `${what} is larger than its declared ${size} bytes`);
      }
      const length = lengthOf(index);
      pending ??= Buffer.allocUnsafeSlow(length);
      const piece = data.subarray(offset, offset + Math.min(length - filled, data.byteLength - offset));
      pending.set(piece, filled);
      hash.update(piece);
      filled += piece.byteLength;
      offset += piece.byteLength;
      if (filled === length) {
        if (hash.digest('hex') !== list.chunks[index]) {
          throw new PrtiqlError('E_DIGEST_MISMATCH', `${what}: chunk ${index} does not match its signed hash`);
        }
        const chunk = pending;
        pending = undefined;
        filled = 0;
        hash = createHash('sha256');
        index++;
        yield chunk;
      }
    }
  }
  if (index !== count || filled !== 0) {
    throw new PrtiqlError('E_SIZE_MISMATCH', `${what} ended early: ${Math.min(index * list.chunkSize + filled, size)} of ${size} bytes`);
  }
}
