/**
 * wireline: TCP and Unix-socket connections that stay up, with one API on
 * Node, Deno and Bun alike.
 *
 * This module is the runtime-agnostic core. Import `wireline` (npm) or
 * `@wireline/wireline` (JSR) to get it together with `connect` and `listen`
 * bound to the current runtime.
 *
 * @example
 * ```ts
 * import { connect, listen } from "wireline";
 * const server = await listen({ port: 0 }, async (conn) => {
 *   for await (const chunk of conn) await conn.write(chunk);
 * });
 * const conn = await connect({ hostname: "127.0.0.1", port: server.address.transport === "tcp" ? server.address.port : 0 });
 * await conn.write("hello");
 * ```
 *
 * @module
 */

export * from "./address.ts";
export * from "./admission-queue.ts";
export * from "./backoff.ts";
export * from "./codec.ts";
export * from "./connect.ts";
export * from "./connection.ts";
export * from "./delimited.ts";
export * from "./endpoints.ts";
export * from "./errors.ts";
export * from "./framed.ts";
export * from "./framing-error.ts";
export * from "./heartbeat.ts";
export * from "./idle-timeout.ts";
export * from "./length-prefixed.ts";
export * from "./lines.ts";
export * from "./net.ts";
export * from "./offline-queue.ts";
export * from "./options.ts";
export * from "./reconnecting/client.ts";
export * from "./reconnecting/events.ts";
export * from "./reconnecting/options.ts";
export { isRetryable } from "./reconnecting/supervisor.ts";
export * from "./server-stats.ts";
export * from "./server.ts";
export * from "./tls.ts";
export * from "./transport.ts";
export * from "./typed-events.ts";
