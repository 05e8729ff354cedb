import { readCapped } from '../../../shared/capped-read.js';
import { PrtiqlError } from '../../../shared/errors.js';
import { statusError } from '../../../shared/http-status.js';
import { MAX_DOCUMENT_BYTES, MAX_TOKEN_RESPONSE_BYTES } from '../../../shared/limits.js';
import { MediaType } from '../../../shared/oci.js';
import { documentArtifact, documentLayer } from '../../../shared/registry-artifacts.js';
import { basicAuthorization, challengedScheme, checkRealmMayReceiveCredentials, parseTokenResponse, repositoryScope, tokenRequestUrl, type RegistryAuthScheme, type RegistryCredentials } from '../../../shared/registry-auth-protocol.js';
import { parseBlobPath, parseDocumentPath } from '../../../shared/store-layout.js';
import type { RetryPolicy } from './retry.js';
import { SERVICE_CREDENTIALS, serviceCredential } from './service-credentials.js';
import type { FetchOptions, Fetched, HttpTimeouts, Source } from './source.js';

/** Makes the HTTP source that fetches blobs under `rootUrl`, sending `authorization` to that origin only. */
export type BlobSourceFactory = (rootUrl: string, authorization: string | undefined) => Source;

const REPOSITORY = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:\/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*$/;
const MANIFEST_ACCEPT = [MediaType.imageManifest, MediaType.imageIndex].join(', ');

/** What the registry asked for: nothing, the credentials (Basic), or a token from its realm. */
type Authorization = { kind: 'anonymous' } | { kind: 'basic'; header: string } | Extract<RegistryAuthScheme, { kind: 'bearer' }>;

/**
 * The credentials in PRTIQL_REGISTRY_USERNAME and PRTIQL_REGISTRY_PASSWORD when both are set,
 * else the service credentials `registry-username` and `registry-password` when both exist.
 */
export function registryCredentials(env: NodeJS.ProcessEnv): RegistryCredentials | undefined {
  const username = env.PRTIQL_REGISTRY_USERNAME;
  const password = env.PRTIQL_REGISTRY_PASSWORD;
  if (username && password !== undefined) return { username, password };
  const storedUsername = serviceCredential(env, SERVICE_CREDENTIALS.registryUsername);
  const storedPassword = serviceCredential(env, SERVICE_CREDENTIALS.registryPassword);
  return storedUsername && storedPassword !== undefined ? { username: storedUsername, password: storedPassword } : undefined;
}

function isLoopback(hostname: string): boolean {
  return hostname === 'localhost' || hostname === '[::1]' || /^127\.\d+\.\d+\.\d+$/.test(hostname);
}

/**
 * A `docker://<host>[:<port>]/<repo>` source: an artifact store in a registry repository, as
 * `prtiql release --store docker://...` writes it (docs/artifact-store.md). Store paths map to
 * registry requests: `blobs/sha256/<hex>` to the repository's blob (streamed by an HTTP source,
 * so redirects to storage go without credentials and downloads resume with Range), and named
 * documents such as `channels/<c>/release.json` to the artifact under their tag, whose document
 * layer is then fetched as a blob. The result goes through the same checks as any source's.
 * Registries are reached over HTTPS, plain HTTP only on loopback. Authorization follows the
 * registry's challenge: anonymous, Basic, or a Bearer token for `repository:<repo>:pull` from
 * its realm, asked with the credentials when there are any, renewed before it expires.
 */
export class RegistrySource implements Source {
  readonly url: string;
  private readonly apiBase: URL;
  private readonly repository: string;
  private authorization: Authorization | undefined;
  private token: { header: string; expires: number } | undefined;
  private blobs: { header: string | undefined; source: Source } | undefined;

  constructor(
    url: URL,
    readonly retry: RetryPolicy,
    private readonly timeouts: HttpTimeouts,
    private readonly credentials: RegistryCredentials | undefined,
    private readonly blobSource: BlobSourceFactory,
  ) {
    const repository = url.pathname.replace(/^\/+|\/+$/g, '');
    if (!url.host || !REPOSITORY.test(repository) || url.search || url.hash) {
      throw new PrtiqlError('E_USAGE', `--source ${url.href} is not docker://<host>[:<port>]/<repository>`);
    }
    this.url = `docker://${url.host}/${repository}`;
    this.repository = repository;
    this.apiBase = new URL(`${isLoopback(url.hostname) ? 'http' : 'https'}://${url.host}/v2/`);
  }

  async fetch(path: string, options: FetchOptions): Promise<Fetched> {
    const blob = parseBlobPath(path);
    if (blob) return this.fetchBlob(blob, options);
    const document = parseDocumentPath(path);
    if (!document || document.kind === 'delta-record') throw new PrtiqlError('E_INTERNAL', `a registry source has no counterpart of ${JSON.stringify(path)}`);
    const artifact = documentArtifact(document);
    const what = `${this.url}:${artifact.tag}`;
    const layer = documentLayer(await this.manifest(artifact.tag, what), artifact.artifactType, what);
    if (layer.size > options.maxBytes) throw new PrtiqlError('E_TOO_LARGE', `${what} names a ${layer.size}-byte document; the limit is ${options.maxBytes}`);
    return this.fetchBlob(layer.digest, { ...options, maxBytes: layer.size });
  }

