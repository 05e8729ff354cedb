import { pipeline, type Readable } from 'node:stream';
import type { Dispatcher } from 'undici';
import { readCapped } from '../../../../shared/capped-read.js';
import { isDigest, sha256Digest, type Digest } from '../../../../shared/digest.js';
import { PrtiqlError } from '../../../../shared/errors.js';
import { MAX_DOCUMENT_BYTES } from '../../../../shared/limits.js';
import { parseJson } from '../../../../shared/oci-json.js';
import { MediaType, type Descriptor } from '../../../../shared/oci.js';
import { VerifyingStream } from '../../../../shared/verify-stream.js';
import type { CredentialOptions } from './credentials.js';
import { RegistryAuth } from './registry-auth.js';
import { responseError } from './registry-errors.js';
import { retryPolicyFromEnv, type RetryPolicy } from '../network/retry-policy.js';
import { send, type RequestOptions, type SentResponse } from './registry-http.js';

export interface RegistryOptions extends CredentialOptions {
  /** Plain HTTP instead of HTTPS. Registries on localhost and 127.0.0.0/8 always get plain HTTP. */
  insecure?: boolean;
  /** Blobs larger than this are uploaded in PATCH chunks of this many bytes; smaller ones in one PUT. */
  chunkSize?: number;
  /** How transient failures are retried; by default DEFAULT_RETRY_POLICY with PRTIQL_RETRY_* from the environment. */
  retry?: RetryPolicy;
}

export interface FetchedManifest {
  bytes: Buffer;
  mediaType: string;
  digest: Digest;
}

export interface RegistryRequest {
  method: Dispatcher.HttpMethod;
  /** Token scopes the request needs, e.g. repository:team/app:pull. */
  scopes: readonly string[];
  /** What is being done, for error messages. */
  what: string;
  headers?: Record<string, string>;
  body?: RequestOptions['body'];
}

/** Every manifest type this client reads, listed explicitly: registries pick what to send from Accept. */
export const MANIFEST_ACCEPT = [MediaType.imageManifest, MediaType.imageIndex, MediaType.dockerManifest, MediaType.dockerManifestList].join(', ');
const MAX_TAG_LIST_BYTES = 8 * 1024 * 1024;
const MAX_TAG_PAGES = 50;
const MAX_REDIRECTS = 5;
const REDIRECTS: ReadonlySet<number> = new Set([301, 302, 303, 307, 308]);
const DOCKER_HUB = 'docker.io';
const DOCKER_HUB_API = 'registry-1.docker.io';
const SCHEMA1_TYPES: ReadonlySet<string> = new Set([
  'application/vnd.docker.distribution.manifest.v1+json',
  'application/vnd.docker.distribution.manifest.v1+prettyjws',
]);

/** http://host for loopback registries and with `insecure`, else https://host (Docker Hub: its API host). */
export function registryBaseUrl(registry: string, insecure = false): URL {
  const host = registry === DOCKER_HUB ? DOCKER_HUB_API : registry;
  const hostname = host.startsWith('[') ? host.slice(1, host.indexOf(']')) : host.split(':')[0];
  const loopback = hostname === 'localhost' || hostname === '::1' || /^127\.\d+\.\d+\.\d+$/.test(hostname);
  return new URL(`${insecure || loopback ? 'http' : 'https'}://${host}`);
}

function headerValue(headers: Dispatcher.ResponseData['headers'], name: string): string | undefined {
  const value = headers[name];
  return Array.isArray(value) ? value[0] : value;
}

/** A client of one registry's OCI distribution API (v2), on undici. */
export class RegistryClient {
  readonly baseUrl: URL;
  readonly retry: RetryPolicy;
  private readonly auth: RegistryAuth;

  constructor(
    readonly registry: string,
    readonly options: RegistryOptions = {},
  ) {
    this.baseUrl = registryBaseUrl(registry, options.insecure);
    this.retry = options.retry ?? retryPolicyFromEnv(process.env);
    this.auth = new RegistryAuth(registry, options, this.retry);
  }

  /** `/v2/...` paths and upload Locations resolve against the registry. */
  url(pathOrLocation: string): URL {
    return new URL(pathOrLocation, this.baseUrl);
  }

  /**
   * Sends one request with authorization. On a 401 it learns the challenge and retries once,
   * which needs a body that can be sent again: streamed uploads come after a POST has
   * settled the authorization. Transient failures are retried as `send` does. Any status
   * outside `expected` becomes a typed error.
   */
  async request(target: URL, request: RegistryRequest, expected: readonly number[]): Promise<SentResponse> {
    const replayable = request.body === undefined || typeof request.body === 'string' || request.body instanceof Uint8Array;
    let response = await this.attempt(target, request);
    if (response.statusCode === 401) {
      const challenge = response.headers['www-authenticate'];
      await response.body.dump();
      if (!replayable || !this.auth.learn(challenge, request.scopes)) throw await this.auth.refusal(request.what);
      response = await this.attempt(target, request);
      if (response.statusCode === 401) {
        await response.body.dump();
        throw await this.auth.refusal(request.what);
      }
    }
    if (!expected.includes(response.statusCode)) throw await responseError(response, request.what);
    return response;
  }

