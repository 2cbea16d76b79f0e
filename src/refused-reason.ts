/**
 * Why a server refused a connection, as its `refused` event and the
 * `wireline:server:refuse` diagnostics channel report it.
 *
 * @module
 */

/**
 * Why a connection was refused: the server was `"full"` (at `maxConnections +
 * maxQueued`), `"stopping"`, over a `"per-client"` connection limit, or
 * over a per-client connection rate (`"client-rate"`).
 *
 * @example
 * ```ts
 * import { listen, type RefusedReason } from "wireline";
 * const refusals = new Map<RefusedReason, number>();
 * const server = await listen("127.0.0.1:0", async () => {}, { maxConnections: 1 });
 * server.on("refused", ({ reason }) => refusals.set(reason, (refusals.get(reason) ?? 0) + 1));
 * await server.close();
 * ```
 */
export type RefusedReason = "full" | "stopping" | "per-client" | "client-rate";
