import { open } from 'node:fs/promises';
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

/**
 * The whole content of the file at `path` (a path a user gave), failing with E_TOO_LARGE as
 * soon as it is known to pass `limit` bytes: at once for a regular file, after `limit + 1`
 * bytes for anything endless (`/dev/zero`, a pipe). Errors opening it keep their errno code.
 */
export async function readFileCapped(path: string, limit: number, what: string): Promise<Buffer> {
  const handle = await open(path, 'r');
  try {
    const info = await handle.stat();
    if (info.isFile() && info.size > limit) throw new PrtiqlError('E_TOO_LARGE', `${what} is larger than the ${limit}-byte limit`);
    return await readCapped(handle.createReadStream({ autoClose: false, highWaterMark: 64 * 1024 }), limit, what);
  } finally {
    await handle.close();
  }
}
