import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { request as httpRequest, type ClientRequest, type IncomingMessage, type RequestOptions } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { fileURLToPath } from 'node:url';
import { PrtiqlError } from '../../../shared/errors.js';
import { RegistrySource, registryCredentials } from './registry-source.js';
import { SERVICE_CREDENTIALS, serviceCredential } from './service-credentials.js';
import { deadlinePassed, DEFAULT_DEADLINE_SECONDS, DEFAULT_RETRY_POLICY, type RetryPolicy } from './retry.js';
import { readFileCapped } from '../../../shared/capped-read.js';
import { statusError } from '../../../shared/http-status.js';

export interface FetchOptions {
  /** The resource's largest acceptable size (its signed size): anything larger is E_TOO_LARGE. */
  maxBytes: number;
  /** Ask for the bytes from this offset on (an HTTP Range request). */
  start?: number;
}

export interface Fetched {
  /** The resource's total size, where the source says it up front. */
  size?: number;
  /** Offset of the body's first byte: `start` when the source honoured it, 0 when it sent the whole resource. */
  start: number;
  /** At most maxBytes - start bytes; a body that ends short of a declared length is E_NETWORK. */
  body: AsyncIterable<Uint8Array>;
}

/** Where releases and blobs come from: an artifact store root (DESIGN §5). */
export interface Source {
  readonly url: string;
  /** How callers retry this source's transient failures. */
  readonly retry: RetryPolicy;
  /** `path` is relative to the store root, e.g. "blobs/sha256/<hex>". Missing: E_NOT_FOUND. */
  fetch(path: string, options: FetchOptions): Promise<Fetched>;
}

export interface HttpTimeouts {
  /** Until the connection (TLS included) is up. */
  connectMs: number;
  /** From then until the response headers arrive. */
  responseMs: number;
  /** Longest silence while the body streams. */
  idleMs: number;
}

export const DEFAULT_HTTP_TIMEOUTS: HttpTimeouts = { connectMs: 15_000, responseMs: 30_000, idleMs: 60_000 };

export interface SourceOptions {
  timeouts?: Partial<HttpTimeouts>;
  retry?: Partial<RetryPolicy>;
  /**
   * Sent as the Authorization header to the source's own origin, never to another a redirect
   * names. Default: the service credential `source-authorization`, if there is one.
   */
  authorization?: string;
}

const MAX_REDIRECTS = 5;
const REDIRECT_STATUSES = new Set([301, 302, 303, 307, 308]);

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
  constructor(
    readonly url: string,
    readonly retry: RetryPolicy,
  ) {}

  async fetch(path: string, options: FetchOptions): Promise<Fetched> {
    checkRelativePath(path);
    const url = new URL(path, this.url).href;
    const file = fileURLToPath(url);
    const start = options.start ?? 0;
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
    return { size, start, body: capped(this.read(file, url, start), url, options.maxBytes - start) };
  }

  private async *read(file: string, url: string, start: number): AsyncGenerator<Uint8Array> {
    try {
      yield* createReadStream(file, { start, highWaterMark: 64 * 1024 });
    } catch (error) {
      throw new PrtiqlError('E_NETWORK', `cannot read ${url}: ${(error as NodeJS.ErrnoException).code ?? String(error)}`);
    }
  }
}

function networkError(url: string, error: unknown): PrtiqlError {
  if (error instanceof PrtiqlError) return error;
  const reason = (error as NodeJS.ErrnoException).code ?? (error as Error).message;
  return new PrtiqlError('E_NETWORK', `cannot fetch ${url}: ${reason}`);
}

