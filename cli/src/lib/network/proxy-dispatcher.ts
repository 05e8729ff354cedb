import { ProxyAgent, type Dispatcher } from 'undici';
import { proxyFor, proxySettingsFromEnv, type ProxySettings } from '../../../../shared/proxy-env.js';

let settings: ProxySettings | undefined;
const agents = new Map<string, ProxyAgent>();

/**
 * The undici dispatcher that reaches `url` through the proxy HTTPS_PROXY / HTTP_PROXY name
 * (NO_PROXY as curl reads it: shared/proxy-env.ts), or undefined for a direct connection.
 * Plain-HTTP targets are forwarded (absolute-form requests), HTTPS ones tunnelled with CONNECT.
 */
export function proxyDispatcher(url: URL): Dispatcher | undefined {
  settings ??= proxySettingsFromEnv(process.env);
  const proxy = proxyFor(url, settings);
  if (!proxy) return undefined;
  let agent = agents.get(proxy.href);
  if (!agent) {
    agent = new ProxyAgent({ uri: proxy.href, proxyTunnel: false });
    agents.set(proxy.href, agent);
  }
  return agent;
}
