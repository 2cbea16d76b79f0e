/**
 * Idle connections: `size` connections opened to one server in this process
 * and left idle, each end receiving (wireline and raw with callbacks;
 * `wireline-iterated` and raw-iterated with a read pending in `for await`),
 * as a real client and server would. Result: RSS growth per socket, in KiB: (RSS after − RSS before)
 * / (2 × size), since both ends live in this process. Run it in a fresh
 * process per variant (main.mjs does), after a forced GC that also returns
 * the heap's reserve (see collectGarbageReducingMemory): the young generation
 * V8 grows while thousands of sockets open is a bounded constant, not memory
 * per socket. `rss_kib_ordinary_gc` gives the figure after an ordinary GC.
 *
 * @module
 */

import type { Socket as BunSocket } from "bun";
import type * as nodeNet from "node:net";
import type { Net } from "../../src/net.ts";
import type { Connection } from "../../src/connection.ts";
import { rawVariant, wirelineOptionVariant, wirelineVariant } from "../lib/baseline-variants.ts";
import type { DenoConn } from "../lib/deno-api.ts";
import { nodeConnect, nodeListen } from "../lib/node-net.ts";
import { collectGarbage, collectGarbageReducingMemory, denoApi, heapUsed, portOf, rss, signal, tick } from "../lib/platform.ts";
import type { Measurement, Scenario } from "../lib/scenario.ts";

/** Connections opened at once while filling up. */
const CONCURRENCY = 100;
/** Connections opened and closed before the baseline, so code and pools are warm. */
const WARM = 200;
/** The raw Deno reader's buffer: the size wireline's Deno adapter and the bulk scenario read with. */
const DENO_READ_BUFFER = 64 * 1024;

/** Settles the heap and reads RSS, after ordinary collections (`ordinaryRss`) and after one that returns the heap's reserve. */
async function settledRss(): Promise<{ rss: number; ordinaryRss: number; heap: number; gc: boolean }> {
  let gc = false;
  for (let i = 0; i < 3; i++) {
    gc = collectGarbage();
    await tick(50);
  }
  const ordinaryRss = rss();
  collectGarbageReducingMemory();
  await tick(50);
  return { rss: rss(), ordinaryRss, heap: heapUsed(), gc };
}

/** Opens `count` connections with `open`, CONCURRENCY at a time. */
async function openMany<T>(count: number, open: () => Promise<T>): Promise<T[]> {
  const all: T[] = [];
  for (let i = 0; i < count; i += CONCURRENCY) {
    const batch = [];
    for (let j = i; j < Math.min(count, i + CONCURRENCY); j++) batch.push(open());
    all.push(...(await Promise.all(batch)));
  }
  return all;
}

/** Counts accepted connections; `reached(n)` resolves once n have been accepted. */
function acceptCounter(): { accepted(): void; reached(n: number): Promise<void> } {
  let seen = 0;
  let want = Infinity;
  let wake = signal();
  return {
    accepted: () => {
      if (++seen >= want) wake.resolve();
    },
    reached: (n) => {
      if (seen >= n) return Promise.resolve();
      want = n;
      wake = signal();
      return wake.promise;
    },
  };
}

async function measure(
  count: number,
  counter: { reached(n: number): Promise<void> },
  open: () => Promise<() => void>,
): Promise<Measurement> {
  const warm = await openMany(WARM, open);
  await counter.reached(WARM);
  for (const close of warm) close();
  await tick(200);
  const before = await settledRss();
  const conns = await openMany(count, open);
  await counter.reached(WARM + count);
  await tick(200);
  const after = await settledRss();
  for (const close of conns) close();
  const perSocket = (after.rss - before.rss) / (2 * count);
  return {
    value: perSocket / 1024,
    extra: {
      heap_kib_per_socket: (after.heap - before.heap) / (2 * count) / 1024,
      rss_kib_ordinary_gc: (after.ordinaryRss - before.ordinaryRss) / (2 * count) / 1024,
      rss_before: before.rss,
      rss_after: after.rss,
      connections: count,
      gc: after.gc ? 1 : 0,
    },
  };
}

