import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { PrtiqlError } from '../shared/errors.js';

export interface FetchOptions {
  /** Refuse (E_TOO_LARGE) anything larger than this. */
  maxBytes: number;
}

export interface Fetched {
  /** Declared size where the source knows it up front (file size, Content-Length). */
  size?: number;
  body: AsyncIterable<Uint8Array>;
}

/** Where releases and blobs come from: an artifact store root (DESIGN §5). */
export interface Source {
  readonly url: string;
  /** `path` is relative to the store root, e.g. "blobs/sha256/<hex>". Missing: E_NOT_FOUND. */
  fetch(path: string, options: FetchOptions): Promise<Fetched>;
}

export interface HttpTimeouts {
  /** Until the response headers arrive. */
  responseMs: number;
  /** Longest wait for the next body chunk. */
  idleMs: number;
}

export const DEFAULT_HTTP_TIMEOUTS: HttpTimeouts = { responseMs: 30_000, idleMs: 60_000 };

function tooLarge(url: string, limit: number): PrtiqlError {
  return new PrtiqlError('E_TOO_LARGE', `${url} is larger than the ${limit}-byte limit`);
}

async function* capped(body: AsyncIterable<Uint8Array>, url: string, limit: number): AsyncGenerator<Uint8Array> {
  let size = 0;
  for await (const chunk of body) {
    size += chunk.byteLength;
    if (size > limit) throw tooLarge(url, limit);
    yield chunk;
  }
}

function checkRelativePath(path: string): void {
  if (path.startsWith('/') || path.split('/').some((part) => part === '' || part === '.' || part === '..')) {
    throw new PrtiqlError('E_INTERNAL', `invalid artifact path ${JSON.stringify(path)}`);
  }
}

class FileSource implements Source {
  constructor(readonly url: string) {}

  async fetch(path: string, options: FetchOptions): Promise<Fetched> {
    checkRelativePath(path);
    const url = new URL(path, this.url).href;
    const file = fileURLToPath(url);
    let size: number;
    try {
      const info = await stat(file);
      if (!info.isFile()) throw Object.assign(new Error('not a file'), { code: 'ENOENT' });
      size = info.size;
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code === 'ENOENT' || code === 'ENOTDIR') throw new PrtiqlError('E_NOT_FOUND', `${url} does not exist`);
      throw new PrtiqlError('E_NETWORK', `cannot read ${url}: ${code ?? String(error)}`);
    }
    if (size > options.maxBytes) throw tooLarge(url, options.maxBytes);
    return { size, body: capped(this.read(file, url), url, options.maxBytes) };
  }

  private async *read(file: string, url: string): AsyncGenerator<Uint8Array> {
    try {
      yield* createReadStream(file, { highWaterMark: 64 * 1024 });
    } catch (error) {
      throw new PrtiqlError('E_NETWORK', `cannot read ${url}: ${(error as NodeJS.ErrnoException).code ?? String(error)}`);
    }
  }
}

function networkError(url: string, error: unknown): PrtiqlError {
  if (error instanceof PrtiqlError) return error;
  const cause = (error as { cause?: { code?: string; message?: string } }).cause;
  const reason = cause?.code ?? cause?.message ?? (error as Error).message;
  return new PrtiqlError('E_NETWORK', `cannot fetch ${url}: ${reason}`);
}

class HttpSource implements Source {
  constructor(
    readonly url: string,
    private readonly timeouts: HttpTimeouts,
  ) {}

  async fetch(path: string, options: FetchOptions): Promise<Fetched> {
    checkRelativePath(path);
    const url = new URL(path, this.url).href;
    const controller = new AbortController();
    const timeout = (what: string, ms: number) =>
      setTimeout(() => controller.abort(new PrtiqlError('E_NETWORK', `${url}: no ${what} within ${ms} ms`)), ms);
    let timer = timeout('response', this.timeouts.responseMs);
    let response: Response;
    try {
      response = await fetch(url, { signal: controller.signal });
    } catch (error) {
      clearTimeout(timer);
      throw networkError(url, controller.signal.aborted ? controller.signal.reason : error);
    }
    clearTimeout(timer);
    if (!response.ok) {
      await response.body?.cancel().catch(() => undefined);
      if (response.status === 404) throw new PrtiqlError('E_NOT_FOUND', `${url} does not exist (HTTP 404)`);
      throw new PrtiqlError('E_NETWORK', `${url}: HTTP ${response.status}`);
    }
    const length = response.headers.get('content-length');
    const size = length !== null && /^[0-9]+$/.test(length) ? Number(length) : undefined;
    if (size !== undefined && size > options.maxBytes) {
      controller.abort();
      throw tooLarge(url, options.maxBytes);
    }
    const { idleMs } = this.timeouts;
    async function* body(): AsyncGenerator<Uint8Array> {
      if (!response.body) return;
      timer = timeout('data', idleMs);
      try {
        for await (const chunk of response.body as AsyncIterable<Uint8Array>) {
          clearTimeout(timer);
          yield chunk;
          timer = timeout('data', idleMs);
        }
      } catch (error) {
        throw networkError(url, controller.signal.aborted ? controller.signal.reason : error);
      } finally {
        clearTimeout(timer);
        controller.abort();
      }
    }
    return { size, body: capped(body(), url, options.maxBytes) };
  }
}

/** A source for a `file://`, `http://` or `https://` artifact store root URL. */
export function openSource(rootUrl: string, timeouts: HttpTimeouts = DEFAULT_HTTP_TIMEOUTS): Source {
  let url: URL;
  try {
    url = new URL(rootUrl.endsWith('/') ? rootUrl : `${rootUrl}/`);
  } catch {
    throw new PrtiqlError('E_USAGE', `--source is not a URL: ${rootUrl}`);
  }
  if (url.protocol === 'file:') return new FileSource(url.href);
  if (url.protocol === 'http:' || url.protocol === 'https:') return new HttpSource(url.href, timeouts);
  throw new PrtiqlError('E_USAGE', `--source must be a file://, http:// or https:// URL, not ${url.protocol}`);
}
