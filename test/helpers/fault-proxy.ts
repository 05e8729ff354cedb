import { createServer, type IncomingMessage } from 'node:http';
import type { Test } from 'tap';
import { listenLocally } from './local-server.js';
import { forward } from './http-forward.js';

/** Faults the proxy serves instead of passing requests on; counters count down as they are served. */
export interface ProxyFaults {
  /** Answer the next `times` requests (of `method` only, when given) with `status`, and `Retry-After` when given. */
  failWith?: { status: number; times: number; retryAfter?: string; method?: string };
  /** Drop the connection of the next `times` requests (of `method` only, when given) without an answer. */
  reset?: { times: number; method?: string };
}

export interface ProxiedExchange {
  method: string;
  /** Path and query. */
  url: string;
  /** The status the client got, or "reset". */
  answer: number | 'reset';
  /** Request body bytes received from the client. */
  bodyBytes: number;
}

export interface FaultProxy {
  /** http://127.0.0.1:<port> */
  endpoint: string;
  /** 127.0.0.1:<port>, for docker:// references. */
  host: string;
  faults: ProxyFaults;
  exchanges: ProxiedExchange[];
}

function due(fault: { times: number; method?: string } | undefined, request: IncomingMessage): boolean {
  return fault !== undefined && fault.times > 0 && (fault.method === undefined || fault.method === request.method);
}

/**
 * A real HTTP reverse proxy on 127.0.0.1 in front of `upstream` (an S3 endpoint, a registry)
 * that records every exchange with its body size, and serves the faults switched on in
 * `faults` instead of passing requests on: error answers and dropped connections, after
 * reading the request body as a server failing late would. Closed at teardown.
 */
export async function startFaultProxy(t: Test, upstream: string): Promise<FaultProxy> {
  const faults: ProxyFaults = {};
  const exchanges: ProxiedExchange[] = [];
  const server = createServer((incoming, outgoing) => {
    const exchange: ProxiedExchange = { method: incoming.method!, url: incoming.url!, answer: 'reset', bodyBytes: 0 };
    exchanges.push(exchange);
    if (due(faults.failWith, incoming) || due(faults.reset, incoming)) {
      const failure = due(faults.failWith, incoming) ? faults.failWith! : undefined;
      if (failure) failure.times--;
      else faults.reset!.times--;
      incoming.on('data', (chunk: Buffer) => (exchange.bodyBytes += chunk.byteLength));
      incoming.on('end', () => {
        if (!failure) return incoming.socket.destroy();
        exchange.answer = failure.status;
        outgoing.writeHead(failure.status, { 'content-length': '0', ...(failure.retryAfter !== undefined && { 'retry-after': failure.retryAfter }) }).end();
      });
      return;
    }
    forward(incoming, outgoing, new URL(incoming.url!, upstream), {
      onBodyBytes: (count) => (exchange.bodyBytes += count),
      onAnswer: (status) => (exchange.answer = status),
    });
  });
  const host = `127.0.0.1:${await listenLocally(t, server)}`;
  return { endpoint: `http://${host}`, host, faults, exchanges };
}
