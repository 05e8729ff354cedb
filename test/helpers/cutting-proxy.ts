import { createServer, request, type Server } from 'node:http';
import type { Test } from 'tap';
import { listenLocally } from './local-server.js';

export interface CuttingProxy {
  /** http://127.0.0.1:<port>, to use in place of the upstream endpoint. */
  endpoint: string;
  /** "METHOD /path?query" of every request received, in order. */
  requests: string[];
}

/**
 * A real HTTP reverse proxy on 127.0.0.1 in front of `upstream` that lets the first
 * `cutAfterBytes` bytes of PUT bodies through and then drops the connection of every PUT
 * that sends more: an upload that fails halfway, for good. Requests without a PUT body
 * (HEAD, GET, POST, DELETE) always pass, so clean-up requests still reach the server.
 */
export async function startCuttingProxy(t: Test, upstream: string, cutAfterBytes: number): Promise<CuttingProxy> {
  const requests: string[] = [];
  let putBytes = 0;
  const server: Server = createServer((incoming, outgoing) => {
    requests.push(`${incoming.method} ${incoming.url}`);
    const forwarded = request(new URL(incoming.url!, upstream), { method: incoming.method, headers: incoming.headers }, (answer) => {
      outgoing.writeHead(answer.statusCode!, answer.headers);
      answer.pipe(outgoing);
    });
    forwarded.on('error', () => incoming.socket.destroy());
    incoming.on('data', (chunk: Buffer) => {
      if (incoming.method === 'PUT') {
        putBytes += chunk.byteLength;
        if (putBytes > cutAfterBytes) {
          forwarded.destroy();
          incoming.socket.destroy();
          return;
        }
      }
      if (!forwarded.write(chunk)) {
        incoming.pause();
        forwarded.once('drain', () => incoming.resume());
      }
    });
    incoming.on('end', () => forwarded.end());
  });
  return { endpoint: `http://127.0.0.1:${await listenLocally(t, server)}`, requests };
}