/** Both ends read with `for await`: a pending promise and a suspended function per idle socket, which raw callbacks do not pay (compare raw-iterated). */
async function wirelineIterated(net: Net, count: number): Promise<Measurement> {
  const counter = acceptCounter();
  // Every connection stays open, so the server must run a handler for each at once.
  const server = await net.listen({ port: 0, maxConnections: WARM + count }, async (conn) => {
    counter.accepted();
    for await (const _chunk of conn);
  });
  const address = { hostname: "127.0.0.1", port: portOf(server.address) };
  const m = await measure(count, counter, async () => {
    const conn: Connection = await net.connect(address);
    void (async () => {
      for await (const _chunk of conn);
    })().catch(() => {});
    return () => conn.destroy();
  });
  await server.close();
  return m;
}

const ignore = (): void => {};

/** Both ends receive with `conn.forEach`, the callback style raw's `on("data")` has: no promise or suspended function per idle socket beyond forEach's own. */
async function wireline(net: Net, count: number): Promise<Measurement> {
  const counter = acceptCounter();
  const server = await net.listen({ port: 0, maxConnections: WARM + count }, (conn) => {
    counter.accepted();
    return conn.forEach(ignore);
  });
  const address = { hostname: "127.0.0.1", port: portOf(server.address) };
  const m = await measure(count, counter, async () => {
    const conn: Connection = await net.connect(address);
    conn.forEach(ignore).catch(ignore);
    return () => conn.destroy();
  });
  await server.close();
  return m;
}

async function rawNode(count: number): Promise<Measurement> {
  const counter = acceptCounter();
  const noop = (): void => {};
  const { server } = await nodeListen((socket) => {
    counter.accepted();
    socket.setNoDelay(true);
    socket.on("data", noop);
    socket.on("error", noop);
  });
  const port = (server.address() as nodeNet.AddressInfo).port;
  const m = await measure(count, counter, async () => {
    const socket = await nodeConnect(port);
    socket.on("data", noop);
    socket.on("error", noop);
    return () => socket.destroy();
  });
  server.close();
  return m;
}

/**
 * Node's sockets read the way `wireline-iterated` reads: `for await` on both ends, so
 * each holds a suspended async function and a pending read. What that style
 * of reading costs by itself, without wireline.
 */
async function rawNodeIterated(count: number): Promise<Measurement> {
  const counter = acceptCounter();
  const readAll = async (socket: nodeNet.Socket): Promise<void> => {
    for await (const _chunk of socket);
  };
  const { server } = await nodeListen((socket) => {
    counter.accepted();
    socket.setNoDelay(true);
    readAll(socket).catch(() => {});
  });
  const port = (server.address() as nodeNet.AddressInfo).port;
  const m = await measure(count, counter, async () => {
    const socket = await nodeConnect(port);
    readAll(socket).catch(() => {});
    return () => socket.destroy();
  });
  server.close();
  return m;
}

async function rawDeno(count: number): Promise<Measurement> {
  const Deno = denoApi();
  const counter = acceptCounter();
  const readUntilEof = async (conn: DenoConn): Promise<void> => {
    const buf = new Uint8Array(DENO_READ_BUFFER);
    while ((await conn.read(buf).catch(() => null)) !== null);
  };
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const serving = (async () => {
    for (;;) {
      const conn = await listener.accept().catch(() => undefined);
      if (!conn) return;
      counter.accepted();
      conn.setNoDelay(true);
      void readUntilEof(conn).then(() => conn.close());
    }
  })();
  const m = await measure(count, counter, async () => {
    const conn = await Deno.connect({ hostname: "127.0.0.1", port: listener.addr.port });
    conn.setNoDelay(true);
    void readUntilEof(conn);
    return () => conn.close();
  });
  listener.close();
  await serving;
  return m;
}