  private async fetchBlob(digest: string, options: FetchOptions): Promise<Fetched> {
    const path = `blobs/${digest}`;
    try {
      return await (await this.blobSourceNow()).fetch(path, options);
    } catch (error) {
      if (!(error instanceof PrtiqlError) || error.code !== 'E_UNAUTHORIZED' || this.authorization?.kind !== 'bearer') throw error;
      // The token may have been revoked or expired early: one more try with a fresh one.
      this.token = undefined;
      return (await this.blobSourceNow()).fetch(path, options);
    }
  }

  private async blobSourceNow(): Promise<Source> {
    const header = await this.authorizationHeader();
    if (this.blobs && this.blobs.header === header) return this.blobs.source;
    const source = this.blobSource(new URL(`${this.repository}/`, this.apiBase).href, header);
    this.blobs = { header, source };
    return source;
  }

  /** A manifest by tag, with the OCI types asked for explicitly. */
  private async manifest(tag: string, what: string): Promise<Buffer> {
    const target = new URL(`${this.repository}/manifests/${tag}`, this.apiBase);
    let response = await this.request(target, await this.authorizationHeader(), what, MANIFEST_ACCEPT);
    if (response.status === 401 && this.authorization?.kind === 'bearer') {
      await response.body?.cancel();
      this.token = undefined;
      response = await this.request(target, await this.authorizationHeader(), what, MANIFEST_ACCEPT);
    }
    if (!response.ok) {
      await response.body?.cancel();
      if (response.status === 401 || response.status === 403) throw this.refusal(`${what}: HTTP ${response.status}`);
      throw statusError(response.status, what);
    }
    return this.readBody(response, MAX_DOCUMENT_BYTES, what);
  }

  private async request(target: URL, authorization: string | undefined, what: string, accept?: string): Promise<Response> {
    const limit = Math.min(this.timeouts.connectMs + this.timeouts.responseMs, Math.max(0, this.retry.deadline - Date.now()));
    const headers: Record<string, string> = { ...(accept && { accept }), ...(authorization && { authorization }) };
    try {
      return await fetch(target, { headers, redirect: 'error', signal: AbortSignal.timeout(limit) });
    } catch (error) {
      const cause = (error as { cause?: { code?: string; message?: string } }).cause;
      const reason = (error as Error).name === 'TimeoutError' ? `no response within ${limit} ms` : (cause?.code ?? cause?.message ?? (error as Error).message);
      throw new PrtiqlError('E_NETWORK', `${what}: cannot reach ${target.origin}: ${reason}`);
    }
  }

  private async readBody(response: Response, limit: number, what: string): Promise<Buffer> {
    try {
      return response.body ? await readCapped(response.body, limit, what) : Buffer.alloc(0);
    } catch (error) {
      if (error instanceof PrtiqlError) throw error;
      throw new PrtiqlError('E_NETWORK', `${what}: ${(error as Error).message}`);
    }
  }

  /** The Authorization header to send now (undefined: anonymous), learning the scheme on first use. */
  private async authorizationHeader(): Promise<string | undefined> {
    this.authorization ??= await this.challenge();
    switch (this.authorization.kind) {
      case 'anonymous':
        return undefined;
      case 'basic':
        return this.authorization.header;
      case 'bearer':
        if (!this.token || this.token.expires <= Date.now()) this.token = await this.fetchToken(this.authorization);
        return this.token.header;
    }
  }

  /** Asks `/v2/` what the registry wants: 200 is anonymous access, 401 names the scheme. */
  private async challenge(): Promise<Authorization> {
    const what = `registry ${this.apiBase.host}`;
    const response = await this.request(this.apiBase, undefined, what);
    await response.body?.cancel();
    if (response.ok) return { kind: 'anonymous' };
    if (response.status !== 401) throw statusError(response.status, what);
    const scheme = challengedScheme(response.headers.get('www-authenticate') ?? '', this.apiBase.host);
    if (scheme?.kind === 'bearer') return scheme;
    if (scheme?.kind === 'basic' && this.credentials) return { kind: 'basic', header: basicAuthorization(this.credentials) };
    throw this.refusal(`${what} requires credentials`);
  }

  /** E_UNAUTHORIZED saying whether credentials were missing or refused. */
  private refusal(problem: string): PrtiqlError {
    const hint = this.credentials
      ? `the registry refused the credentials of ${this.credentials.username}`
      : `no credentials were given: set PRTIQL_REGISTRY_USERNAME and PRTIQL_REGISTRY_PASSWORD, or give the service the credentials ${SERVICE_CREDENTIALS.registryUsername} and ${SERVICE_CREDENTIALS.registryPassword}`;
    return new PrtiqlError('E_UNAUTHORIZED', `${problem}; ${hint}`);
  }

  /** A pull token from the realm (distribution token auth), with the credentials when there are any. */
  private async fetchToken(bearer: Extract<Authorization, { kind: 'bearer' }>): Promise<{ header: string; expires: number }> {
    const target = tokenRequestUrl(bearer, [repositoryScope(this.repository, 'pull')]);
    const what = `a token for ${this.url} from ${target.origin}`;
    if (this.credentials) checkRealmMayReceiveCredentials(bearer.realm, this.apiBase.host);
    const response = await this.request(target, this.credentials && basicAuthorization(this.credentials), what);
    if (!response.ok) {
      await response.body?.cancel();
      if (response.status === 401 || response.status === 403) throw this.refusal(`${what}: the token server answered HTTP ${response.status}`);
      throw statusError(response.status, what);
    }
    const { token, expires } = parseTokenResponse((await this.readBody(response, MAX_TOKEN_RESPONSE_BYTES, what)).toString('utf8'), what);
    return { header: `Bearer ${token}`, expires };
  }
}
