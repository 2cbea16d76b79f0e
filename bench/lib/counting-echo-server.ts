/**
 * The server the scale and reconnect-storm scenarios load: an echo server
 * that counts accepted connections and stops completely (listener and every
 * connection, at once), so the storm can start it again on the same port. One
 * wireline implementation and one per runtime's raw API.
 *
 * @module
 */

import type { Socket } from "bun";
import * as nodeNet from "node:net";
import type { Net } from "../../src/net.ts";
import { BunOutbox } from "./bun-net.ts";
import { writeAll, type DenoConn } from "./deno-api.ts";
import { denoApi, portOf, runtime } from "./platform.ts";

/** A running echo server. */
export interface CountingEchoServer {
  readonly port: number;
  /** Connections accepted since this server started. */
  accepted(): number;
  /** Closes the listener and every connection; resolves once the port is free. */
  stop(): Promise<void>;
}

/** Starts an echo server on `port` (0: any free port). */
export type StartEchoServer = (port: number, maxConnections: number) => Promise<CountingEchoServer>;

/** The raw Deno reader's buffer: the size wireline's Deno adapter and the idle scenario read with. */
const DENO_READ_BUFFER = 64 * 1024;

/** The peer reset, or the server destroyed the connection while stopping. */
const peerGone = (): void => {};

/** wireline's server: `listen` with an echo handler that ends when the server stops. */
export function wirelineEchoServer(net: Net): StartEchoServer {
  return async (port, maxConnections) => {
    let accepted = 0;
    // conn.forEach, the callback style the raw Node and Bun servers use (`on("data")`, `data()`); the write's
    // promise is returned, so a peer that stops reading pauses this one's reads.
    const server = await net.listen({ port, maxConnections }, (conn) => {
      accepted++;
      return conn.forEach((chunk) => conn.write(chunk)).catch(peerGone);
    });
    return {
      port: portOf(server.address),
      accepted: () => accepted,
      // Timeout 0: every connection is destroyed at once, as the raw servers do. An abort listener on each
      // handler's ctx.signal did the same at ~400 bytes of heap per connection (controller, signal, listener).
      stop: async () => {
        await server.close({ timeout: 0 });
      },
    };
  };
}

async function rawNode(port: number): Promise<CountingEchoServer> {
  let accepted = 0;
  const sockets = new Set<nodeNet.Socket>();
  const server = nodeNet.createServer((socket) => {
    accepted++;
    sockets.add(socket);
    socket.setNoDelay(true);
    socket.on("data", (chunk: Uint8Array) => socket.write(chunk));
    socket.on("error", () => {});
    socket.on("close", () => sockets.delete(socket));
  });
  // Node's default backlog is 511; the bench's clients pace their connects, so the default serves as a user's would.
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, "127.0.0.1", () => resolve());
  });
  return {
    port: (server.address() as nodeNet.AddressInfo).port,
    accepted: () => accepted,
    stop: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        for (const s of sockets) s.destroy();
      }),
  };
}

async function rawDeno(port: number): Promise<CountingEchoServer> {
  const Deno = denoApi();
  let accepted = 0;
  const conns = new Set<DenoConn>();
  const echo = async (conn: DenoConn): Promise<void> => {
    const buf = new Uint8Array(DENO_READ_BUFFER);
    try {
      for (;;) {
        const n = await conn.read(buf);
        if (n === null) break;
        await writeAll(conn, buf.subarray(0, n));
      }
    } catch {
      // Reset by the peer, or closed by stop().
    }
    if (conns.delete(conn)) conn.close();
  };
  const listener = Deno.listen({ hostname: "127.0.0.1", port });
  const serving = (async () => {
    for (;;) {
      const conn = await listener.accept().catch(() => undefined);
      if (!conn) return;
      accepted++;
      conn.setNoDelay(true);
      conns.add(conn);
      void echo(conn);
    }
  })();
  return {
    port: listener.addr.port,
    accepted: () => accepted,
    stop: async () => {
      listener.close();
      await serving;
      for (const c of conns) c.close();
      conns.clear();
    },
  };
}

async function rawBun(port: number): Promise<CountingEchoServer> {
  let accepted = 0;
  const outboxes = new Map<Socket<unknown>, BunOutbox>();
  const listener = Bun.listen({
    hostname: "127.0.0.1",
    port,
    socket: {
      open(s) {
        accepted++;
        outboxes.set(s, new BunOutbox());
      },
      data(s, chunk) {
        outboxes.get(s)?.write(s, chunk);
      },
      drain(s) {
        outboxes.get(s)?.flush(s);
      },
      close(s) {
        outboxes.delete(s);
      },
      error() {},
    },
  });
  return {
    port: listener.port,
    accepted: () => accepted,
    stop: async () => {
      // stop(true) closes the connections too.
      listener.stop(true);
      outboxes.clear();
    },
  };
}

/** The runtime's raw echo server. */
export const rawEchoServer: StartEchoServer = (port) =>
  runtime === "deno" ? rawDeno(port) : runtime === "bun" ? rawBun(port) : rawNode(port);
