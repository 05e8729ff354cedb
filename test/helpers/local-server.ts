import type { Server } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import type { Test } from 'tap';

/**
 * Starts `server` on 127.0.0.1 and a free port, and closes it at the test's teardown with
 * every connection it has, plus `sockets` it does not track itself (CONNECT tunnels, raw
 * sockets). Returns the port.
 */
export async function listenLocally(t: Test, server: Server, sockets: Iterable<Socket> = []): Promise<number> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => {
    for (const socket of sockets) socket.destroy();
    server.closeAllConnections();
    return new Promise<void>((resolve) => server.close(() => resolve()));
  });
  return (server.address() as AddressInfo).port;
}
