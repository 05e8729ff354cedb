import { PrtiqlError } from './errors.js';

/** Reads a whole source into memory, failing as soon as it grows past `limit` bytes. */
export async function readCapped(source: AsyncIterable<Uint8Array>, limit: number, what: string): Promise<Buffer> {
  const parts: Uint8Array[] = [];
  let size = 0;
  for await (const chunk of source) {
    size += chunk.byteLength;
    if (size > limit) {
      throw new PrtiqlError('E_TOO_LARGE', `${what} is larger than the ${limit}-byte limit`);
    }
    parts.push(chunk);
  }
  return Buffer.concat(parts, size);
}
