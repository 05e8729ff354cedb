/** One challenge of a WWW-Authenticate header: its scheme (lowercase) and auth-params (lowercase names). */
export interface AuthChallenge {
  scheme: string;
  params: Record<string, string>;
}

const TOKEN_END = /[\s,=]/;

/**
 * Parses a WWW-Authenticate header (RFC 9110 §11.6.1) into its challenges, e.g.
 * `Bearer realm="https://auth.example/token",service="registry.example",scope="repository:app:pull"`.
 * Quoted values may hold commas and backslash escapes; several challenges may share one header.
 */
export function parseChallenges(header: string): AuthChallenge[] {
  const challenges: AuthChallenge[] = [];
  let i = 0;
  const skip = (pattern: RegExp) => {
    while (i < header.length && pattern.test(header[i])) i++;
  };
  const readToken = () => {
    const start = i;
    while (i < header.length && !TOKEN_END.test(header[i])) i++;
    return header.slice(start, i);
  };
  while (i < header.length) {
    skip(/[\s,]/);
    const token = readToken();
    if (!token) {
      i++;
      continue;
    }
    skip(/\s/);
    if (header[i] !== '=') {
      challenges.push({ scheme: token.toLowerCase(), params: {} });
      continue;
    }
    i++;
    skip(/\s/);
    let value = '';
    if (header[i] === '"') {
      for (i++; i < header.length && header[i] !== '"'; i++) value += header[i] === '\\' ? header[++i] ?? '' : header[i];
      i++;
    } else {
      value = readToken();
    }
    const current = challenges.at(-1);
    if (current) current.params[token.toLowerCase()] = value;
  }
  return challenges;
}

/**
 * Whether a registry's credentials may be sent to the bearer token realm it named: over
 * HTTPS, or to the registry's own host (a plain-HTTP test registry with its own token
 * service). A plain-HTTP realm elsewhere would hand them to anyone on the path.
 */
export function realmMayReceiveCredentials(realm: URL, registryHost: string): boolean {
  return realm.protocol === 'https:' || realm.host === registryHost;
}

export function credentialsRefusedForRealm(realm: URL, registryHost: string): string {
  return `registry ${registryHost} named the token realm ${realm.origin}, plain HTTP on another host: its credentials are not sent there`;
}
