/**
 * Ping-pong: `size` round trips of a 64-byte message to an echo server in
 * this process, one in flight at a time. Result in round trips per second,
 * with p50/p99 round-trip latency in microseconds.
 *
 * @module
 */

import type { Socket } from "bun";
import type * as nodeNet from "node:net";
import { Duplex } from "node:stream";
import type { Net } from "../../src/net.ts";
import { loadArrowood } from "../lib/arrowood.ts";
import { rawVariant, wirelineVariant } from "../lib/baseline-variants.ts";
import { BunOutbox } from "../lib/bun-net.ts";
import { writeAll, type DenoConn } from "../lib/deno-api.ts";
import { nodeClose, nodeConnect, nodeListen } from "../lib/node-net.ts";
import { denoApi, now, portOf, runtime, signal } from "../lib/platform.ts";
import type { Measurement, Scenario } from "../lib/scenario.ts";
import { streamsAlternatives } from "../lib/streams-alternatives.ts";

const MESSAGE = 64;

function result(latencies: Float64Array, ms: number): Measurement {
  const sorted = latencies.slice().sort();
  const at = (q: number): number => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]! * 1000;
  return { value: latencies.length / (ms / 1000), extra: { p50_us: at(0.5), p99_us: at(0.99), ms } };
}

/**
 * The client loop of the `raw-awaited` references: write one message and await it, then await chunks until
 * its echo is back; the same shape as wireline's loop, over each runtime's own socket.
 */
async function awaitedTrips(trips: number, write: (data: Uint8Array) => Promise<void>, next: () => Promise<Uint8Array | null>): Promise<Measurement> {
  const message = new Uint8Array(MESSAGE).fill(1);
  const latencies = new Float64Array(trips);
  const t0 = now();
  for (let i = 0; i < trips; i++) {
    const t = now();
    await write(message);
    for (let got = 0; got < MESSAGE; ) {
      const chunk = await next();
      if (chunk === null) throw new Error("echo server closed early");
      got += chunk.length;
    }
    latencies[i] = now() - t;
  }
  return result(latencies, now() - t0);
}

async function wireline(net: Net, trips: number): Promise<Measurement> {
  const server = await net.listen({ port: 0 }, async (conn) => {
    for await (const chunk of conn) await conn.write(chunk);
  });
  const conn = await net.connect({ hostname: "127.0.0.1", port: portOf(server.address) });
  const reader = conn[Symbol.asyncIterator]();
  const message = new Uint8Array(MESSAGE).fill(1);
  const latencies = new Float64Array(trips);
  const t0 = now();
  for (let i = 0; i < trips; i++) {
    const t = now();
    await conn.write(message);
    for (let got = 0; got < MESSAGE; ) {
      const next = await reader.next();
      if (next.done) throw new Error("echo server closed early");
      got += next.value.length;
    }
    latencies[i] = now() - t;
  }
  const ms = now() - t0;
  await conn.close();
  await server.close();
  return result(latencies, ms);
}

/**
 * `hops`: the raw loop with the four microtask hops of an awaiting one and nothing else (`raw-microtasks`):
 * each end sends from a microtask after the chunk's callback (the `await` of the chunk) and queues one more
 * after sending (the `await` of the write). No promise, no async function: against `raw-awaited`, it
 * separates what the hops cost from what awaiting in an async function costs. Chosen once, not per message.
 */
async function rawNode(trips: number, hops = false): Promise<Measurement> {
  const { server, port } = await nodeListen((socket) => {
    socket.setNoDelay(true);
    socket.on("error", () => {});
    const echo = (chunk: Uint8Array): void => void socket.write(chunk);
    const echoAfterHop = (chunk: Uint8Array): void =>
      queueMicrotask(() => {
        socket.write(chunk);
        queueMicrotask(noop);
      });
    socket.on("data", hops ? echoAfterHop : echo);
  });
  const socket = await nodeConnect(port);
  const message = new Uint8Array(MESSAGE).fill(1);
  const latencies = new Float64Array(trips);
  const done = signal();
  let i = 0;
  let got = 0;
  let t = 0;
  const send = (): void => {
    t = now();
    socket.write(message);
  };
  const sendWithHop = (): void => {
    t = now();
    socket.write(message);
    queueMicrotask(noop);
  };
  const next = hops ? () => queueMicrotask(sendWithHop) : send;
  socket.on("data", (chunk: Uint8Array) => {
    got += chunk.length;
    if (got < MESSAGE) return;
    got -= MESSAGE;
    latencies[i++] = now() - t;
    if (i < trips) next();
    else done.resolve();
  });
  const t0 = now();
  (hops ? sendWithHop : send)();
  await done.promise;
  const ms = now() - t0;
  socket.destroy();
  nodeClose(server);
  return result(latencies, ms);
}

