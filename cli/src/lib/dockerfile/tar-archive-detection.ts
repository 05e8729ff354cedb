import { createReadStream } from 'node:fs';
import { createGunzip } from 'node:zlib';

const BLOCK = 512;
const CHECKSUM_OFFSET = 148;
const CHECKSUM_LENGTH = 8;

async function firstBytes(source: AsyncIterable<Buffer>, count: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let length = 0;
  for await (const chunk of source) {
    chunks.push(chunk);
    length += chunk.length;
    if (length >= count) break;
  }
  return Buffer.concat(chunks).subarray(0, count);
}

/** A tar header block is valid when its stored checksum equals the sum of its bytes, the checksum field counted as spaces. */
function isTarHeader(block: Buffer): boolean {
  if (block.length < BLOCK || block.every((byte) => byte === 0)) return false;
  const stored = Number.parseInt(block.subarray(CHECKSUM_OFFSET, CHECKSUM_OFFSET + CHECKSUM_LENGTH).toString('latin1').replace(/[\0 ]+$/, '').trim(), 8);
  let sum = 0;
  for (let i = 0; i < BLOCK; i++) sum += i >= CHECKSUM_OFFSET && i < CHECKSUM_OFFSET + CHECKSUM_LENGTH ? 0x20 : block[i];
  return stored === sum;
}

/**
 * Whether ADD unpacks a local file: a tar archive, plain or gzip-compressed, recognised by
 * its content (as docker does), not by its name. Other compressions are copied as files.
 */
export async function isTarArchive(file: string): Promise<boolean> {
  const magic = await firstBytes(createReadStream(file, { end: 1 }), 2);
  const gzip = magic.length === 2 && magic[0] === 0x1f && magic[1] === 0x8b;
  const stream = gzip ? createReadStream(file).pipe(createGunzip()) : createReadStream(file, { end: BLOCK - 1 });
  try {
    return isTarHeader(await firstBytes(stream, BLOCK));
  } catch {
    return false;
  } finally {
    stream.destroy();
  }
}
