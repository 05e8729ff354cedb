import { Readable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Digest } from '../../../../shared/digest.js';
import { PrtiqlError } from '../../../../shared/errors.js';
import { countProgress, type Progress } from '../../progress.js';
import { attemptsNote, delayBeforeRetry } from '../network/retry-policy.js';
import { RegistryError } from './registry-errors.js';
import type { RegistryClient } from './registry-client.js';

export const DEFAULT_CHUNK_SIZE = 64 * 1024 * 1024;

/** A blob to push: its identity and a way to stream it (a stream that verifies itself). */
export interface BlobToPush {
  digest: Digest;
  size: number;
  open(): Promise<Readable>;
  /** open() works once only (the caller handed over a stream): a failed upload cannot be sent again. */
  openOnce?: boolean;
}

export type PushedBlob = 'skipped' | 'mounted' | 'written';

export interface PushBlobOptions {
  /** Scopes that allow pushing here (and pulling from `mountFrom`). */
  scopes: readonly string[];
  /** Another repository of the same registry that holds the blob: try a cross-repository mount. */
  mountFrom?: string;
  /** Made only when bytes are actually uploaded. */
  progress: (total: number) => Progress;
}

/** Hands out consecutive slices of a stream as separate request bodies. */
class ChunkReader {
  private pending: Buffer = Buffer.alloc(0);
  private readonly iterator: AsyncIterator<Buffer>;

  constructor(
    source: AsyncIterable<Buffer>,
    private readonly what: string,
  ) {
    this.iterator = source[Symbol.asyncIterator]();
  }

  async *take(length: number): AsyncGenerator<Buffer> {
    let remaining = length;
    while (remaining > 0) {
      if (this.pending.length === 0) {
        const next = await this.iterator.next();
        if (next.done) throw new PrtiqlError('E_SIZE_MISMATCH', `${this.what} ended before its declared size`);
        this.pending = next.value;
      }
      const part = this.pending.subarray(0, remaining);
      this.pending = this.pending.subarray(part.length);
      remaining -= part.length;
      yield part;
    }
  }

  /** Reads to the end, so that a verifying source checks its digest; more bytes are an error. */
  async finish(): Promise<void> {
    const next = await this.iterator.next();
    if (this.pending.length > 0 || !next.done) throw new PrtiqlError('E_SIZE_MISMATCH', `${this.what} is larger than its declared size`);
  }

  async close(): Promise<void> {
    await this.iterator.return?.();
  }
}

/** POST to start an upload, or with mount=&from= to link the blob from another repository (201). */
async function startUpload(client: RegistryClient, repository: string, blob: BlobToPush, options: PushBlobOptions): Promise<URL | 'mounted'> {
  const target = client.url(`/v2/${repository}/blobs/uploads/`);
  if (options.mountFrom) {
    target.searchParams.set('mount', blob.digest);
    target.searchParams.set('from', options.mountFrom);
  }
  const what = `starting the upload of ${blob.digest} to ${client.registry}/${repository}`;
  const response = await client.request(target, { method: 'POST', scopes: options.scopes, what, headers: { 'content-length': '0' } }, [201, 202]);
  await response.body.dump();
  if (response.statusCode === 201 && options.mountFrom) return 'mounted';
  const location = response.headers.location;
  if (typeof location !== 'string') throw new PrtiqlError('E_BAD_INPUT', `${what}: the registry sent no upload Location`);
  return client.url(location);
}

function withDigest(location: URL, digest: Digest): URL {
  const target = new URL(location);
  target.searchParams.set('digest', digest);
  return target;
}

async function uploadMonolithic(client: RegistryClient, location: URL, blob: BlobToPush, source: Readable, scopes: readonly string[]): Promise<void> {
  const what = `uploading blob ${blob.digest} to ${client.registry}`;
  const headers = { 'content-type': 'application/octet-stream', 'content-length': String(blob.size) };
  const response = await client.request(withDigest(location, blob.digest), { method: 'PUT', scopes, what, headers, body: source }, [201]);
  await response.body.dump();
}

