/**
 * Small `node:net` helpers for the raw Node variants: listening on an
 * ephemeral loopback port and connecting with the options a careful user sets.
 *
 * @module
 */

import * as net from "node:net";

/** Listens on 127.0.0.1 with an ephemeral port. */
export function nodeListen(onConnection: (socket: net.Socket) => void): Promise<{ server: net.Server; port: number }> {
  return new Promise((resolve, reject) => {
    const server = net.createServer(onConnection);
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address() as net.AddressInfo;
      resolve({ server, port: address.port });
    });
  });
}

/** Connects to 127.0.0.1:`port` with TCP_NODELAY (as wireline does by default). */
export function nodeConnect(port: number): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host: "127.0.0.1", port, noDelay: true });
    socket.once("error", reject);
    socket.once("connect", () => {
      socket.off("error", reject);
      resolve(socket);
    });
  });
}

/** Closes a server without waiting for its connections. */
export function nodeClose(server: net.Server): void {
  server.close();
}
