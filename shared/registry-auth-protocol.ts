import { PrtiqlError } from './errors.js';
import { parseChallenges } from './www-authenticate.js';

/**
 * The pure part of registry authorization (the distribution spec's token auth), for the
 * publisher's registry client and the device's registry source alike: which scheme a 401
 * asks for, what to send the token server, what its answer means, and where credentials may
 * go. Sending the requests stays with each program's transport.
 */

export type RegistryAuthScheme = { kind: 'basic' } | { kind: 'bearer'; realm: URL; service?: string };

export interface RegistryCredentials {
  username: string;
  password: string;
}

const DEFAULT_TOKEN_SECONDS = 60;
/** A token is renewed this long before it expires, so none expires on its way to the registry. */
const TOKEN_MARGIN_MS = 10_000;

/** `repository:<name>:<actions>`, the token scope of the distribution auth spec. */
export function repositoryScope(repository: string, actions: 'pull' | 'pull,push' | 'pull,push,delete'): string {
  return `repository:${repository}:${actions}`;
}

export function basicAuthorization(credentials: RegistryCredentials): string {
  return `Basic ${Buffer.from(`${credentials.username}:${credentials.password}`).toString('base64')}`;
}

/**
 * The scheme a 401's WWW-Authenticate offers that prtiql speaks: Bearer with a realm, else
 * Basic; undefined when it offers neither. A realm that is no URL is E_BAD_INPUT.
 */
export function challengedScheme(header: string, registryHost: string): RegistryAuthScheme | undefined {
  const challenges = parseChallenges(header);
  const bearer = challenges.find((challenge) => challenge.scheme === 'bearer' && challenge.params.realm);
  if (bearer) {
    let realm: URL;
    try {
      realm = new URL(bearer.params.realm);
    } catch {
      throw new PrtiqlError('E_BAD_INPUT', `registry ${registryHost} sent a token realm that is no URL: ${JSON.stringify(bearer.params.realm)}`);
    }
    return { kind: 'bearer', realm, ...(bearer.params.service !== undefined && { service: bearer.params.service }) };
  }
  return challenges.some((challenge) => challenge.scheme === 'basic') ? { kind: 'basic' } : undefined;
}

/** The GET that asks the realm for a token for `scopes`. */
export function tokenRequestUrl(scheme: Extract<RegistryAuthScheme, { kind: 'bearer' }>, scopes: readonly string[]): URL {
  const url = new URL(scheme.realm);
  if (scheme.service !== undefined) url.searchParams.set('service', scheme.service);
  for (const scope of scopes) url.searchParams.append('scope', scope);
  return url;
}

/**
 * Refuses to send a registry's credentials to the bearer token realm it named unless that is
 * over HTTPS, or the registry's own host on any port (a plain-HTTP registry's token service
 * beside it: the credentials already travel to that machine in the clear). A plain-HTTP realm
 * on another host would hand them to anyone on the path there: E_UNAUTHORIZED.
 */
export function checkRealmMayReceiveCredentials(realm: URL, registryHost: string): void {
  if (realm.protocol === 'https:' || realm.hostname === new URL(`http://${registryHost}`).hostname) return;
  throw new PrtiqlError('E_UNAUTHORIZED', `registry ${registryHost} named the token realm ${realm.origin}, plain HTTP on another host: its credentials are not sent there`);
}

/** A token server's answer: the token and when to stop using it (epoch ms, `now` being the time it arrived). */
export function parseTokenResponse(body: string, what: string, now = Date.now()): { token: string; expires: number } {
  let parsed: { token?: unknown; access_token?: unknown; expires_in?: unknown };
  try {
    parsed = JSON.parse(body) as typeof parsed;
  } catch {
    throw new PrtiqlError('E_BAD_INPUT', `${what}: the token response is not JSON`);
  }
  const token = typeof parsed.token === 'string' && parsed.token ? parsed.token : parsed.access_token;
  if (typeof token !== 'string' || !token) throw new PrtiqlError('E_BAD_INPUT', `${what}: the token response holds no token`);
  const seconds = typeof parsed.expires_in === 'number' && parsed.expires_in > 0 ? parsed.expires_in : DEFAULT_TOKEN_SECONDS;
  return { token, expires: now + seconds * 1000 - TOKEN_MARGIN_MS };
}