/** PATCH one chunk at a time (Content-Range), each streamed, then PUT ?digest= to close the upload. */
async function uploadChunked(client: RegistryClient, location: URL, blob: BlobToPush, source: Readable, chunkSize: number, scopes: readonly string[]): Promise<void> {
  const what = `uploading blob ${blob.digest} to ${client.registry}`;
  const reader = new ChunkReader(source, `blob ${blob.digest}`);
  try {
    let current = location;
    for (let offset = 0; offset < blob.size; offset += chunkSize) {
      const length = Math.min(chunkSize, blob.size - offset);
      const headers = { 'content-type': 'application/octet-stream', 'content-length': String(length), 'content-range': `${offset}-${offset + length - 1}` };
      const response = await client.request(current, { method: 'PATCH', scopes, what, headers, body: Readable.from(reader.take(length)) }, [202]);
      await response.body.dump();
      const next = response.headers.location;
      if (typeof next === 'string') current = client.url(next);
    }
    await reader.finish();
    const response = await client.request(withDigest(current, blob.digest), { method: 'PUT', scopes, what, headers: { 'content-length': '0' } }, [201]);
    await response.body.dump();
  } finally {
    await reader.close();
  }
}

/**
 * Puts one blob into a repository unless it is there already (HEAD): by a cross-repository
 * mount when a source repository is known (the registry answers 201; 202 means it started an
 * upload instead, which then goes on), else by upload, streamed and never held whole in
 * memory: one PUT up to the chunk size, chunked PATCHes above it. An upload that fails
 * transiently (a dropped connection, 408/429/5xx) is cancelled and made again from the start,
 * with the blob opened again, as the client's retry policy allows.
 */
export async function pushBlob(client: RegistryClient, repository: string, blob: BlobToPush, options: PushBlobOptions): Promise<PushedBlob> {
  if (await client.hasBlob(repository, blob.digest, options.scopes)) return 'skipped';
  for (let attempt = 1; ; attempt++) {
    try {
      return await uploadOnce(client, repository, blob, options);
    } catch (error) {
      const retryable = error instanceof RegistryError && error.retryable && !blob.openOnce;
      const delay = retryable ? delayBeforeRetry(client.retry, attempt, error.retryAfterMs) : undefined;
      if (delay === undefined) {
        if (attempt > 1 && error instanceof PrtiqlError) throw new PrtiqlError(error.code, `${error.message}${attemptsNote(attempt)}`, { cause: error });
        throw error;
      }
      await sleep(delay);
    }
  }
}

async function uploadOnce(client: RegistryClient, repository: string, blob: BlobToPush, options: PushBlobOptions): Promise<PushedBlob> {
  const location = await startUpload(client, repository, blob, options);
  if (location === 'mounted') return 'mounted';
  const bar = options.progress(blob.size);
  const source = countProgress(await blob.open(), bar);
  const chunkSize = client.options.chunkSize ?? DEFAULT_CHUNK_SIZE;
  try {
    if (blob.size <= chunkSize) await uploadMonolithic(client, location, blob, source, options.scopes);
    else await uploadChunked(client, location, blob, source, chunkSize, options.scopes);
  } catch (error) {
    source.destroy();
    await cancelUpload(client, location, options.scopes);
    throw error;
  }
  bar.finish(`${blob.digest} (${blob.size} bytes)`);
  return 'written';
}

/** Best effort: tell the registry to drop a failed upload session. */
async function cancelUpload(client: RegistryClient, location: URL, scopes: readonly string[]): Promise<void> {
  try {
    const response = await client.request(location, { method: 'DELETE', scopes, what: 'cancelling an upload' }, [204, 404]);
    await response.body.dump();
  } catch {
    // the session expires on the registry anyway
  }
}