/** Where the body starts and how large the whole resource is, from the status and headers. */
function bodyRange(response: IncomingMessage, url: string, start: number, maxBytes: number): { start: number; size?: number } {
  const status = response.statusCode ?? 0;
  const length = response.headers['content-length'];
  if (status === 200) {
    const size = length !== undefined && /^[0-9]+$/.test(length) ? Number(length) : undefined;
    if (size !== undefined && size > maxBytes) throw tooLarge(url, maxBytes);
    return { start: 0, size };
  }
  if (status === 206) {
    const range = /^bytes ([0-9]+)-([0-9]+)\/([0-9]+|\*)$/.exec(response.headers['content-range'] ?? '');
    if (!range || Number(range[1]) !== start || Number(range[2]) < start) {
      throw new PrtiqlError('E_NETWORK', `${url}: asked for the bytes from ${start} on, got Content-Range ${JSON.stringify(response.headers['content-range'] ?? '')}`);
    }
    const size = range[3] === '*' ? undefined : Number(range[3]);
    if ((size ?? Number(range[2]) + 1) > maxBytes) throw tooLarge(url, maxBytes);
    return { start, size };
  }
  throw statusError(status, url);
}

class HttpSource implements Source {
  private readonly origin: string;

  constructor(
    readonly url: string,
    readonly retry: RetryPolicy,
    private readonly timeouts: HttpTimeouts,
    private readonly authorization: string | undefined,
    /** The root URL's query (a signature covering the whole store), sent with every request to its origin and kept out of messages. */
    private readonly signedQuery = '',
  ) {
    this.origin = new URL(url).origin;
  }

  async fetch(path: string, options: FetchOptions): Promise<Fetched> {
    checkRelativePath(path);
    const start = options.start ?? 0;
    let url = new URL(path, this.url);
    for (let redirects = 0; ; redirects++) {
      const response = await this.request(url, start);
      if (!REDIRECT_STATUSES.has(response.statusCode ?? 0)) {
        try {
          const range = bodyRange(response, url.href, start, options.maxBytes);
          return { ...range, body: capped(this.body(response, url.href), url.href, options.maxBytes - range.start) };
        } catch (error) {
          response.destroy();
          throw error;
        }
      }
      response.destroy();
      const location = response.headers.location;
      const next = location === undefined ? undefined : new URL(location, url);
      if (!next || redirects >= MAX_REDIRECTS || !['http:', 'https:'].includes(next.protocol) || (url.protocol === 'https:' && next.protocol === 'http:')) {
        throw new PrtiqlError('E_NETWORK', `${url.href}: refused redirect (HTTP ${response.statusCode}) to ${JSON.stringify(location ?? '')}`);
      }
      url = next;
    }
  }

  /** Sends one GET and resolves with its response; connection and response wait are timed, and capped by the deadline. */
  private request(url: URL, start: number): Promise<IncomingMessage> {
    const headers: Record<string, string> = { 'accept-encoding': 'identity' };
    if (start > 0) headers.range = `bytes=${start}-`;
    if (this.authorization !== undefined && url.origin === this.origin) headers.authorization = this.authorization;
    const options: RequestOptions = { headers, agent: false };
    return new Promise<IncomingMessage>((resolve, reject) => {
      const target = this.signedQuery && url.origin === this.origin && url.search === '' ? new URL(`${url.href}${this.signedQuery}`) : url;
      const request: ClientRequest = (url.protocol === 'https:' ? httpsRequest : httpRequest)(target, options);
      let timer: NodeJS.Timeout | undefined;
      const fail = (error: PrtiqlError) => request.destroy(error);
      const phase = (what: string, ms: number) => {
        clearTimeout(timer);
        const left = this.retry.deadline - Date.now();
        timer = left < ms ? setTimeout(() => fail(deadlinePassed(this.retry.deadline)), Math.max(0, left)) : setTimeout(() => fail(new PrtiqlError('E_NETWORK', `${url.href}: no ${what} within ${ms} ms`)), ms);
      };
      phase('connection', this.timeouts.connectMs);
      request.once('socket', (socket) => {
        if (!socket.connecting) phase('response', this.timeouts.responseMs);
        else socket.once(url.protocol === 'https:' ? 'secureConnect' : 'connect', () => phase('response', this.timeouts.responseMs));
      });
      request.once('response', (response) => {
        clearTimeout(timer);
        resolve(response);
      });
      request.once('error', (error) => {
        clearTimeout(timer);
        reject(networkError(url.href, error));
      });
      request.end();
    });
  }

