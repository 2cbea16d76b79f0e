/**
 * One-way bulk transfer, shared by the bulk and tls-bulk scenarios: `total`
 * bytes in 64 KiB writes of one reused buffer, a receiver that counts bytes
 * until EOF, timed from the first write until the receiver has counted every
 * byte. The scenarios only say how each runtime opens the two ends (plain TCP
 * or TLS), so both drive the bytes with the same loops. Result in GB/s
 * (10^9 bytes per second).
 *
 * @module
 */

import type { Socket, SocketHandler, TCPSocketListener } from "bun";
import type * as nodeNet from "node:net";
import type { ConnectOptions } from "../../src/connect/connect.ts";
import type { Net } from "../../src/net.ts";
import type { ListenOptions } from "../../src/server/server.ts";
import type { PerRuntime } from "./baseline-variants.ts";
import { BunOutbox } from "./bun-net.ts";
import type { DenoConn, DenoListener } from "./deno-api.ts";
import { now, portOf, signal } from "./platform.ts";
import type { Measurement } from "./scenario.ts";

/** Bytes per write. */
export const CHUNK: number = 64 * 1024;
/** 2^20 bytes, the unit the scenarios' sizes are given in. */
export const MiB: number = 1024 * 1024;

/** `bytes` in `ms` as GB/s. */
export function throughput(bytes: number, ms: number): Measurement {
  return { value: bytes / (ms / 1000) / 1e9, extra: { bytes, ms } };
}

/** The buffer every write sends. */
export function bulkPayload(): Uint8Array {
  return new Uint8Array(CHUNK).fill(0x5a);
}

/** How the wireline receiver reads: iterating over chunks, or `read(into)` into one reused buffer. */
export type BulkReader = "iterate" | "read-into";

/** wireline; `listen` and `connect` choose plain TCP or TLS. */
export async function wirelineBulk(net: Net, total: number, listen: ListenOptions, connect?: ConnectOptions, reader: BulkReader = "iterate"): Promise<Measurement> {
  const done = signal<number>();
  const server = await net.listen(listen, async (conn) => {
    let got = 0;
    if (reader === "iterate") {
      for await (const chunk of conn) got += chunk.length;
    } else {
      const buf = new Uint8Array(CHUNK);
      for (let n; (n = await conn.read(buf)) !== null; ) got += n;
    }
    done.resolve(got);
  });
  const conn = await net.connect({ hostname: "127.0.0.1", port: portOf(server.address) }, connect);
  const chunk = bulkPayload();
  const t0 = now();
  for (let sent = 0; sent < total; sent += CHUNK) await conn.write(chunk);
  conn.end();
  const got = await done.promise;
  const ms = now() - t0;
  await conn.close();
  await server.close();
  return throughput(got, ms);
}

/** How a raw Node variant opens its ends on 127.0.0.1. */
export interface NodeBulkEnds {
  listen(onSocket: (socket: nodeNet.Socket) => void): Promise<{ readonly server: { close(): unknown }; readonly port: number }>;
  /** Resolves once the socket may be written to, with TCP_NODELAY set. */
  connect(port: number): Promise<nodeNet.Socket>;
}

/** Raw Node: `write()` until it returns false, then wait for `drain`. */
async function rawNodeBulk(total: number, ends: NodeBulkEnds): Promise<Measurement> {
  const done = signal<number>();
  const { server, port } = await ends.listen((socket) => {
    let got = 0;
    socket.on("data", (chunk: Uint8Array) => (got += chunk.length));
    socket.on("end", () => done.resolve(got));
  });
  const socket = await ends.connect(port);
  const chunk = bulkPayload();
  const t0 = now();
  let sent = 0;
  const pump = (): void => {
    while (sent < total) {
      sent += CHUNK;
      if (!socket.write(chunk)) {
        socket.once("drain", pump);
        return;
      }
    }
    socket.end();
  };
  pump();
  const got = await done.promise;
  const ms = now() - t0;
  socket.destroy();
  server.close();
  return throughput(got, ms);
}

/** How a raw Deno variant opens its ends on 127.0.0.1. */
export interface DenoBulkEnds {
  listen(): DenoListener;
  /** Resolves once the connection may be written to (TLS: after the handshake). */
  connect(port: number): Promise<Pick<DenoConn, "write" | "closeWrite" | "close">>;
}

/**
 * Raw Deno: `read()` into one reused buffer, `write()` looping over partial
 * writes. `fresh`: fresh memory for every read instead, as a reader must that
 * hands its chunks on, cut the way wireline's default mode cuts it (each read
 * behind the last in a new 64 KiB buffer, a new buffer once less than 16 KiB
 * is left): the cost of that alone.
 */
