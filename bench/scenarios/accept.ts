/**
 * Accept rate: `size` sequential connect + close against a server in this
 * process that reads each connection to EOF and closes it. Timed until the
 * server has seen every connection close. Result in connections per second.
 *
 * wireline's `close()` is graceful: FIN, then wait for the peer's FIN before
 * releasing (so that a late peer write cannot make the kernel reset the
 * connection). The `raw` baseline closes the same way with the runtime's own
 * API (half-close, read to EOF, close); `raw-destroy` closes at once without
 * waiting for the peer, which saves a round trip per connection.
 *
 * @module
 */

import type { Net } from "../../src/net.ts";
import { rawVariant, wirelineVariant } from "../lib/baseline-variants.ts";
import { nodeClose, nodeConnect, nodeListen } from "../lib/node-net.ts";
import { denoApi, now, portOf, signal } from "../lib/platform.ts";
import type { Measurement, Scenario } from "../lib/scenario.ts";

function result(count: number, ms: number): Measurement {
  return { value: count / (ms / 1000), extra: { count, ms } };
}

/** Counts server-side closes and resolves at `count`. */
function closeCounter(count: number): { closed(): void; done: Promise<void> } {
  const done = signal();
  let seen = 0;
  return {
    closed: () => {
      if (++seen === count) done.resolve();
    },
    done: done.promise,
  };
}

async function wireline(net: Net, count: number): Promise<Measurement> {
  const counter = closeCounter(count);
  const server = await net.listen({ port: 0 }, async (conn) => {
    for await (const _chunk of conn);
    counter.closed();
  });
  const address = { hostname: "127.0.0.1", port: portOf(server.address) };
  const t0 = now();
  for (let i = 0; i < count; i++) {
    const conn = await net.connect(address);
    await conn.close();
  }
  await counter.done;
  const ms = now() - t0;
  await server.close();
  return result(count, ms);
}

/** How the raw client closes: `graceful` waits for the peer's FIN, as wireline's close() does. */
type CloseMode = "graceful" | "destroy";

async function rawNode(count: number, mode: CloseMode): Promise<Measurement> {
  const counter = closeCounter(count);
  const { server, port } = await nodeListen((socket) => {
    socket.setNoDelay(true);
    socket.on("error", () => {});
    socket.on("close", counter.closed);
    socket.resume();
  });
  const t0 = now();
  for (let i = 0; i < count; i++) {
    const socket = await nodeConnect(port);
    const closed = new Promise((resolve) => socket.once("close", resolve));
    if (mode === "destroy") socket.destroy();
    else socket.end().resume(); // Node closes once the peer's FIN is read (allowHalfOpen false)
    await closed;
  }
  await counter.done;
  const ms = now() - t0;
  nodeClose(server);
  return result(count, ms);
}

async function rawDeno(count: number, mode: CloseMode): Promise<Measurement> {
  const Deno = denoApi();
  const counter = closeCounter(count);
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const serve = async (): Promise<void> => {
    for (;;) {
      const conn = await listener.accept().catch(() => undefined);
      if (!conn) return;
      conn.setNoDelay(true); // as wireline's server does (Deno's default is off)
      void (async () => {
        const buf = new Uint8Array(1024);
        while ((await conn.read(buf).catch(() => null)) !== null);
        conn.close();
        counter.closed();
      })();
    }
  };
  const serving = serve();
  const address = { hostname: "127.0.0.1", port: listener.addr.port };
  const t0 = now();
  for (let i = 0; i < count; i++) {
    const conn = await Deno.connect(address);
    conn.setNoDelay(true);
    if (mode === "graceful") {
      await conn.closeWrite();
      const buf = new Uint8Array(1024);
      while ((await conn.read(buf).catch(() => null)) !== null);
    }
    conn.close();
  }
  await counter.done;
  const ms = now() - t0;
  listener.close();
  await serving;
  return result(count, ms);
}

async function rawBun(count: number, mode: CloseMode): Promise<Measurement> {
  const counter = closeCounter(count);
  const listener = Bun.listen({
    hostname: "127.0.0.1",
    port: 0,
    socket: {
      data() {},
      close: counter.closed,
    },
  });
  const t0 = now();
  for (let i = 0; i < count; i++) {
    const closed = signal();
    const socket = await Bun.connect({
      hostname: "127.0.0.1",
      port: listener.port,
      // With an `end` handler Bun keeps the socket after the peer's FIN: it is closed there.
      socket: { data() {}, end: (s) => void s.end(), close: () => closed.resolve() },
    });
    if (mode === "graceful") socket.shutdown();
    else socket.end();
    await closed.promise;
  }
  await counter.done;
  const ms = now() - t0;
  listener.stop(true);
  return result(count, ms);
}

/** The accept-rate scenario. */
export const accept: Scenario = {
  name: "accept",
  title: "accept rate: 5k sequential connect + close",
  unit: "conn/s",
  higherIsBetter: true,
  sizes: { full: 5_000, quick: 1_000, guard: 1_000 },
  warmupSize: (size) => Math.max(200, Math.floor(size / 10)),
  variants: [
    wirelineVariant(wireline),
    rawVariant({ node: (n) => rawNode(n, "graceful"), deno: (n) => rawDeno(n, "graceful"), bun: (n) => rawBun(n, "graceful") }, { label: "raw, graceful close" }),
    rawVariant(
      { node: (n) => rawNode(n, "destroy"), deno: (n) => rawDeno(n, "destroy"), bun: (n) => rawBun(n, "destroy") },
      { name: "raw-destroy", role: "reference", label: "raw, close without waiting for the peer's FIN" },
    ),
  ],
};
