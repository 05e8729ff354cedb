import { createServer } from 'node:http';
import { connect, type Socket } from 'node:net';
import type { Test } from 'tap';
import { listenLocally } from './local-server.js';
import { forward } from './http-forward.js';

export interface ForwardProxy {
  /** http://127.0.0.1:<port>, for HTTP_PROXY and HTTPS_PROXY. */
  url: string;
  /** What went through: "METHOD http://host/path" for forwarded requests, "CONNECT host:port" for tunnels. */
  requests: string[];
  /** The Proxy-Authorization header of each of them ('' when none), in the same order. */
  authorizations: string[];
}

/**
 * A real forward proxy on 127.0.0.1, as corporate networks have them: absolute-form requests
 * for http:// URLs are passed on, CONNECT opens a tunnel (for https://). Records what went
 * through it; closed at teardown.
 */
export async function startForwardProxy(t: Test): Promise<ForwardProxy> {
  const requests: string[] = [];
  const authorizations: string[] = [];
  const sockets = new Set<Socket>();
  const server = createServer((incoming, outgoing) => {
    requests.push(`${incoming.method} ${incoming.url}`);
    authorizations.push(incoming.headers['proxy-authorization'] ?? '');
    if (!/^http:\/\//.test(incoming.url!)) {
      outgoing.writeHead(400).end('absolute-form requests only');
      return;
    }
    forward(incoming, outgoing, new URL(incoming.url!));
  });
  server.on('connect', (incoming, client: Socket, head: Buffer) => {
    requests.push(`CONNECT ${incoming.url}`);
    authorizations.push(incoming.headers['proxy-authorization'] ?? '');
    const target = new URL(`http://${incoming.url}`);
    const upstream = connect(Number(target.port), target.hostname.replace(/^\[|\]$/g, ''), () => {
      client.write('HTTP/1.1 200 Connection Established\r\n\r\n');
      upstream.write(head);
      upstream.pipe(client);
      client.pipe(upstream);
    });
    for (const socket of [client, upstream]) {
      sockets.add(socket);
      socket.once('close', () => sockets.delete(socket));
    }
    upstream.on('error', () => client.destroy());
    client.on('error', () => upstream.destroy());
  });
  return { url: `http://127.0.0.1:${await listenLocally(t, server, sockets)}`, requests, authorizations };
}