  private async attempt(target: URL, request: RegistryRequest): Promise<SentResponse> {
    const authorization = target.origin === this.baseUrl.origin ? await this.auth.header(request.scopes) : undefined;
    return send(target, {
      method: request.method,
      headers: { ...request.headers, ...(authorization && { authorization }) },
      ...(request.body !== undefined && { body: request.body }),
    }, this.retry);
  }

  async hasBlob(repository: string, digest: Digest, scopes: readonly string[]): Promise<boolean> {
    const what = `checking for blob ${digest} in ${this.registry}/${repository}`;
    const response = await this.request(this.url(`/v2/${repository}/blobs/${digest}`), { method: 'HEAD', scopes, what }, [200, 404]);
    await response.body.dump();
    return response.statusCode === 200;
  }

  /** Streams a blob, following redirects to storage (without credentials), verified against the descriptor. */
  async openBlob(repository: string, descriptor: Pick<Descriptor, 'digest' | 'size'>, scopes: readonly string[]): Promise<Readable> {
    const what = `blob ${descriptor.digest} of ${this.registry}/${repository}`;
    let target = this.url(`/v2/${repository}/blobs/${descriptor.digest}`);
    let response = await this.request(target, { method: 'GET', scopes, what: `fetching ${what}` }, [200, ...REDIRECTS]);
    for (let hops = 0; REDIRECTS.has(response.statusCode); hops++) {
      const location = headerValue(response.headers, 'location');
      await response.body.dump();
      if (!location || hops === MAX_REDIRECTS) throw new PrtiqlError('E_NETWORK', `fetching ${what}: too many or empty redirects`);
      target = new URL(location, target);
      response = await this.request(target, { method: 'GET', scopes, what: `fetching ${what}` }, [200, ...REDIRECTS]);
    }
    return pipeline(response.body, new VerifyingStream(descriptor, what), () => undefined);
  }

  /** A manifest or index by tag or digest, checked against the digest asked for or announced. */
  async getManifest(repository: string, reference: string, scopes: readonly string[]): Promise<FetchedManifest> {
    const what = `manifest ${reference} of ${this.registry}/${repository}`;
    const response = await this.request(
      this.url(`/v2/${repository}/manifests/${reference}`),
      { method: 'GET', scopes, what: `fetching ${what}`, headers: { accept: MANIFEST_ACCEPT } },
      [200],
    );
    const bytes = await readCapped(response.body, MAX_DOCUMENT_BYTES, what);
    const digest = sha256Digest(bytes);
    const expected = isDigest(reference) ? reference : headerValue(response.headers, 'docker-content-digest');
    if (expected !== undefined && isDigest(expected) && expected !== digest) {
      throw new PrtiqlError('E_DIGEST_MISMATCH', `${what} has digest ${digest}, expected ${expected}`);
    }
    const declared = (parseJson(bytes, what) as { mediaType?: unknown } | null)?.mediaType;
    const mediaType = typeof declared === 'string' ? declared : (headerValue(response.headers, 'content-type') ?? '').split(';')[0].trim();
    if (SCHEMA1_TYPES.has(mediaType)) throw new PrtiqlError('E_NOT_AN_IMAGE', `${what} is a Docker schema 1 manifest, which is not supported`);
    return { bytes, mediaType, digest };
  }

  /** Stores a manifest under a tag (or its digest); its blobs must already be in the repository. */
  async putManifest(repository: string, reference: string, bytes: Buffer, mediaType: string, scopes: readonly string[]): Promise<void> {
    const what = `storing manifest ${reference} in ${this.registry}/${repository}`;
    const response = await this.request(
      this.url(`/v2/${repository}/manifests/${reference}`),
      { method: 'PUT', scopes, what, headers: { 'content-type': mediaType }, body: bytes },
      [200, 201, 202],
    );
    await response.body.dump();
  }

  /** Every tag of a repository, following Link pagination. */
  async listTags(repository: string, scopes: readonly string[]): Promise<string[]> {
    const what = `listing tags of ${this.registry}/${repository}`;
    const tags: string[] = [];
    let target: URL | undefined = this.url(`/v2/${repository}/tags/list`);
    for (let page = 0; target && page < MAX_TAG_PAGES; page++) {
      const response = await this.request(target, { method: 'GET', scopes, what }, [200]);
      const link = headerValue(response.headers, 'link');
      const body = parseJson(await readCapped(response.body, MAX_TAG_LIST_BYTES, what), what) as { tags?: unknown } | null;
      if (Array.isArray(body?.tags)) tags.push(...body.tags.filter((tag): tag is string => typeof tag === 'string'));
      const next = link && /<([^>]+)>\s*;\s*rel="?next"?/.exec(link)?.[1];
      target = next ? new URL(next, target) : undefined;
    }
    return tags;
  }
}