/** node:net behind one promise per received chunk: the read half of any promise-based socket API. */
function nodeChunks(socket: nodeNet.Socket): () => Promise<Uint8Array | null> {
  const chunks: Uint8Array[] = [];
  let waiter: ((chunk: Uint8Array | null) => void) | undefined;
  let ended = false;
  socket.on("data", (chunk: Uint8Array) => {
    const wake = waiter;
    waiter = undefined;
    if (wake) wake(chunk);
    else chunks.push(chunk);
  });
  socket.on("end", () => {
    ended = true;
    waiter?.(null);
  });
  return () => (chunks.length > 0 ? Promise.resolve(chunks.shift()!) : ended ? Promise.resolve(null) : new Promise((resolve) => (waiter = resolve)));
}

/** node:net's write with backpressure as a promise: the write half of any promise-based socket API. */
function nodeWrite(socket: nodeNet.Socket, data: Uint8Array): Promise<void> {
  return socket.write(data) ? Promise.resolve() : new Promise((resolve) => socket.once("drain", resolve));
}

/**
 * wireline's loop shape on raw node:net: the client awaits its write and each
 * chunk, the server awaits each chunk and its echo. Measures what awaiting
 * (microtask hops) costs over 'data' callbacks, with no library in between.
 */
async function rawNodeAwaited(trips: number): Promise<Measurement> {
  const { server, port } = await nodeListen((socket) => {
    socket.setNoDelay(true);
    socket.on("error", () => {});
    const next = nodeChunks(socket);
    void (async () => {
      for (let chunk = await next(); chunk !== null; chunk = await next()) await nodeWrite(socket, chunk);
    })();
  });
  const socket = await nodeConnect(port);
  const next = nodeChunks(socket);
  const measured = await awaitedTrips(trips, (data) => nodeWrite(socket, data), next);
  socket.destroy();
  nodeClose(server);
  return measured;
}

function noop(): void {}

async function rawDeno(trips: number): Promise<Measurement> {
  const Deno = denoApi();
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const echo = (async () => {
    const conn = await listener.accept();
    conn.setNoDelay(true);
    const buf = new Uint8Array(64 * 1024);
    for (;;) {
      const n = await conn.read(buf).catch(() => null);
      if (n === null) break;
      await writeAll(conn, buf.subarray(0, n));
    }
    conn.close();
  })();
  const conn = await Deno.connect({ hostname: "127.0.0.1", port: listener.addr.port });
  conn.setNoDelay(true);
  const message = new Uint8Array(MESSAGE).fill(1);
  const buf = new Uint8Array(64 * 1024);
  const latencies = new Float64Array(trips);
  const t0 = now();
  for (let i = 0; i < trips; i++) {
    const t = now();
    await writeAll(conn, message);
    for (let got = 0; got < MESSAGE; ) {
      const n = await conn.read(buf);
      if (n === null) throw new Error("echo server closed early");
      got += n;
    }
    latencies[i] = now() - t;
  }
  const ms = now() - t0;
  await conn.closeWrite();
  await echo;
  conn.close();
  listener.close();
  return result(latencies, ms);
}

/**
 * wireline's loop shape on a raw Deno conn: a loop over `conn.read()` hands each chunk to the
 * reader through a promise (one hop more per read than awaiting `conn.read()` itself), and a write
 * is completed by a `.then` while the writer awaits an already resolved promise. One reused read
 * buffer: each chunk is used before the next read can end (one message in flight).
 */
function denoChunks(conn: DenoConn): () => Promise<Uint8Array | null> {
  const held: Uint8Array[] = [];
  let waiter: ((chunk: Uint8Array | null) => void) | undefined;
  let ended = false;
  void (async () => {
    const buf = new Uint8Array(64 * 1024);
    for (;;) {
      const n = await conn.read(buf).catch(() => null);
      if (n === null) break;
      const chunk = buf.subarray(0, n);
      const wake = waiter;
      waiter = undefined;
      if (wake) wake(chunk);
      else held.push(chunk);
    }
    ended = true;
    waiter?.(null);
  })();
  return () => {
    if (held.length > 0) return Promise.resolve(held.shift()!);
    return ended ? Promise.resolve(null) : new Promise((resolve) => (waiter = resolve));
  };
}

const WRITTEN: Promise<void> = Promise.resolve();

function denoWrite(conn: DenoConn, data: Uint8Array): Promise<void> {
  conn.write(data).then((n) => {
    if (n < data.length) return writeAll(conn, data.subarray(n));
  }, noop);
  return WRITTEN;
}