export async function rawDenoBulk(total: number, ends: DenoBulkEnds, fresh = false): Promise<Measurement> {
  const listener = ends.listen();
  const received = (async () => {
    const conn = await listener.accept();
    let buf = new Uint8Array(CHUNK);
    let got = 0;
    for (;;) {
      const n = await conn.read(buf);
      if (n === null) break;
      got += n;
      if (fresh) buf = buf.length - n >= 16 * 1024 ? buf.subarray(n) : new Uint8Array(CHUNK);
    }
    conn.close();
    return got;
  })();
  const conn = await ends.connect(listener.addr.port);
  const chunk = bulkPayload();
  const t0 = now();
  for (let sent = 0; sent < total; sent += CHUNK) {
    // write() may take only part of the chunk; the loop sends the rest.
    for (let off = 0; off < CHUNK; ) off += await conn.write(off === 0 ? chunk : chunk.subarray(off));
  }
  await conn.closeWrite();
  const got = await received;
  const ms = now() - t0;
  conn.close();
  listener.close();
  return throughput(got, ms);
}

/** How a raw Bun variant opens its ends on 127.0.0.1, with the handlers given. */
export interface BunBulkEnds {
  listen(socket: SocketHandler<undefined>): TCPSocketListener<undefined>;
  /** Resolves once the socket may be written to (TLS: after a successful handshake). */
  connect(port: number, socket: SocketHandler<undefined>): Promise<Socket<undefined>>;
}

/**
 * The receiving end of raw Bun as a pull reader: `data` fulfils the read a
 * loop is awaiting, the shape of every promise-based read API (wireline's
 * async iteration included). Chunks that come while no read waits are queued.
 */
function bunPullReader(done: (got: number) => void): SocketHandler<undefined> {
  const queue: (Uint8Array | null)[] = [];
  let waiting: ((chunk: Uint8Array | null) => void) | undefined;
  const push = (chunk: Uint8Array | null): void => {
    const wake = waiting;
    waiting = undefined;
    if (wake) wake(chunk);
    else queue.push(chunk);
  };
  const read = (): Promise<Uint8Array | null> =>
    queue.length > 0 ? Promise.resolve(queue.shift()!) : new Promise((resolve) => (waiting = resolve));
  void (async () => {
    let got = 0;
    for (let chunk = await read(); chunk !== null; chunk = await read()) got += chunk.length;
    done(got);
  })();
  return {
    data: (_s, chunk) => push(chunk),
    end(s) {
      s.end();
      push(null);
    },
  };
}

/**
 * Raw Bun: `write()` takes what the kernel takes, the rest goes out on `drain` (BunOutbox).
 * `pull`: the receiver awaits each chunk (bunPullReader) instead of counting it in `data`.
 */
export async function rawBunBulk(total: number, ends: BunBulkEnds, pull = false): Promise<Measurement> {
  const done = signal<number>();
  let got = 0;
  const listener = ends.listen(pull ? bunPullReader(done.resolve) : {
    data(_s, chunk) {
      got += chunk.length;
    },
    end(s) {
      s.end();
      done.resolve(got);
    },
  });
  const chunk = bulkPayload();
  const outbox = new BunOutbox();
  let sent = 0;
  const pump = (s: Socket<unknown>): void => {
    if (!outbox.flush(s)) return;
    while (sent < total) {
      sent += CHUNK;
      if (!outbox.write(s, chunk)) return; // the rest goes out on drain
    }
    s.end();
  };
  let socket: Socket<undefined>;
  try {
    socket = await ends.connect(listener.port, {
      data() {},
      // Writes start at t0; a drain before that (a TLS handshake settling) has nothing to flush.
      drain: (s) => {
        if (sent > 0) pump(s);
      },
    });
  } catch (error) {
    listener.stop(true);
    throw error;
  }
  const t0 = now();
  pump(socket);
  const received = await done.promise;
  const ms = now() - t0;
  listener.stop(true);
  return throughput(received, ms);
}

/** How each runtime opens the ends of the raw transfer. */
export interface BulkEnds {
  readonly node: NodeBulkEnds;
  readonly deno: DenoBulkEnds;
  readonly bun: BunBulkEnds;
}

/** The raw transfer on each runtime, over `ends`. */
export function rawBulk(ends: BulkEnds): PerRuntime {
  return {
    node: (total) => rawNodeBulk(total, ends.node),
    deno: (total) => rawDenoBulk(total, ends.deno),
    bun: (total) => rawBunBulk(total, ends.bun),
  };
}
