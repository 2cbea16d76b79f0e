/**
 * Readable `console.log` and `util.inspect` output for wireline's objects.
 * Node, Deno and Bun all honour the `nodejs.util.inspect.custom` symbol
 * (measured); it is a registered symbol, not a runtime API, so the core may
 * define it. A runtime whose inspect prefers a symbol of its own where a
 * class inherits one adds it through {@link useInspectSymbol}.
 *
 * @module
 */

import { formatAddress, type Address, type SocketAddress } from "../address.ts";

/**
 * The key of a custom inspect method: `[INSPECT]() { return "..." }`.
 *
 * @example
 * ```ts
 * import { INSPECT } from "./inspect.ts";
 * class Point {}
 * Object.defineProperty(Point.prototype, INSPECT, { value: () => "Point <1, 2>" });
 * console.log(new Point()); // Point <1, 2>
 * ```
 */
export const INSPECT: unique symbol = Symbol.for("nodejs.util.inspect.custom") as never;

/** Every class given a custom inspect method, so that a symbol added later reaches them too. */
const described: { readonly prototype: object; readonly method: PropertyDescriptor }[] = [];
const symbols: symbol[] = [INSPECT];

/**
 * Gives a class's instances a custom inspect method (from a `static {}`
 * block: a computed method name would need an explicit type under
 * isolatedDeclarations).
 *
 * @example
 * ```ts
 * import { inspectAs } from "./inspect.ts";
 * class Point { static { inspectAs(Point, () => "Point <1, 2>"); } }
 * ```
 */
export function inspectAs<T>(target: abstract new (...args: never[]) => T, describe: (instance: T) => string): void {
  const method: PropertyDescriptor = {
    value(this: T): string {
      return describe(this);
    },
    configurable: true,
    writable: true,
  };
  described.push({ prototype: target.prototype as object, method });
  for (const symbol of symbols) Object.defineProperty(target.prototype, symbol, method);
}

/**
 * Adds a runtime's own inspect symbol, for runtimes whose inspect prefers it
 * where a class inherits one (an adapter knows which). Every class given an
 * inspect method, before or after, answers to it too.
 *
 * @example
 * ```ts
 * import { useInspectSymbol } from "./inspect.ts";
 * useInspectSymbol(Symbol.for("my-runtime.inspect"));
 * ```
 */
export function useInspectSymbol(symbol: symbol): void {
  if (symbols.includes(symbol)) return;
  symbols.push(symbol);
  for (const { prototype, method } of described) Object.defineProperty(prototype, symbol, method);
}

/**
 * One line: `Name <summary> { key: value, ... }`, with undefined values left out.
 *
 * @example
 * ```ts
 * import { inspectLine } from "./inspect.ts";
 * inspectLine("Connection", "127.0.0.1:7000", { state: "open", bytesRead: 12 });
 * // 'Connection <127.0.0.1:7000> { state: "open", bytesRead: 12 }'
 * ```
 */
export function inspectLine(name: string, summary: string, fields: Readonly<Record<string, string | number | boolean | undefined>>): string {
  const parts: string[] = [];
  for (const [key, value] of Object.entries(fields)) {
    if (value !== undefined) parts.push(`${key}: ${typeof value === "string" ? JSON.stringify(value) : String(value)}`);
  }
  return `${name} <${summary}> { ${parts.join(", ")} }`;
}

/**
 * An address for {@link inspectLine}: `host:port`, a socket path, or "?" when unknown.
 *
 * @example
 * ```ts
 * import { addressText } from "./inspect.ts";
 * addressText(undefined); // "?"
 * ```
 */
export function addressText(address: SocketAddress | undefined): string {
  if (address === undefined) return "?";
  return address.transport === "unix" ? address.path || "unix" : formatAddress(address);
}

/** What {@link describeConnection} reads (a `Connection` fits). */
export interface InspectedConnection {
  readonly localAddress: SocketAddress | undefined;
  readonly remoteAddress: SocketAddress | undefined;
  readonly isClosed: boolean;
  readonly isWritable: boolean;
  readonly bytesRead: number;
  readonly bytesWritten: number;
  readonly bufferedAmount: number;
  readonly tls?: { readonly tlsVersion: string | undefined } | undefined;
}

/**
 * `Connection <local -> remote> { state, tls, bytesRead, bytesWritten, buffered }`.
 *
 * @example
 * ```ts
 * import { describeConnection } from "./inspect.ts";
 * declare const conn: import("../connection.ts").Connection;
 * console.log(describeConnection(conn));
 * ```
 */
export function describeConnection(conn: InspectedConnection): string {
  const state = conn.isClosed ? "closed" : conn.isWritable ? "open" : "write-closed";
  return inspectLine("Connection", `${addressText(conn.localAddress)} -> ${addressText(conn.remoteAddress)}`, {
    state,
    tls: conn.tls?.tlsVersion ?? (conn.tls ? "yes" : undefined),
    bytesRead: conn.bytesRead,
    bytesWritten: conn.bytesWritten,
    buffered: conn.bufferedAmount,
  });
}

/** What {@link describeServer} reads. */
export interface InspectedServer {
  readonly address: SocketAddress | undefined;
  readonly closing: boolean;
  readonly stats: { readonly currentConnections: number; readonly totalConnections: number; readonly refusedConnections: number; readonly queuedConnections: number };
}

/**
 * `Server <address> { state, current, queued, total, refused }`.
 *
 * @example
 * ```ts
 * import { describeServer } from "./inspect.ts";
 * console.log(describeServer({ address: undefined, closing: false, stats: { currentConnections: 0, totalConnections: 0, refusedConnections: 0, queuedConnections: 0 } }));
 * ```
 */
export function describeServer(server: InspectedServer): string {
  const { stats } = server;
  return inspectLine("Server", addressText(server.address), {
    state: server.address === undefined ? "unbound" : server.closing ? "closing" : "listening",
    current: stats.currentConnections,
    queued: stats.queuedConnections,
    total: stats.totalConnections,
    refused: stats.refusedConnections,
  });
}

/** What {@link describeClient} reads. */
export interface InspectedClient {
  readonly target: string;
  readonly endpoint: Address | undefined;
  readonly stats: {
    readonly state: string;
    readonly attempts: number;
    readonly connects: number;
    readonly disconnects: number;
    readonly queuedWrites: number;
    readonly droppedWrites: number;
    readonly bytesRead: number;
    readonly bytesWritten: number;
    readonly lastError: { readonly code: string } | undefined;
  };
}

/**
 * `ReconnectingClient <target> { state, endpoint, attempts, connects, ... }`.
 *
 * @example
 * ```ts
 * import { describeClient } from "./inspect.ts";
 * declare const client: import("../reconnecting/client.ts").ReconnectingClient;
 * console.log(client); // uses describeClient
 * ```
 */
export function describeClient(client: InspectedClient): string {
  const { stats, endpoint } = client;
  return inspectLine("ReconnectingClient", client.target, {
    state: stats.state,
    endpoint: endpoint && formatAddress(endpoint),
    attempts: stats.attempts,
    connects: stats.connects,
    disconnects: stats.disconnects,
    queued: stats.queuedWrites,
    dropped: stats.droppedWrites,
    bytesRead: stats.bytesRead,
    bytesWritten: stats.bytesWritten,
    lastError: stats.lastError?.code,
  });
}