  /** The body, with an idle timeout and the deadline; a short body is E_NETWORK. */
  private async *body(response: IncomingMessage, url: string): AsyncGenerator<Uint8Array> {
    const { deadline } = this.retry;
    response.setTimeout(this.timeouts.idleMs, () => response.destroy(new PrtiqlError('E_NETWORK', `${url}: no data within ${this.timeouts.idleMs} ms`)));
    const timer = setTimeout(() => response.destroy(deadlinePassed(deadline)), Math.max(0, deadline - Date.now()));
    try {
      yield* response;
    } catch (error) {
      throw networkError(url, error);
    } finally {
      clearTimeout(timer);
      response.destroy();
    }
  }
}

/** Largest --auth-file read: its first line is one header value of at most 8 KiB. */
const MAX_AUTHORIZATION_FILE_BYTES = 64 * 1024;

/**
 * The Authorization header value in `--auth-file`: its first line, e.g. `Bearer <token>` or
 * `Basic <base64>`. A file keeps the secret out of process lists and logs.
 */
export async function readAuthorizationFile(path: string): Promise<string> {
  let text: string;
  try {
    text = (await readFileCapped(path, MAX_AUTHORIZATION_FILE_BYTES, `--auth-file ${path}`)).toString('utf8');
  } catch (error) {
    if (error instanceof PrtiqlError) throw error;
    throw new PrtiqlError('E_USAGE', `--auth-file ${path} cannot be read: ${(error as NodeJS.ErrnoException).code ?? String(error)}`);
  }
  return authorizationValue(text, `--auth-file ${path}`);
}

/** The first line of `text`, which must be one Authorization header value. */
function authorizationValue(text: string, what: string): string {
  const value = text.split('\n')[0].trim();
  if (value === '' || value.length > 8192 || /[\0-\x1f\x7f]/.test(value)) {
    throw new PrtiqlError('E_USAGE', `${what} must hold one Authorization header value on its first line`);
  }
  return value;
}

/** The Authorization header for an http(s) source from the service credential, when the service has one. */
function authorizationCredential(): string | undefined {
  const text = serviceCredential(process.env, SERVICE_CREDENTIALS.sourceAuthorization);
  return text === undefined ? undefined : authorizationValue(text, `credential ${SERVICE_CREDENTIALS.sourceAuthorization}`);
}

/**
 * A source for a `file://`, `http://` or `https://` artifact store root URL, or a registry
 * repository, `docker://<host>/<repo>` (registry-source.ts). The query of an http(s) root
 * (a signature that covers the store's prefix: a CloudFront signed URL with a wildcard
 * policy, an Azure SAS) goes with every request under it.
 */
export function openSource(rootUrl: string, options: SourceOptions = {}): Source {
  let url: URL;
  try {
    url = new URL(rootUrl);
  } catch {
    throw new PrtiqlError('E_USAGE', `--source is not a URL: ${rootUrl}`);
  }
  if (!url.pathname.endsWith('/')) url.pathname = `${url.pathname}/`;
  const signedQuery = url.search;
  url.search = '';
  if (url.username !== '' || url.password !== '') {
    throw new PrtiqlError('E_USAGE', '--source must not carry credentials (they would show in process lists and logs); use --auth-file');
  }
  const retry: RetryPolicy = { ...DEFAULT_RETRY_POLICY, deadline: Date.now() + DEFAULT_DEADLINE_SECONDS * 1000, ...options.retry };
  if (url.protocol === 'file:') return new FileSource(url.href, retry);
  const timeouts = { ...DEFAULT_HTTP_TIMEOUTS, ...options.timeouts };
  if (url.protocol === 'http:' || url.protocol === 'https:') {
    return new HttpSource(url.href, retry, timeouts, options.authorization ?? authorizationCredential(), signedQuery);
  }
  if (url.protocol === 'docker:') {
    const blobs = (root: string, authorization: string | undefined) => new HttpSource(root, retry, timeouts, authorization);
    return new RegistrySource(url, retry, timeouts, registryCredentials(process.env), blobs);
  }
  throw new PrtiqlError('E_USAGE', `--source must be a file://, http://, https:// or docker:// URL, not ${url.protocol}`);
}
