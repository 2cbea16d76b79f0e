/**
 * Binds the client and server entry points to one transport.
 *
 * @module
 */

import type { AddressInput } from "./address.ts";
import type { Codec } from "./framing/codec.ts";
import { connectWith, type ConnectOptions } from "./connect/connect.ts";
import type { Connection } from "./connection.ts";
import type { Target } from "./connect/endpoints.ts";
import { reconnectingWith, type ReconnectingClient } from "./reconnecting/client.ts";
import type { ReconnectingOptions } from "./reconnecting/options.ts";
import { listenWith, type ConnectionHandler, type ListenOptions, type Server } from "./server/server.ts";
import type { SessionHandler } from "./session/server-sessions.ts";
import type { SessionServerOptions } from "./session/session-options.ts";
import type { Transport } from "./transport.ts";

/** The API a runtime entry point exports, bound to that runtime's transport. */
export interface Net {
  /** Opens a connection. */
  connect(address: AddressInput, options?: ConnectOptions): Promise<Connection>;
  /** Listens for resumable sessions: `handler` is called once per session, not per TCP connection. */
  listen<T = Uint8Array>(options: ListenOptions & { readonly session: true | SessionServerOptions<T> }, handler: SessionHandler<T>): Promise<Server>;
  /** Listens and hands each connection to `handler`. */
  listen(options: ListenOptions, handler: ConnectionHandler): Promise<Server>;
  /** Keeps a connection to `target` alive; with a codec, sends and yields frames. */
  reconnecting<T>(target: Target, options: ReconnectingOptions<T> & { readonly codec: Codec<T> }): ReconnectingClient<T>;
  /** Keeps a connection to `target` alive; sends and yields raw bytes. */
  reconnecting(target: Target, options?: ReconnectingOptions<Uint8Array>): ReconnectingClient<Uint8Array>;
}

/**
 * Binds `connect`, `listen` and `reconnecting` to a transport.
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
    listen: ((options: ListenOptions, handler: ConnectionHandler) => listenWith(transport, options, handler)) as Net["listen"],
    reconnecting: <T>(target: Target, options?: ReconnectingOptions<T>) => reconnectingWith(transport, target, options as ReconnectingOptions<T> & { readonly codec: Codec<T> }),
  };
}
