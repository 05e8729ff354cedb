import { readCapped } from '../../../../shared/capped-read.js';
import { PrtiqlError } from '../../../../shared/errors.js';
import { MAX_TOKEN_RESPONSE_BYTES } from '../../../../shared/limits.js';
import {
  basicAuthorization,
  challengedScheme,
  checkRealmMayReceiveCredentials,
  parseTokenResponse,
  tokenRequestUrl,
  type RegistryAuthScheme,
} from '../../../../shared/registry-auth-protocol.js';
import { credentialLocations, findCredentials, type CredentialOptions, type RegistryCredentials } from './credentials.js';
import { responseError } from './registry-errors.js';
import { DEFAULT_RETRY_POLICY, type RetryPolicy } from '../network/retry-policy.js';
import { send } from './registry-http.js';

type BearerScheme = Extract<RegistryAuthScheme, { kind: 'bearer' }>;

const CLIENT_ID = 'prtiql';

/**
 * Authorization for one registry: learns the scheme from the first 401 challenge
 * (Bearer realm/service, or Basic), then sends credentials directly (Basic) or fetches
 * and caches a token per set of scopes until shortly before it expires (Bearer).
 */
export class RegistryAuth {
  private scheme: RegistryAuthScheme | undefined;
  private credentials: Promise<RegistryCredentials | undefined> | undefined;
  private readonly tokens = new Map<string, { value: string; expires: number }>();

  constructor(
    private readonly registry: string,
    private readonly options: CredentialOptions,
    private readonly retry: RetryPolicy = DEFAULT_RETRY_POLICY,
  ) {}

  private loadCredentials(): Promise<RegistryCredentials | undefined> {
    return (this.credentials ??= findCredentials(this.registry, this.options));
  }

  /** The Authorization header for `scopes`, or undefined while no challenge has been seen. */
  async header(scopes: readonly string[]): Promise<string | undefined> {
    if (!this.scheme) return undefined;
    if (this.scheme.kind === 'bearer') return `Bearer ${await this.token(this.scheme, scopes)}`;
    const credentials = await this.loadCredentials();
    return credentials && !credentials.identityToken ? basicAuthorization(credentials) : undefined;
  }

  /**
   * Takes the WWW-Authenticate of a 401 and forgets the token that was refused. False when
   * the registry offers no scheme this client speaks.
   */
  learn(header: string | string[] | undefined, scopes: readonly string[]): boolean {
    const scheme = challengedScheme([header ?? []].flat().join(', '), this.registry);
    this.tokens.delete(scopeKey(scopes));
    if (!scheme) return false;
    this.scheme = scheme;
    return true;
  }

  /** The error for a request the registry still refuses: no credentials found, or these credentials refused. */
  async refusal(what: string): Promise<PrtiqlError> {
    const credentials = await this.loadCredentials();
    if (!credentials) {
      return new PrtiqlError(
        'E_UNAUTHORIZED',
        `${what}: registry ${this.registry} requires credentials and none were found (looked in ${credentialLocations(this.options).join(', ')}; use --authfile or docker login)`,
      );
    }
    return new PrtiqlError('E_UNAUTHORIZED', `${what}: registry ${this.registry} refused the credentials from ${credentials.source}`);
  }

  private async token(scheme: BearerScheme, scopes: readonly string[]): Promise<string> {
    const key = scopeKey(scopes);
    const cached = this.tokens.get(key);
    if (cached && cached.expires > Date.now()) return cached.value;
    const credentials = await this.loadCredentials();
    if (credentials) checkRealmMayReceiveCredentials(scheme.realm, this.registry);
    const what = `getting a token for ${key} from ${scheme.realm.origin}`;
    const response = credentials?.identityToken ? await this.exchangeRefreshToken(scheme, scopes, credentials.identityToken) : await this.requestToken(scheme, scopes, credentials);
    if (response.statusCode === 401 || response.statusCode === 403) {
      await response.body.dump();
      throw await this.refusal(what);
    }
    if (response.statusCode !== 200) throw await responseError(response, what);
    const { token, expires } = parseTokenResponse((await readCapped(response.body, MAX_TOKEN_RESPONSE_BYTES, `${what}: the token response`)).toString('utf8'), what);
    this.tokens.set(key, { value: token, expires });
    return token;
  }

  private requestToken(scheme: BearerScheme, scopes: readonly string[], credentials: RegistryCredentials | undefined) {
    return send(tokenRequestUrl(scheme, scopes), { method: 'GET', headers: credentials ? { authorization: basicAuthorization(credentials) } : {} }, this.retry);
  }

  /** OAuth2 refresh-token grant, as docker does with the identity token a login stored. */
  private exchangeRefreshToken(scheme: BearerScheme, scopes: readonly string[], refreshToken: string) {
    const form = new URLSearchParams({ grant_type: 'refresh_token', refresh_token: refreshToken, client_id: CLIENT_ID, scope: scopes.join(' ') });
    if (scheme.service !== undefined) form.set('service', scheme.service);
    return send(scheme.realm, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: form.toString() }, this.retry);
  }
}

function scopeKey(scopes: readonly string[]): string {
  return [...scopes].sort().join(' ');
}
