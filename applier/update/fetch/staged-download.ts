import { createHash } from 'node:crypto';
import { closeSync, constants, ftruncateSync, openSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { dirname } from 'node:path';
import { expectedChunkCount } from '../../../shared/chunks.js';
import type { BlobRef } from '../../../shared/release.js';
import { readAllSync, writeAllSync } from '../../../filesystem/durable.js';
import type { WriteBack } from '../../../filesystem/write-back.js';
import { downloadVerified } from './blob-download.js';
import type { Source } from './source.js';

export interface DownloadCounter {
  resumedBytes(count: number): void;
  downloadedBytes(count: number): void;
}

/**
 * The chunks at the start of a staged file that match their signed hashes, in order; it stops
 * at the first chunk that is short or differs (a power cut can leave zeros or garbage after
 * the last durable write), so only verified bytes are ever used.
 */
function* stagedChunks(fd: number, blob: BlobRef): Generator<Buffer> {
  const count = Math.min(expectedChunkCount(blob.size, blob.chunkSize), blob.chunks.length);
  for (let index = 0; index < count; index++) {
    const chunk = Buffer.allocUnsafeSlow(Math.min(blob.chunkSize, blob.size - index * blob.chunkSize));
    const read = readAllSync(fd, chunk, index * blob.chunkSize);
    if (read < chunk.byteLength || createHash('sha256').update(chunk).digest('hex') !== blob.chunks[index]) return;
    yield chunk;
  }
}

/** How many bytes of `blob` a staged file at `path` holds verified (0 when there is none); reads only. */
export function stagedVerifiedBytes(path: string, blob: BlobRef): number {
  let fd: number;
  try {
    fd = openSync(path, constants.O_RDONLY | constants.O_NOFOLLOW);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return 0;
    throw error;
  }
  try {
    let verified = 0;
    for (const chunk of stagedChunks(fd, blob)) verified += chunk.byteLength;
    return verified;
  } finally {
    closeSync(fd);
  }
}

/**
 * A signed blob's bytes, one verified chunk at a time, kept in the staged file at `path` so
 * that a later run resumes where this one stopped (killed, rebooted, timed out, offline).
 * The file's verified chunks are read back first (checked again: nothing unverified is used,
 * and the file is cut after the last good chunk); the rest comes from the source with a
 * Range request, each chunk written to the file before it is passed on. The file reaches the
 * disk with the store's paced write-back: a power cut loses what was written after its last sync.
 */
export async function* downloadStaged(source: Source, blob: BlobRef, what: string, path: string, counter: DownloadCounter, writeBack: WriteBack): AsyncGenerator<Buffer> {
  await mkdir(dirname(path), { recursive: true, mode: 0o700 });
  const fd = openSync(path, constants.O_RDWR | constants.O_CREAT | constants.O_NOFOLLOW, 0o600);
  try {
    let offset = 0;
    for (const chunk of stagedChunks(fd, blob)) {
      offset += chunk.byteLength;
      counter.resumedBytes(chunk.byteLength);
      yield chunk;
    }
    if (offset === blob.size && offset > 0) return;
    ftruncateSync(fd, offset);
    for await (const chunk of downloadVerified(source, blob, what, offset / blob.chunkSize)) {
      writeAllSync(fd, chunk, offset);
      offset += chunk.byteLength;
      await writeBack.wrote(chunk.byteLength);
      counter.downloadedBytes(chunk.byteLength);
      yield chunk;
    }
  } finally {
    closeSync(fd);
  }
}
