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
