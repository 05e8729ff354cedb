import { request, type IncomingMessage, type ServerResponse } from 'node:http';

/**
 * Sends `incoming` on to `target` (method, headers and body unchanged, Host included) and
 * pipes the answer back; a failure on either side drops the client's connection.
 * `onBodyBytes` hears of every request body chunk passed on; `onAnswer` of the status.
 */
export function forward(incoming: IncomingMessage, outgoing: ServerResponse, target: URL, observe: { onBodyBytes?: (count: number) => void; onAnswer?: (status: number) => void } = {}): void {
  const forwarded = request(target, { method: incoming.method, headers: incoming.headers }, (answer) => {
    observe.onAnswer?.(answer.statusCode!);
    outgoing.writeHead(answer.statusCode!, answer.headers);
    answer.pipe(outgoing);
  });
  forwarded.on('error', () => incoming.socket.destroy());
  incoming.on('data', (chunk: Buffer) => observe.onBodyBytes?.(chunk.byteLength));
  incoming.pipe(forwarded);
}
