/**
 * Bulk: `size` MiB one way over loopback in 64 KiB writes, both ends in this
 * process. Timed from the first write until the receiver has counted every
 * byte. Result in GB/s (10^9 bytes per second).
 *
 * @module
 */

import type { Socket } from "bun";
import { Duplex } from "node:stream";
import type { Net } from "../../src/net.ts";
import { BunOutbox } from "../lib/bun-net.ts";
import { writeAll } from "../lib/deno-api.ts";
import { nodeClose, nodeConnect, nodeListen } from "../lib/node-net.ts";
import { loadArrowood } from "../lib/arrowood.ts";
import { denoApi, now, portOf, runtime, signal } from "../lib/platform.ts";
import type { Measurement, Scenario } from "../lib/scenario.ts";

const CHUNK = 64 * 1024;
const MiB = 1024 * 1024;

function result(bytes: number, ms: number): Measurement {
  return { value: bytes / (ms / 1000) / 1e9, extra: { bytes, ms } };
}

function payload(): Uint8Array {
  return new Uint8Array(CHUNK).fill(0x5a);
}

async function wireline(net: Net, total: number): Promise<Measurement> {
  const done = signal<number>();
  const server = await net.listen({ port: 0 }, async (conn) => {
    let got = 0;
    for await (const chunk of conn) got += chunk.length;
    done.resolve(got);
  });
  const conn = await net.connect({ hostname: "127.0.0.1", port: portOf(server.address) });
  const chunk = payload();
  const t0 = now();
  for (let sent = 0; sent < total; sent += CHUNK) await conn.write(chunk);
  conn.end();
  const got = await done.promise;
  const ms = now() - t0;
  await conn.close();
  await server.close();
  return result(got, ms);
}

async function rawNode(total: number): Promise<Measurement> {
  const done = signal<number>();
  const { server, port } = await nodeListen((socket) => {
    let got = 0;
    socket.on("data", (chunk: Uint8Array) => (got += chunk.length));
    socket.on("end", () => done.resolve(got));
  });
  const socket = await nodeConnect(port);
  const chunk = payload();
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
  nodeClose(server);
  return result(got, ms);
}

async function rawDeno(total: number): Promise<Measurement> {
  const Deno = denoApi();
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const received = (async () => {
    const conn = await listener.accept();
    const buf = new Uint8Array(CHUNK);
    let got = 0;
    for (;;) {
      const n = await conn.read(buf);
      if (n === null) break;
      got += n;
    }
    conn.close();
    return got;
  })();
  const conn = await Deno.connect({ hostname: "127.0.0.1", port: listener.addr.port });
  conn.setNoDelay(true);
  const chunk = payload();
  const t0 = now();
  for (let sent = 0; sent < total; sent += CHUNK) await writeAll(conn, chunk);
  await conn.closeWrite();
  const got = await received;
  const ms = now() - t0;
  conn.close();
  listener.close();
  return result(got, ms);
}

async function rawBun(total: number): Promise<Measurement> {
  const done = signal<number>();
  let got = 0;
  const listener = Bun.listen({
    hostname: "127.0.0.1",
    port: 0,
    socket: {
      data(_s, chunk) {
        got += chunk.length;
      },
      end(s) {
        s.end();
        done.resolve(got);
      },
    },
  });
  const chunk = payload();
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
  const socket = await Bun.connect({
    hostname: "127.0.0.1",
    port: listener.port,
    socket: { data() {}, drain: pump },
  });
  const t0 = now();
  pump(socket);
  const total_ = await done.promise;
  const ms = now() - t0;
  listener.stop(true);
  return result(total_, ms);
}

/** Web Streams writer loop shared by the streams variants: waits on `ready`, the streams way to apply backpressure. */
async function writeStream(writable: WritableStream<Uint8Array>, total: number): Promise<void> {
  const writer = writable.getWriter();
  const chunk = payload();
  for (let sent = 0; sent < total; sent += CHUNK) {
    await writer.ready;
    writer.write(chunk).catch(() => {});
  }
  await writer.close();
}

async function countStream(readable: ReadableStream<Uint8Array>): Promise<number> {
  let got = 0;
  for await (const chunk of readable as unknown as AsyncIterable<Uint8Array>) got += chunk.length;
  return got;
}

async function nodeToWeb(total: number): Promise<Measurement> {
  const done = signal<number>();
  const { server, port } = await nodeListen((socket) => {
    const { readable } = Duplex.toWeb(socket);
    void countStream(readable as unknown as ReadableStream<Uint8Array>).then(done.resolve);
  });
  const socket = await nodeConnect(port);
  const { writable } = Duplex.toWeb(socket);
  const t0 = now();
  await writeStream(writable as unknown as WritableStream<Uint8Array>, total);
  const got = await done.promise;
  const ms = now() - t0;
  socket.destroy();
  nodeClose(server);
  return result(got, ms);
}

async function nodeArrowood(total: number): Promise<Measurement> {
  const { connect } = (await loadArrowood())!;
  const done = signal<number>();
  // The package has no server side; its client is Duplex.toWeb over net.Socket, so the server uses that too.
  const { server, port } = await nodeListen((socket) => {
    const { readable } = Duplex.toWeb(socket);
    void countStream(readable as unknown as ReadableStream<Uint8Array>).then(done.resolve);
  });
  const socket = connect({ hostname: "127.0.0.1", port });
  socket.closed.catch(() => {});
  const t0 = now();
  await writeStream(socket.writable, total);
  const got = await done.promise;
  const ms = now() - t0;
  await socket.close().catch(() => {});
  nodeClose(server);
  return result(got, ms);
}

async function denoStreams(total: number): Promise<Measurement> {
  const Deno = denoApi();
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const received = listener.accept().then((conn) => countStream(conn.readable));
  const conn = await Deno.connect({ hostname: "127.0.0.1", port: listener.addr.port });
  conn.setNoDelay(true);
  const t0 = now();
  await writeStream(conn.writable, total);
  const got = await received;
  const ms = now() - t0;
  listener.close();
  return result(got, ms);
}

/** The bulk scenario. */
export const bulk: Scenario = {
  name: "bulk",
  title: "bulk: 1 GiB one way, 64 KiB writes",
  unit: "GB/s",
  higherIsBetter: true,
  sizes: { full: 1024 * MiB, quick: 128 * MiB, guard: 128 * MiB },
  warmupSize: (size) => Math.max(32 * MiB, size / 16),
  variants: [
    { name: "wireline", role: "wireline", label: "wireline", run: wireline },
    {
      name: "raw",
      role: "raw",
      label: "raw",
      run: (_net, size) => (runtime === "node" ? rawNode(size) : runtime === "deno" ? rawDeno(size) : rawBun(size)),
    },
    { name: "node-toweb", role: "alternative", label: "Duplex.toWeb streams", runtimes: ["node"], run: (_n, s) => nodeToWeb(s) },
    {
      name: "node-arrowood",
      role: "alternative",
      label: "@arrowood.dev/socket",
      runtimes: ["node"],
      unavailable: async () => ((await loadArrowood()) ? undefined : "@arrowood.dev/socket is not installed"),
      run: (_n, s) => nodeArrowood(s),
    },
    { name: "deno-streams", role: "alternative", label: "conn.readable/writable", runtimes: ["deno"], run: (_n, s) => denoStreams(s) },
  ],
};
