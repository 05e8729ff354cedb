import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Test } from 'tap';
import { listenLocally } from './local-server.js';

/** What the server does wrong; counters count down as faults are served. Change them between requests at will. */
export interface FaultSwitches {
  /** Answer the next `times` requests with `status` (e.g. 503). */
  failWith?: { status: number; times: number };
  /** Drop the connection after `bytes` body bytes, for the next `times` responses longer than that. */
  dropAfter?: { bytes: number; times: number };
  /** Answer Range requests with the whole file and status 200. */
  ignoreRange?: boolean;
  /** Answer the next `times` Range requests with a Content-Range that starts one byte late. */
  wrongContentRange?: { times: number };
  /** Send this many body bytes, then nothing more, keeping the connection open. */
  stallAfter?: number;
  /** Send this many body bytes of the next response longer than that, then the rest once `until` resolves. */
  holdAfter?: { bytes: number; until: Promise<void> };
  /** Send the body `bytes` at a time, one piece every `everyMs`. */
  trickle?: { bytes: number; everyMs: number };
  /** Send this byte of the file XORed with 0xff. */
  flipByteAt?: number;
  /** Answer every request with a 302 to this URL plus the request path. */
  redirectTo?: string;
  /** Send no Content-Length (the end of the body is the end of the connection). */
  noLength?: boolean;
}

export interface ReceivedRequest {
  path: string;
  range?: string;
  authorization?: string;
  /** Body bytes sent so far. */
  sent: number;
}

export interface FaultServer {
  /** http://127.0.0.1:<port>/ */
  url: string;
  switches: FaultSwitches;
  requests: ReceivedRequest[];
}

/**
 * A real HTTP server on 127.0.0.1 serving `files` (path to bytes) with Range support, and the
 * faults a flaky network or a broken server produce, switched on per test. Closed at teardown.
 */
export async function startFaultServer(t: Test, files: Record<string, Buffer>): Promise<FaultServer> {
  const switches: FaultSwitches = {};
  const requests: ReceivedRequest[] = [];
  const sockets = new Set<Socket>();
  const server = createServer((request, response) => {
    void answer(request, response).catch(() => response.destroy());
  });
  const answer = async (request: IncomingMessage, response: ServerResponse) => {
    const path = new URL(request.url ?? '/', 'http://x').pathname.slice(1);
    const received: ReceivedRequest = { path, range: request.headers.range, authorization: request.headers.authorization, sent: 0 };
    requests.push(received);
    if (switches.redirectTo) {
      response.writeHead(302, { location: new URL(path, switches.redirectTo).href }).end();
      return;
    }
    if (switches.failWith && switches.failWith.times > 0) {
      switches.failWith.times--;
      response.writeHead(switches.failWith.status).end();
      return;
    }
    const file = files[path];
    if (!file) {
      response.writeHead(404).end();
      return;
    }
    const range = /^bytes=([0-9]+)-$/.exec(request.headers.range ?? '');
    let start = range && !switches.ignoreRange ? Number(range[1]) : 0;
    const headers: Record<string, string> = {};
    let status = 200;
    if (range && !switches.ignoreRange) {
      status = 206;
      if (switches.wrongContentRange && switches.wrongContentRange.times > 0) {
        switches.wrongContentRange.times--;
        start += 1;
      }
      headers['content-range'] = `bytes ${start}-${file.length - 1}/${file.length}`;
    }
    const body = Buffer.from(file.subarray(start));
    if (switches.flipByteAt !== undefined && switches.flipByteAt >= start && switches.flipByteAt < file.length) body[switches.flipByteAt - start] ^= 0xff;
    if (!switches.noLength) headers['content-length'] = String(body.length);
    response.writeHead(status, headers);
    let limit = body.length;
    const drop = switches.dropAfter && switches.dropAfter.times > 0 && switches.dropAfter.bytes < limit ? switches.dropAfter : undefined;
    if (drop) {
      drop.times--;
      limit = Math.min(limit, drop.bytes);
    }
    if (switches.stallAfter !== undefined) limit = Math.min(limit, switches.stallAfter);
    const hold = switches.holdAfter && switches.holdAfter.bytes < limit ? switches.holdAfter : undefined;
    if (hold) switches.holdAfter = undefined;
    const piece = switches.trickle?.bytes ?? 64 * 1024;
    for (let offset = 0; offset < limit; ) {
      if (switches.trickle) await sleep(switches.trickle.everyMs);
      if (hold && offset === hold.bytes) await hold.until;
      if (response.destroyed) return;
      const end = Math.min(limit, offset + piece, hold && offset < hold.bytes ? hold.bytes : Infinity);
      received.sent += end - offset;
      if (!response.write(body.subarray(offset, end))) await new Promise((resolve) => response.once('drain', resolve));
      offset = end;
    }
    if (drop) response.socket?.destroy();
    else if (switches.stallAfter === undefined) response.end();
  };
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
  });
  return { url: `http://127.0.0.1:${await listenLocally(t, server, sockets)}/`, switches, requests };
}