async function rawBun(count: number): Promise<Measurement> {
  const counter = acceptCounter();
  const listener = Bun.listen({
    hostname: "127.0.0.1",
    port: 0,
    socket: {
      open: () => counter.accepted(),
      data() {},
    },
  });
  const m = await measure(count, counter, async () => {
    const socket = await Bun.connect({ hostname: "127.0.0.1", port: listener.port, socket: { data() {} } });
    return () => socket.end();
  });
  listener.stop(true);
  return m;
}

/** One Bun socket read the way wireline's iteration reads: a chunk waits for the reader, or the reader for a chunk. */
interface AwaitedReader {
  chunks: (Uint8Array | null)[];
  wake: (() => void) | undefined;
}

/** Bun's handlers for an awaited reader: they queue the chunk (null: closed) and wake the reader. */
const AWAITED_HANDLERS = {
  data(socket: BunSocket<AwaitedReader>, chunk: Uint8Array): void {
    socket.data.chunks.push(chunk);
    socket.data.wake?.();
  },
  close(socket: BunSocket<AwaitedReader>): void {
    socket.data.chunks.push(null);
    socket.data.wake?.();
  },
};

/** Reads until the socket closes, awaiting one promise per chunk: a suspended async function and a pending promise per idle socket. */
async function readAwaited(reader: AwaitedReader): Promise<void> {
  for (;;) {
    while (reader.chunks.length === 0) await new Promise<void>((resolve) => (reader.wake = resolve));
    reader.wake = undefined;
    if (reader.chunks.shift() === null) return;
  }
}

/**
 * Bun's sockets read the way `wireline-iterated` reads, since Bun has no pull API: an
 * async loop on each end awaits a promise per chunk (as `raw-iterated` does
 * on Node). What that style of reading costs by itself, without wireline.
 */
async function rawBunAwaited(count: number): Promise<Measurement> {
  const counter = acceptCounter();
  const listener = Bun.listen<AwaitedReader>({
    hostname: "127.0.0.1",
    port: 0,
    socket: {
      ...AWAITED_HANDLERS,
      open(socket) {
        counter.accepted();
        socket.data = { chunks: [], wake: undefined };
        void readAwaited(socket.data);
      },
    },
  });
  const m = await measure(count, counter, async () => {
    const reader: AwaitedReader = { chunks: [], wake: undefined };
    const socket = await Bun.connect<AwaitedReader>({ hostname: "127.0.0.1", port: listener.port, data: reader, socket: AWAITED_HANDLERS });
    void readAwaited(reader);
    return () => socket.end();
  });
  listener.stop(true);
  return m;
}

/** The idle-connections scenario. */
export const idle: Scenario = {
  name: "idle",
  title: "idle: 5k open connections, RSS per socket",
  unit: "KiB/socket",
  higherIsBetter: false,
  sizes: { full: 5_000, quick: 1_000, guard: 1_000 },
  // The variant warms up itself: the baseline must be taken on the same server.
  warmupSize: () => 0,
  variants: [
    wirelineVariant(wireline, "wireline, both ends receive with conn.forEach"),
    wirelineOptionVariant("wireline-iterated", "wireline, both ends read with for await", wirelineIterated),
    rawVariant({ node: rawNode, deno: rawDeno, bun: rawBun }),
    {
      name: "raw-iterated",
      role: "reference",
      label: "raw node:net, read with for await on both ends",
      runtimes: ["node"],
      run: (_net, size) => rawNodeIterated(size),
    },
    {
      name: "raw-awaited",
      role: "reference",
      label: "raw Bun socket, an async loop on each end awaiting a promise per chunk",
      runtimes: ["bun"],
      run: (_net, size) => rawBunAwaited(size),
    },
  ],
};
