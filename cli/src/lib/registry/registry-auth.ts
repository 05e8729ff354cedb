import { readCapped } from '../../../../shared/capped-read.js';
import { PrtiqlError } from '../../../../shared/errors.js';
import { credentialLocations, findCredentials, type CredentialOptions, type RegistryCredentials } from './credentials.js';
import { responseError } from './registry-errors.js';
import { send } from './registry-http.js';
import { credentialsRefusedForRealm, parseChallenges, realmMayReceiveCredentials } from '../../../../shared/www-authenticate.js';
import { MAX_TOKEN_RESPONSE_BYTES } from '../../../../shared/limits.js';

type Scheme = { kind: 'basic' } | { kind: 'bearer'; realm: URL; service?: string };

const DEFAULT_TOKEN_LIFETIME_S = 60;
const EXPIRY_MARGIN_MS = 10_000;
const CLIENT_ID = 'prtiql';

/** `repository:<name>:<actions>`, the token scope of the distribution auth spec. */
export function repositoryScope(repository: string, actions: 'pull' | 'pull,push'): string {
  return `repository:${repository}:${actions}`;
}

function basic(credentials: RegistryCredentials): string {
  return `Basic ${Buffer.from(`${credentials.username}:${credentials.password}`).toString('base64')}`;
}

/**
 * Authorization for one registry: learns the scheme from the first 401 challenge
 * (Bearer realm/service, or Basic), then sends credentials directly (Basic) or fetches
 * and caches a token per set of scopes until shortly before it expires (Bearer).
 */
export class RegistryAuth {
  private scheme: Scheme | undefined;
  private credentials: Promise<RegistryCredentials | undefined> | undefined;
  private readonly tokens = new Map<string, { value: string; expires: number }>();

  constructor(
    private readonly registry: string,
    private readonly options: CredentialOptions,
  ) {}

  private loadCredentials(): Promise<RegistryCredentials | undefined> {
    return (this.credentials ??= findCredentials(this.registry, this.options));
  }

  /** The Authorization header for `scopes`, or undefined while no challenge has been seen. */
  async header(scopes: readonly string[]): Promise<string | undefined> {
    if (!this.scheme) return undefined;
    if (this.scheme.kind === 'bearer') return `Bearer ${await this.token(this.scheme, scopes)}`;
    const credentials = await this.loadCredentials();
    return credentials && !credentials.identityToken ? basic(credentials) : undefined;
  }

  /**
   * Takes the WWW-Authenticate of a 401 and forgets the token that was refused. False when
   * the registry offers no scheme this client speaks.
   */
  learn(header: string | string[] | undefined, scopes: readonly string[]): boolean {
    const challenges = parseChallenges([header ?? []].flat().join(', '));
    const bearer = challenges.find((challenge) => challenge.scheme === 'bearer' && challenge.params.realm);
    this.tokens.delete(scopeKey(scopes));
    if (bearer) {
      let realm: URL;
      try {
        realm = new URL(bearer.params.realm);
      } catch {
        throw new PrtiqlError('E_BAD_INPUT', `registry ${this.registry} sent a token realm that is no URL: ${JSON.stringify(bearer.params.realm)}`);
      }
      this.scheme = { kind: 'bearer', realm, ...(bearer.params.service !== undefined && { service: bearer.params.service }) };
      return true;
    }
    if (challenges.some((challenge) => challenge.scheme === 'basic')) {
      this.scheme = { kind: 'basic' };
      return true;
    }
    return false;
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

  private async token(scheme: Extract<Scheme, { kind: 'bearer' }>, scopes: readonly string[]): Promise<string> {
    const key = scopeKey(scopes);
    const cached = this.tokens.get(key);
    if (cached && cached.expires > Date.now()) return cached.value;
    const credentials = await this.loadCredentials();
    if (credentials && !realmMayReceiveCredentials(scheme.realm, this.registry)) {
      throw new PrtiqlError('E_UNAUTHORIZED', credentialsRefusedForRealm(scheme.realm, this.registry));
    }
    const what = `getting a token for ${key} from ${scheme.realm.origin}`;
    const response = credentials?.identityToken ? await this.exchangeRefreshToken(scheme, scopes, credentials.identityToken) : await this.requestToken(scheme, scopes, credentials);
    if (response.statusCode === 401 || response.statusCode === 403) {
      await response.body.dump();
      throw await this.refusal(what);
    }
    if (response.statusCode !== 200) throw await responseError(response, what);
    const parsed = parseTokenResponse((await readCapped(response.body, MAX_TOKEN_RESPONSE_BYTES, `${what}: the token response`)).toString('utf8'), what);
    this.tokens.set(key, { value: parsed.token, expires: Date.now() + parsed.lifetime * 1000 - EXPIRY_MARGIN_MS });
    return parsed.token;
  }

  private requestToken(scheme: Extract<Scheme, { kind: 'bearer' }>, scopes: readonly string[], credentials: RegistryCredentials | undefined) {
    const url = new URL(scheme.realm);
    if (scheme.service !== undefined) url.searchParams.set('service', scheme.service);
    for (const scope of scopes) url.searchParams.append('scope', scope);
    return send(url, { method: 'GET', headers: credentials ? { authorization: basic(credentials) } : {} });
  }

  /** OAuth2 refresh-token grant, as docker does with the identity token a login stored. */
  private exchangeRefreshToken(scheme: Extract<Scheme, { kind: 'bearer' }>, scopes: readonly string[], refreshToken: string) {
    const form = new URLSearchParams({ grant_type: 'refresh_token', refresh_token: refreshToken, client_id: CLIENT_ID, scope: scopes.join(' ') });
    if (scheme.service !== undefined) form.set('service', scheme.service);
    return send(scheme.realm, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: form.toString() });
  }
}

function scopeKey(scopes: readonly string[]): string {
  return [...scopes].sort().join(' ');
}

function parseTokenResponse(body: string, what: string): { token: string; lifetime: number } {
  let parsed: { token?: unknown; access_token?: unknown; expires_in?: unknown };
  try {
    parsed = JSON.parse(body) as typeof parsed;
  } catch {
    throw new PrtiqlError('E_BAD_INPUT', `${what}: the token response is not JSON`);
  }
  const token = typeof parsed.token === 'string' && parsed.token ? parsed.token : parsed.access_token;
  if (typeof token !== 'string' || !token) throw new PrtiqlError('E_BAD_INPUT', `${what}: the token response holds no token`);
  const lifetime = typeof parsed.expires_in === 'number' && parsed.expires_in > 0 ? parsed.expires_in : DEFAULT_TOKEN_LIFETIME_S;
  return { token, lifetime };
}
