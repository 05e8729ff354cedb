import { Agent as HttpAgent, request as httpRequest, type AgentOptions, type ClientRequest, type ClientRequestArgs } from 'node:http';
import { Agent as HttpsAgent, type RequestOptions as HttpsRequestOptions } from 'node:https';
import { connect as netConnect, type Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { connect as tlsConnect } from 'node:tls';
import { PrtiqlError } from './errors.js';
import { proxyFor, type ProxySettings } from './proxy-env.js';

type ConnectionCallback = (error: Error | null, stream: Duplex) => void;

function unbracket(host: string): string {
  return host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host;
}

/** host:port as a request target, IPv6 in brackets. */
function authority(host: string, port: number | string): string {
  const bare = unbracket(host);
  return `${bare.includes(':') ? `[${bare}]` : bare}:${port}`;
}

/** Basic credentials for the proxy, from the user and password of its URL. */
function proxyAuthorization(proxy: URL): string | undefined {
  if (proxy.username === '') return undefined;
  return `Basic ${Buffer.from(`${decodeURIComponent(proxy.username)}:${decodeURIComponent(proxy.password)}`).toString('base64')}`;
}

function connectToProxy(proxy: URL): Socket {
  return netConnect({ host: unbracket(proxy.hostname), port: Number(proxy.port || 80) });
}

/** Asks `proxy` for a tunnel to `target` (HTTP CONNECT); the socket then carries the bytes to and from `target`. */
function openTunnel(proxy: URL, target: string, callback: (error: Error | null, socket?: Socket) => void): void {
  const auth = proxyAuthorization(proxy);
  const connect = httpRequest({
    method: 'CONNECT',
    path: target,
    headers: { host: target, ...(auth && { 'proxy-authorization': auth }) },
    createConnection: () => connectToProxy(proxy),
  });
  connect.once('connect', (response, socket) => {
    if (response.statusCode === 200) return callback(null, socket);
    socket.destroy();
    callback(new PrtiqlError('E_NETWORK', `proxy ${proxy.host} refused a tunnel to ${target}: HTTP ${response.statusCode}`));
  });
  connect.once('error', (error) => callback(error));
  connect.end();
}

/**
 * Reaches HTTPS servers through the proxy the settings name for them: a CONNECT tunnel, then
 * TLS to the server inside it. Servers NO_PROXY names are reached directly.
 */
class TunnellingAgent extends HttpsAgent {
  constructor(
    private readonly settings: ProxySettings,
    options: AgentOptions,
  ) {
    super(options);
  }

  override createConnection(options: HttpsRequestOptions, callback?: ConnectionCallback): Duplex | null | undefined {
    const host = options.host ?? 'localhost';
    const port = options.port ?? 443;
    const proxy = proxyFor(new URL(`https://${authority(host, port)}`), this.settings);
    if (!proxy) return super.createConnection(options, callback);
    openTunnel(proxy, authority(host, port), (error, socket) => {
      if (error || !socket) return callback?.(error ?? new Error('no tunnel'), undefined as unknown as Duplex);
      callback?.(null, tlsConnect({ ...(options as object), socket, servername: options.servername ?? unbracket(host) }));
    });
    return undefined;
  }
}

/**
 * Reaches plain-HTTP servers through the proxy the settings name for them: requests go to the
 * proxy with the absolute URL as their target. Servers NO_PROXY names are reached directly.
 */
class ForwardingAgent extends HttpAgent {
  constructor(
    private readonly settings: ProxySettings,
    options: AgentOptions,
  ) {
    super(options);
  }

  /** Node calls this for every request before its head is sent: the moment to point it at the proxy. */
  addRequest(request: ClientRequest, options: ClientRequestArgs): void {
    const target = authority(options.host ?? 'localhost', options.port ?? 80);
    const proxy = proxyFor(new URL(`http://${target}`), this.settings);
    const add = (HttpAgent.prototype as unknown as { addRequest(request: ClientRequest, options: ClientRequestArgs): void }).addRequest;
    if (!proxy) return add.call(this, request, options);
    request.path = `http://${target}${request.path}`;
    const auth = proxyAuthorization(proxy);
    // A request sending `Expect` has its head rendered already: rewrite its first line.
    const head = (request as unknown as { _header: string | null })._header;
    if (typeof head === 'string') {
      const [line, ...rest] = head.split('\r\n');
      (request as unknown as { _header: string })._header = [line.replace(/^(\S+) \S+/, `$1 ${request.path}`), ...(auth ? [`Proxy-Authorization: ${auth}`] : []), ...rest].join('\r\n');
    } else if (auth) {
      request.setHeader('proxy-authorization', auth);
    }
    add.call(this, request, { ...options, host: unbracket(proxy.hostname), port: Number(proxy.port || 80) });
  }
}

export interface ProxyAgents {
  httpAgent: HttpAgent;
  httpsAgent: HttpsAgent;
}

/** Node agents that send each request through the proxy `settings` name for its server, or directly. */
export function proxyAgents(settings: ProxySettings, options: AgentOptions = {}): ProxyAgents {
  return { httpAgent: new ForwardingAgent(settings, options), httpsAgent: new TunnellingAgent(settings, options) };
}
