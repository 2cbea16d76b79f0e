/**
 * Listening for connections and handing each one to a handler.
 *
 * @module
 */

import { formatAddress, parseAddress, type Address } from "./address.ts";
import { Connection } from "./connection.ts";
import { invalidOption, toNetError } from "./errors.ts";
import { applySocketOptions, checkSocketOptions, type SocketOptions } from "./options.ts";
import type { RawListener, RawSocket, SocketAddress, Transport } from "./transport.ts";

/** Where and how to listen. */
export interface ListenOptions extends SocketOptions {
  /** Interface to bind. Default "127.0.0.1"; use "0.0.0.0" or "::" to accept from other hosts. */
  hostname?: string;
  /** TCP port; 0 (default) picks a free one, readable from `server.address`. */
  port?: number;
  /** Unix socket path, instead of hostname/port. */
  path?: string;
  /** Accept backlog (ERR_UNSUPPORTED on Bun, whose backlog is fixed). */
  backlog?: number;
  /** SO_REUSEPORT, so several processes share one port (ERR_UNSUPPORTED where missing). */
  reusePort?: boolean;
  /** Accept IPv6 only on a "::" listener (ERR_UNSUPPORTED where missing). */
  ipv6Only?: boolean;
}

/** Called once per accepted connection; the connection is closed when it settles. */
export type ConnectionHandler = (conn: Connection) => void | Promise<void>;

/**
 * A listening server.
 *
 * @example
 * ```ts
 * import { listen } from "wireline";
 * const server = await listen({ port: 0 }, async (conn) => {
 *   for await (const chunk of conn) await conn.write(chunk);
 * });
 * console.log("echo on", server.address);
 * await server.close();
 * ```
 */
export class Server implements AsyncDisposable {
  readonly #listener: RawListener;
  readonly #connections = new Set<Connection>();
  #closing: Promise<void> | undefined;

  /** @internal Use `listen()`. */
  constructor(listener: RawListener, connections: Set<Connection>) {
    this.#listener = listener;
    this.#connections = connections;
  }

  /** The bound address, with the real port when port 0 was asked for. */
  get address(): SocketAddress {
    return this.#listener.address;
  }

  /** Stops accepting, closes open connections, and resolves when all are gone. */
  close(): Promise<void> {
    return (this.#closing ??= (async () => {
      await this.#listener.close();
      await Promise.all([...this.#connections].map((c) => c.close()));
    })());
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}

function listenAddress(options: ListenOptions): Address {
  if (options.path !== undefined) {
    if (options.hostname !== undefined || options.port !== undefined) {
      throw invalidOption("path", options.path, "used without hostname or port");
    }
    return parseAddress({ path: options.path });
  }
  return parseAddress({ hostname: options.hostname ?? "127.0.0.1", port: options.port ?? 0 }, { allowPortZero: true });
}

/**
 * Listens through `transport`. Most users call the bound `listen()` from
 * `wireline`; this form is for custom transports.
 *
 * @example
 * ```ts
 * import { listenWith } from "wireline";
 * import { memoryTransport } from "wireline/memory";
 * const server = await listenWith(memoryTransport, { port: 7000 }, (conn) => conn.close());
 * ```
 */
export async function listenWith(transport: Transport, options: ListenOptions, handler: ConnectionHandler): Promise<Server> {
  if (typeof handler !== "function") throw invalidOption("handler", handler, "a function");
  const address = listenAddress(options);
  checkSocketOptions(options);
  if (options.backlog !== undefined && (!Number.isInteger(options.backlog) || options.backlog < 1)) {
    throw invalidOption("backlog", options.backlog, "a positive integer");
  }
  const label = formatAddress(address);
  const connections = new Set<Connection>();
  const onAccept = (raw: RawSocket) => {
    let conn: Connection;
    try {
      applySocketOptions(raw, options, address.transport === "tcp");
      conn = new Connection(raw, label, { allowHalfOpen: options.allowHalfOpen });
    } catch {
      raw.destroy();
      return;
    }
    connections.add(conn);
    conn.closed.then(() => connections.delete(conn));
    Promise.resolve()
      .then(() => handler(conn))
      .then(
        () => conn.close(),
        (error) => conn.destroy(toNetError(error, label)),
      );
  };
  const listener = await transport.listen(
    { address, backlog: options.backlog, reusePort: options.reusePort, ipv6Only: options.ipv6Only },
    onAccept,
  );
  return new Server(listener, connections);
}