async function rawDenoAwaited(trips: number): Promise<Measurement> {
  const Deno = denoApi();
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const echo = (async () => {
    const conn = await listener.accept();
    conn.setNoDelay(true);
    const next = denoChunks(conn);
    for (let chunk = await next(); chunk !== null; chunk = await next()) await denoWrite(conn, chunk);
    conn.close();
  })();
  const conn = await Deno.connect({ hostname: "127.0.0.1", port: listener.addr.port });
  conn.setNoDelay(true);
  const next = denoChunks(conn);
  const measured = await awaitedTrips(trips, (data) => denoWrite(conn, data), next);
  await conn.closeWrite();
  await echo;
  conn.close();
  listener.close();
  return measured;
}

/** `hops`: `raw-microtasks` on Bun, as for {@link rawNode}. */
async function rawBun(trips: number, hops = false): Promise<Measurement> {
  const outboxes = new Map<Socket<unknown>, BunOutbox>();
  const echo = (s: Socket<unknown>, chunk: Uint8Array): void => void outboxes.get(s)!.write(s, chunk);
  const echoAfterHop = (s: Socket<unknown>, chunk: Uint8Array): void =>
    queueMicrotask(() => {
      outboxes.get(s)!.write(s, chunk);
      queueMicrotask(noop);
    });
  const listener = Bun.listen({
    hostname: "127.0.0.1",
    port: 0,
    socket: {
      open(s) {
        outboxes.set(s, new BunOutbox());
      },
      data: hops ? echoAfterHop : echo,
      drain(s) {
        outboxes.get(s)!.flush(s);
      },
    },
  });
  const message = new Uint8Array(MESSAGE).fill(1);
  const latencies = new Float64Array(trips);
  const done = signal();
  const outbox = new BunOutbox();
  let i = 0;
  let got = 0;
  let t = 0;
  let socket!: Socket<unknown>;
  const send = (): void => {
    t = now();
    outbox.write(socket, message);
  };
  const sendWithHop = (): void => {
    t = now();
    outbox.write(socket, message);
    queueMicrotask(noop);
  };
  const next = hops ? () => queueMicrotask(sendWithHop) : send;
  socket = await Bun.connect({
    hostname: "127.0.0.1",
    port: listener.port,
    socket: {
      data(_s, chunk) {
        got += chunk.length;
        if (got < MESSAGE) return;
        got -= MESSAGE;
        latencies[i++] = now() - t;
        if (i < trips) next();
        else done.resolve();
      },
      drain(s) {
        outbox.flush(s);
      },
    },
  });
  const t0 = now();
  (hops ? sendWithHop : send)();
  await done.promise;
  const ms = now() - t0;
  socket.end();
  listener.stop(true);
  return result(latencies, ms);
}

/** One Bun socket behind a promise per received chunk and per write: what a promise API over Bun's callbacks costs. */
class BunAwaited {
  readonly outbox = new BunOutbox();
  readonly #chunks: Uint8Array[] = [];
  #waiter: ((chunk: Uint8Array | null) => void) | undefined;
  #drained: (() => void) | undefined;
  #ended = false;

  received(chunk: Uint8Array): void {
    const wake = this.#waiter;
    this.#waiter = undefined;
    if (wake) wake(chunk);
    else this.#chunks.push(chunk);
  }

  ended(): void {
    this.#ended = true;
    this.#waiter?.(null);
  }

