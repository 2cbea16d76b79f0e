/**
 * Bulk: `size` MiB one way over loopback in 64 KiB writes, both ends in this
 * process. Timed from the first write until the receiver has counted every
 * byte. Result in GB/s (10^9 bytes per second).
 *
 * @module
 */

import { Duplex } from "node:stream";
import { loadArrowood } from "../lib/arrowood.ts";
import { rawVariant, wirelineOptionVariant, wirelineVariant } from "../lib/baseline-variants.ts";
import {
  bulkPayload,
  CHUNK,
  MiB,
  rawBulk,
  throughput,
  wirelineBulk,
  type BunBulkEnds,
  rawDenoBulk,
  type DenoBulkEnds,
  type NodeBulkEnds,
} from "../lib/bulk-transfer.ts";
import { nodeClose, nodeConnect, nodeListen } from "../lib/node-net.ts";
import { denoApi, now, signal } from "../lib/platform.ts";
import type { Measurement, Scenario } from "../lib/scenario.ts";
import { streamsAlternatives } from "../lib/streams-alternatives.ts";

const nodeEnds: NodeBulkEnds = { listen: nodeListen, connect: nodeConnect };

const denoEnds: DenoBulkEnds = {
  listen: () => denoApi().listen({ hostname: "127.0.0.1", port: 0 }),
  connect: async (port) => {
    const conn = await denoApi().connect({ hostname: "127.0.0.1", port });
    conn.setNoDelay(true);
    return conn;
  },
};

const bunEnds: BunBulkEnds = {
  listen: (socket) => Bun.listen({ hostname: "127.0.0.1", port: 0, socket }),
  connect: (port, socket) => Bun.connect({ hostname: "127.0.0.1", port, socket }),
};

/** Web Streams writer loop shared by the streams variants: waits on `ready`, the streams way to apply backpressure. */
async function writeStream(writable: WritableStream<Uint8Array>, total: number): Promise<void> {
  const writer = writable.getWriter();
  const chunk = bulkPayload();
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
  return throughput(got, ms);
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
  return throughput(got, ms);
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
  return throughput(got, ms);
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
    wirelineVariant((net, total) => wirelineBulk(net, total, { port: 0 })),
    rawVariant(rawBulk({ node: nodeEnds, deno: denoEnds, bun: bunEnds })),
    wirelineOptionVariant("wireline-borrowed", "wireline, borrowedChunks: true", (net, total) => wirelineBulk(net, total, { port: 0, borrowedChunks: true })),
    wirelineOptionVariant("wireline-read-into", "wireline read(into)", (net, total) => wirelineBulk(net, total, { port: 0 }, undefined, "read-into")),
    // Deno reads into JavaScript memory: a reader that keeps its chunks needs fresh memory per read. This is that cost in raw code.
    { name: "raw-fresh", role: "reference", label: "raw, fresh memory per read", runtimes: ["deno"], run: (_net, total) => rawDenoBulk(total, denoEnds, true) },
    ...streamsAlternatives({ nodeToWeb, nodeArrowood, denoStreams }),
  ],
};
