/**
 * Binds the client and server entry points to one transport.
 *
 * @module
 */

import type { AddressInput } from "./address.ts";
import { connectWith, type ConnectOptions } from "./connect.ts";
import type { Connection } from "./connection.ts";
import { listenWith, type ConnectionHandler, type ListenOptions, type Server } from "./server.ts";
import type { Transport } from "./transport.ts";

/** The API a runtime entry point exports, bound to that runtime's transport. */
export interface Net {
  /** Opens a connection. */
  connect(address: AddressInput, options?: ConnectOptions): Promise<Connection>;
  /** Listens and hands each connection to `handler`. */
  listen(options: ListenOptions, handler: ConnectionHandler): Promise<Server>;
}

/**
 * Binds `connect` and `listen` to a transport.
 *
 * @example
 * ```ts
 * import { createNet } from "wireline";
 * import { memoryTransport } from "wireline/memory";
 * const net = createNet(memoryTransport);
 * const server = await net.listen({ port: 7000 }, (conn) => conn.close());
 * ```
 */
export function createNet(transport: Transport): Net {
  return {
    connect: (address, options) => connectWith(transport, address, options),
    listen: (options, handler) => listenWith(transport, options, handler),
  };
}