  next(): Promise<Uint8Array | null> {
    if (this.#chunks.length > 0) return Promise.resolve(this.#chunks.shift()!);
    return this.#ended ? Promise.resolve(null) : new Promise((resolve) => (this.#waiter = resolve));
  }

  write(socket: Socket<unknown>, data: Uint8Array): Promise<void> {
    return this.outbox.write(socket, data) ? Promise.resolve() : new Promise((resolve) => (this.#drained = resolve));
  }

  drain(socket: Socket<unknown>): void {
    if (!this.outbox.flush(socket)) return;
    const resolve = this.#drained;
    this.#drained = undefined;
    resolve?.();
  }
}

/** wireline's loop shape on Bun's own sockets: `raw-awaited` for Bun. */
async function rawBunAwaited(trips: number): Promise<Measurement> {
  const listener = Bun.listen<BunAwaited>({
    hostname: "127.0.0.1",
    port: 0,
    socket: {
      open(s) {
        const ends = (s.data = new BunAwaited());
        void (async () => {
          for (let chunk = await ends.next(); chunk !== null; chunk = await ends.next()) await ends.write(s, chunk);
        })();
      },
      data: (s, chunk) => s.data.received(chunk),
      end: (s) => s.data.ended(),
      drain: (s) => s.data.drain(s),
    },
  });
  const ends = new BunAwaited();
  const socket = await Bun.connect<BunAwaited>({
    hostname: "127.0.0.1",
    port: listener.port,
    data: ends,
    socket: {
      data: (s, chunk) => s.data.received(chunk),
      end: (s) => s.data.ended(),
      drain: (s) => s.data.drain(s),
    },
  });
  const measured = await awaitedTrips(trips, (data) => ends.write(socket, data), () => ends.next());
  socket.end();
  listener.stop(true);
  return measured;
}

/** The Web Streams client loop: write one message, read until its echo is back. */
async function streamsClient(readable: ReadableStream<Uint8Array>, writable: WritableStream<Uint8Array>, trips: number): Promise<Measurement> {
  const reader = readable.getReader();
  const writer = writable.getWriter();
  const message = new Uint8Array(MESSAGE).fill(1);
  const latencies = new Float64Array(trips);
  const t0 = now();
  for (let i = 0; i < trips; i++) {
    const t = now();
    await writer.write(message);
    for (let got = 0; got < MESSAGE; ) {
      const next = await reader.read();
      if (next.done) throw new Error("echo server closed early");
      got += next.value.length;
    }
    latencies[i] = now() - t;
  }
  const ms = now() - t0;
  reader.releaseLock();
  await writer.close().catch(() => {});
  return result(latencies, ms);
}

/** An echo server built on Duplex.toWeb: the streams way is one pipeTo. */
function toWebEcho(): ReturnType<typeof nodeListen> {
  return nodeListen((socket) => {
    socket.setNoDelay(true);
    socket.on("error", () => {});
    const { readable, writable } = Duplex.toWeb(socket);
    (readable as unknown as ReadableStream<Uint8Array>).pipeTo(writable as unknown as WritableStream<Uint8Array>).catch(() => {});
  });
}

async function nodeToWeb(trips: number): Promise<Measurement> {
  const { server, port } = await toWebEcho();
  const socket = await nodeConnect(port);
  const { readable, writable } = Duplex.toWeb(socket);
  const m = await streamsClient(readable as unknown as ReadableStream<Uint8Array>, writable as unknown as WritableStream<Uint8Array>, trips);
  socket.destroy();
  nodeClose(server);
  return m;
}

async function nodeArrowood(trips: number): Promise<Measurement> {
  const { connect } = (await loadArrowood())!;
  // The package has no server side; its client is Duplex.toWeb over net.Socket, so the echo server uses that too.
  const { server, port } = await toWebEcho();
  const socket = connect({ hostname: "127.0.0.1", port });
  socket.closed.catch(() => {});
  const m = await streamsClient(socket.readable, socket.writable, trips);
  nodeClose(server);
  return m;
}

async function denoStreams(trips: number): Promise<Measurement> {
  const Deno = denoApi();
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const echo = listener.accept().then((conn) => {
    conn.setNoDelay(true);
    return conn.readable.pipeTo(conn.writable).catch(() => {});
  });
  const conn = await Deno.connect({ hostname: "127.0.0.1", port: listener.addr.port });
  conn.setNoDelay(true);
  const m = await streamsClient(conn.readable, conn.writable, trips);
  await echo;
  listener.close();
  return m;
}

/** The ping-pong scenario. */
export const pingPong: Scenario = {
  name: "ping-pong",
  title: "ping-pong: 100k round trips of 64 B",
  unit: "rt/s",
  higherIsBetter: true,
  sizes: { full: 100_000, quick: 10_000, guard: 10_000 },
  warmupSize: (size) => Math.max(2_000, Math.floor(size / 10)),
  variants: [
    wirelineVariant(wireline),
    rawVariant({ node: (trips) => rawNode(trips), deno: rawDeno, bun: (trips) => rawBun(trips) }),
    {
      name: "raw-awaited",
      role: "reference",
      label: "the raw socket with wireline's loop shape: a promise per write and per chunk",
      runtimes: ["node", "bun", "deno"],
      run: (_net, trips) => (runtime === "bun" ? rawBunAwaited(trips) : runtime === "deno" ? rawDenoAwaited(trips) : rawNodeAwaited(trips)),
    },
    {
      name: "raw-microtasks",
      role: "reference",
      label: "raw callbacks plus the four microtask hops of an awaiting loop (no promise, no async function)",
      runtimes: ["node", "bun"],
      run: (_net, trips) => (runtime === "bun" ? rawBun(trips, true) : rawNode(trips, true)),
    },
    ...streamsAlternatives({ nodeToWeb, nodeArrowood, denoStreams }),
  ],
};
