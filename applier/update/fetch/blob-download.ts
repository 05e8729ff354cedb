import { verifiedChunks } from '../../../shared/chunks.js';
import { PrtiqlError } from '../../../shared/errors.js';
import type { BlobRef } from '../../../shared/release.js';
import { blobPath } from '../../../shared/store-layout.js';
import { waitToRetry } from './retry.js';
import type { Source } from './source.js';

/** Drops the first `count` bytes: a server that ignored Range resent what was already verified. */
async function* skip(body: AsyncIterable<Uint8Array>, count: number): AsyncGenerator<Uint8Array> {
  let left = count;
  for await (const chunk of body) {
    if (left >= chunk.byteLength) {
      left -= chunk.byteLength;
      continue;
    }
    yield left > 0 ? chunk.subarray(left) : chunk;
    left = 0;
  }
}

/** A body that ends before `length` bytes is a dropped connection (E_NETWORK), to resume from. */
async function* complete(body: AsyncIterable<Uint8Array>, length: number, what: string): AsyncGenerator<Uint8Array> {
  let received = 0;
  for await (const chunk of body) {
    received += chunk.byteLength;
    yield chunk;
  }
  if (received < length) throw new PrtiqlError('E_NETWORK', `${what}: the connection ended after ${received} of ${length} bytes`);
}

/**
 * A signed blob's bytes, one verified chunk at a time (shared/chunks.ts): at most one
 * unverified chunk is held and none is ever yielded. A transient failure (E_NETWORK: refused,
 * dropped or stalled connections, 5xx, a wrong Content-Range) is retried as the source's
 * policy says, asking with Range for the bytes from the first chunk not yet verified. A server
 * that ignores Range sends everything again: the verified part is skipped, never appended.
 * `startChunk` skips the chunks a caller already holds verified.
 */
export async function* downloadVerified(source: Source, blob: BlobRef, what: string, startChunk = 0): AsyncGenerator<Buffer> {
  let next = startChunk;
  for (let failures = 0; ; ) {
    const start = next * blob.chunkSize;
    try {
      const fetched = await source.fetch(blobPath(blob.digest), { maxBytes: blob.size, start });
      const body = complete(skip(fetched.body, start - fetched.start), blob.size - start, what);
      for await (const chunk of verifiedChunks(body, blob, blob.size, what, next)) {
        next++;
        failures = 0;
        yield chunk;
      }
      return;
    } catch (error) {
      await waitToRetry(source.retry, what, ++failures, error);
    }
  }
}
