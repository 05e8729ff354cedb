import { BlockList, isIP } from 'node:net';
import { PrtiqlError } from './errors.js';

/** The proxies the environment names (docs/artifact-store.md, "Proxies"). */
export interface ProxySettings {
  /** For http:// targets: http_proxy, else HTTP_PROXY. */
  http?: URL;
  /** For https:// targets: https_proxy, else HTTPS_PROXY. */
  https?: URL;
  /** no_proxy, else NO_PROXY: hosts reached directly. */
  noProxy: NoProxyRule[];
}

type NoProxyRule = { kind: 'all' } | { kind: 'name'; name: string; port?: string } | { kind: 'addresses'; list: BlockList };

function variable(env: NodeJS.ProcessEnv, name: string): string | undefined {
  const value = env[name.toLowerCase()] || env[name.toUpperCase()];
  return value?.trim() || undefined;
}

/** A proxy URL; `host:port` without a scheme is http://, as curl reads it. Only HTTP proxies are supported. */
function parseProxy(value: string | undefined, name: string): URL | undefined {
  if (value === undefined) return undefined;
  let url: URL;
  try {
    url = new URL(/^[a-z][a-z0-9+.-]*:\/\//i.test(value) ? value : `http://${value}`);
  } catch {
    throw new PrtiqlError('E_USAGE', `${name} is not a proxy URL (http://<host>:<port>)`);
  }
  if (url.protocol !== 'http:') throw new PrtiqlError('E_USAGE', `${name} names a ${url.protocol} proxy; only http:// proxies are supported`);
  return url;
}

function unbracket(host: string): string {
  return host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host;
}

/**
 * One NO_PROXY entry, read as curl reads it: `*` is every host; an address or a CIDR block
 * (`10.0.0.0/8`, `::1`) matches addresses; any other name matches itself and every name
 * under it, with or without a leading `.` (or `*.`). An entry with `:port` matches that port only.
 */
function parseNoProxyEntry(entry: string): NoProxyRule | undefined {
  if (entry === '*') return { kind: 'all' };
  const [address, prefix] = entry.split('/');
  const ip = unbracket(address);
  const family = isIP(ip);
  if (family !== 0) {
    const list = new BlockList();
    const type = family === 4 ? 'ipv4' : 'ipv6';
    const bits = prefix === undefined ? (family === 4 ? 32 : 128) : Number(prefix);
    if (!Number.isInteger(bits) || bits < 0 || bits > (family === 4 ? 32 : 128)) return undefined;
    list.addSubnet(ip, bits, type);
    return { kind: 'addresses', list };
  }
  const match = /^(?:\*?\.)?([^:/]+)(?::([0-9]+))?$/.exec(entry);
  return match ? { kind: 'name', name: match[1], ...(match[2] && { port: match[2] }) } : undefined;
}

export function proxySettingsFromEnv(env: NodeJS.ProcessEnv): ProxySettings {
  const noProxy = (variable(env, 'no_proxy') ?? '')
    .toLowerCase()
    .split(/[\s,]+/)
    .filter(Boolean)
    .map(parseNoProxyEntry)
    .filter((rule): rule is NoProxyRule => rule !== undefined);
  return { http: parseProxy(variable(env, 'http_proxy'), 'http_proxy'), https: parseProxy(variable(env, 'https_proxy'), 'https_proxy'), noProxy };
}

function bypasses(rule: NoProxyRule, host: string, port: string): boolean {
  switch (rule.kind) {
    case 'all':
      return true;
    case 'addresses': {
      const family = isIP(host);
      return family !== 0 && rule.list.check(host, family === 4 ? 'ipv4' : 'ipv6');
    }
    case 'name':
      return (rule.port === undefined || rule.port === port) && (host === rule.name || host.endsWith(`.${rule.name}`));
  }
}

/** The proxy to reach `target` through, or undefined to reach it directly. */
export function proxyFor(target: URL, settings: ProxySettings): URL | undefined {
  const proxy = target.protocol === 'https:' ? settings.https : target.protocol === 'http:' ? settings.http : undefined;
  if (!proxy) return undefined;
  const host = unbracket(target.hostname.toLowerCase()).replace(/\.$/, '');
  const port = target.port || (target.protocol === 'https:' ? '443' : '80');
  return settings.noProxy.some((rule) => bypasses(rule, host, port)) ? undefined : proxy;
}
