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
 * `raw-equivalent` is the runtime's own API doing what wireline guarantees per
 * connection, and nothing else: it prices those guarantees (see its functions).
 *
 * @module
 */

import * as nodeNet from "node:net";
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

const noop = (): void => {};

/** A settle function and its promise (wireline settles one per connect, per read and per close). */
function deferred(): { promise: Promise<void>; resolve: () => void } {
  let resolve = noop;
  const promise = new Promise<void>((r) => (resolve = r));
  return { promise, resolve };
}

/**
 * What wireline does per pair on Node, with node:net: both ends half-open capable (wireline sends its
 * own FIN); the server reads the peer's address at accept (getpeername: wireline keeps addresses readable
 * after close, and Node forgets an unread one), sets TCP_NODELAY, reads paused-then-resumed through the
 * stream, answers the peer's FIN by closing at once, and settles a promise for the read that sees EOF and
 * one for the close; the client dials with `onread` (wireline's read path for dialled sockets), reads its
 * local address at connect (getsockname, same reason), sets TCP_NODELAY, and its close sends FIN, waits
 * for the peer's FIN and resolves at destroy(). Not included: wireline's own bookkeeping (options, plans,
 * queues, timers, stats), which is what remains of the gap.
 */
async function rawNodeEquivalent(count: number): Promise<Measurement> {
  const counter = closeCounter(count);
  const server = nodeNet.createServer({ allowHalfOpen: true }, (socket) => {
    void socket.remoteAddress;
    socket.pause();
    socket.setNoDelay(true);
    const eof = deferred();
    const closed = deferred();
    socket.on("error", noop);
    socket.on("end", () => {
      socket.destroy();
      eof.resolve();
      closed.resolve();
    });
    socket.resume();
    void (async () => {
      await eof.promise; // the handler's read: done at EOF
      await closed.promise;
      counter.closed();
    })();
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as nodeNet.AddressInfo).port;
  const readBuffer = new Uint8Array(65_536);
  const t0 = now();
  for (let i = 0; i < count; i++) {
    const opened = deferred();
    const socket = nodeNet.connect({ host: "127.0.0.1", port, allowHalfOpen: true, onread: { buffer: readBuffer, callback: () => true } });
    socket.on("error", noop);
    socket.once("connect", () => {
      void socket.address();
      socket.setNoDelay(true);
      opened.resolve();
    });
    await opened.promise;
    const closed = deferred();
    socket.on("end", () => {
      socket.destroy();
      closed.resolve();
    });
    socket.end();
    await closed.promise;
  }
  await counter.done;
  const ms = now() - t0;
  nodeClose(server);
  return result(count, ms);
}

/** Per-socket state of the Bun equivalent, kept in the socket's `data` as wireline keeps its driver there. */
interface BunPair {
  readonly eof: { promise: Promise<void>; resolve: () => void };
  readonly closed: { promise: Promise<void>; resolve: () => void };
}

/**
 * What wireline does per pair on Bun, with Bun.listen/connect: both ends half-open capable; the server
 * reads the peer's address at open and the client its local address (each getter is a system call, and
 * Bun forgets them at close); the server answers the peer's FIN with end() and settles a promise for the
 * read that sees EOF and one for the close; the client's close is shutdown(), then the peer's FIN, then
 * close, resolving a promise. Bun's TCP_NODELAY is on already (wireline makes no call either).
 */
async function rawBunEquivalent(count: number): Promise<Measurement> {
  const counter = closeCounter(count);
  const listener = Bun.listen<BunPair>({
    hostname: "127.0.0.1",
    port: 0,
    allowHalfOpen: true,
    socket: {
      open(s) {
        void s.remoteAddress;
        void s.remotePort;
        const pair: BunPair = { eof: deferred(), closed: deferred() };
        s.data = pair;
        void (async () => {
          await pair.eof.promise;
          await pair.closed.promise;
          counter.closed();
        })();
      },
      data() {},
      end(s) {
        s.end();
        s.data.eof.resolve();
        s.data.closed.resolve();
      },
    },
  });
  const t0 = now();
  for (let i = 0; i < count; i++) {
    const opened = deferred();
    const pair: BunPair = { eof: deferred(), closed: deferred() };
    const socket = await Bun.connect<BunPair>({
      hostname: "127.0.0.1",
      port: listener.port,
      allowHalfOpen: true,
      data: pair,
      socket: {
        open(s) {
          void s.localAddress;
          void s.localPort;
          opened.resolve();
        },
        data() {},
        end(s) {
          s.end();
          s.data.closed.resolve();
        },
        // Bun closes a socket whose both sides sent FIN without an `end` event: closed there.
        close(s) {
          s.data.closed.resolve();
        },
      },
    });
    await opened.promise;
    socket.shutdown();
    await pair.closed.promise;
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
  // A server's steady state, not its first seconds: JIT compilation of the connect, accept and close paths
  // keeps the compiler threads busy for the first ~15,000 pairs on Node and Bun (--trace-opt, BUN_JSC
  // OSR logs, per-thread CPU), and wireline has more code to tier up than the raw loop.
  warmupSize: (size) => 3 * size,
  variants: [
    wirelineVariant(wireline),
    rawVariant({ node: (n) => rawNode(n, "graceful"), deno: (n) => rawDeno(n, "graceful"), bun: (n) => rawBun(n, "graceful") }, { label: "raw, graceful close" }),
    rawVariant(
      { node: (n) => rawNode(n, "destroy"), deno: (n) => rawDeno(n, "destroy"), bun: (n) => rawBun(n, "destroy") },
      { name: "raw-destroy", role: "reference", label: "raw, close without waiting for the peer's FIN" },
    ),
    rawVariant(
      {
        node: rawNodeEquivalent,
        // Deno's Conn carries both addresses from accept/connect and every read is a promise: raw's graceful
        // close already does what wireline guarantees.
        deno: (n) => rawDeno(n, "graceful"),
        bun: rawBunEquivalent,
      },
      { name: "raw-equivalent", role: "reference", label: "raw API doing what wireline guarantees per connection" },
    ),
  ],
};
