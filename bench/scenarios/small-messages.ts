/**
 * Small messages: `size` length-prefixed frames (4-byte big-endian length,
 * 64-byte payload) one way, decoded and counted by the receiver in this
 * process. Result in messages per second.
 *
 * - wireline: `framed(conn, lengthPrefixed())` on both ends; the sender
 *   awaits every 1024th send, which applies backpressure and lets framed's
 *   microtask batching coalesce the frames in between (encoded straight into
 *   the batch with `encodeInto`). The receiver reads `channel.batches()`;
 *   `wireline-frames` reads one frame per iteration step instead.
 * - raw: one write per message (the obvious code), with backpressure.
 * - raw-batched: the sender packs frames into 64 KiB buffers by hand.
 * - raw-batched-fresh (Deno): raw-batched, the receiver reading into fresh
 *   memory as wireline's Deno adapter does (the rest of a 64 KiB buffer while
 *   16 KiB are left, then a new one), because frames are views into the chunk
 *   and a receiver may keep them: the runtime's cost of fresh read memory.
 *
 * Raw receivers use a hand-written parser that copies only frames split
 * across reads.
 *
 * @module
 */

import type { Socket } from "bun";
import type * as nodeNet from "node:net";
import { framed } from "../../src/framing/framed.ts";
import { lengthPrefixed } from "../../src/framing/length-prefixed.ts";
import type { Net } from "../../src/net.ts";
import { rawVariant, wirelineOptionVariant, wirelineVariant, type PerRuntime } from "../lib/baseline-variants.ts";
import { BunOutbox } from "../lib/bun-net.ts";
import { loadItLengthPrefixed } from "../lib/it-length-prefixed.ts";
import { writeAll } from "../lib/deno-api.ts";
import { itLengthPrefixedVariant } from "../lib/it-length-prefixed-variant.ts";
import { nodeClose, nodeConnect, nodeListen } from "../lib/node-net.ts";
import { denoApi, now, portOf, signal } from "../lib/platform.ts";
import type { Measurement, Scenario } from "../lib/scenario.ts";

const PAYLOAD = 64;
const HEADER = 4;
const FRAME = HEADER + PAYLOAD;
/** Frames per hand-made batch: as many as fit in 64 KiB. */
const BATCH_FRAMES = Math.floor((64 * 1024) / FRAME);
/** wireline's sender awaits one send in this many. */
const PIPELINE = 1024;

const payload = new Uint8Array(PAYLOAD).fill(0x42);

function result(count: number, ms: number): Measurement {
  return { value: count / (ms / 1000), extra: { count, ms } };
}

function putHeader(buf: Uint8Array, at: number, length: number): void {
  buf[at] = length >>> 24;
  buf[at + 1] = (length >>> 16) & 0xff;
  buf[at + 2] = (length >>> 8) & 0xff;
  buf[at + 3] = length & 0xff;
}

/** One message encoded on its own, as the one-write-per-message sender does. */
function encodeOne(body: Uint8Array): Uint8Array {
  const frame = new Uint8Array(HEADER + body.length);
  putHeader(frame, 0, body.length);
  frame.set(body, HEADER);
  return frame;
}

/** `count` messages packed into one buffer. */
function encodeBatch(body: Uint8Array, count: number): Uint8Array {
  const size = HEADER + body.length;
  const buf = new Uint8Array(size * count);
  for (let j = 0, at = 0; j < count; j++, at += size) {
    putHeader(buf, at, body.length);
    buf.set(body, at + HEADER);
  }
  return buf;
}

/** A length-prefixed parser written without wireline: frames inside a chunk are views, split ones are copied. */
class FrameParser {
  readonly #onFrame: (frame: Uint8Array) => void;
  #rest: Uint8Array | undefined;

  constructor(onFrame: (frame: Uint8Array) => void) {
    this.#onFrame = onFrame;
  }

  push(chunk: Uint8Array): void {
    let off = 0;
    if (this.#rest) {
      // Finish the frame that straddles the previous chunk, copying only its bytes.
      let r = this.#rest;
      if (r.length < HEADER) {
        const take = Math.min(HEADER - r.length, chunk.length);
        r = concat(r, chunk.subarray(0, take));
        off = take;
        if (r.length < HEADER) {
          this.#rest = r;
          return;
        }
      }
      const total = HEADER + readLength(r, 0);
      const take = Math.min(total - r.length, chunk.length - off);
      r = concat(r, chunk.subarray(off, off + take));
      off += take;
      if (r.length < total) {
        this.#rest = r;
        return;
      }
      this.#rest = undefined;
      this.#onFrame(r.subarray(HEADER));
    }
    const n = chunk.length;
    while (n - off >= HEADER) {
      const length = readLength(chunk, off);
      if (n - off - HEADER < length) break;
      this.#onFrame(chunk.subarray(off + HEADER, off + HEADER + length));
      off += HEADER + length;
    }
    if (off < n) this.#rest = chunk.slice(off);
  }
}

function readLength(buf: Uint8Array, at: number): number {
  return ((buf[at]! << 24) | (buf[at + 1]! << 16) | (buf[at + 2]! << 8) | buf[at + 3]!) >>> 0;
}

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.length + b.length);
  out.set(a, 0);
  out.set(b, a.length);
  return out;
}

/** Counts frames until `count`; resolves then. */
function counter(count: number): { parser: FrameParser; done: Promise<void> } {
  const done = signal();
  let seen = 0;
  const parser = new FrameParser(() => {
    if (++seen === count) done.resolve();
  });
  return { parser, done: done.promise };
}

/** How wireline's receiver reads: a callback per frame, a batch of frames per chunk, or one frame per iteration step. */
type Receive = "forEach" | "batches" | "frames";

async function wireline(net: Net, count: number, receive: Receive): Promise<Measurement> {
  const done = signal();
  const server = await net.listen({ port: 0 }, async (conn) => {
    let seen = 0;
    const channel = framed(conn, lengthPrefixed());
    if (receive === "forEach") {
      await channel.forEach(() => {
        if (++seen === count) done.resolve();
      });
    } else if (receive === "batches") {
      for await (const frames of channel.batches()) {
        seen += frames.length;
        if (seen === count) done.resolve();
      }
    } else {
      for await (const _frame of channel) {
        if (++seen === count) done.resolve();
      }
    }
  });
  const conn = await net.connect({ hostname: "127.0.0.1", port: portOf(server.address) });
  const channel = framed(conn, lengthPrefixed());
  const t0 = now();
  let last: Promise<void> = Promise.resolve();
  for (let i = 1; i <= count; i++) {
    last = channel.send(payload);
    if (i % PIPELINE === 0) await last;
  }
  await last;
  await done.promise;
  const ms = now() - t0;
  await conn.close();
  await server.close();
  return result(count, ms);
}

/** The next buffer to send for message `i`, and how many messages it carries. */
type Encoder = (i: number, count: number) => [Uint8Array, number];

const perMessage: Encoder = () => [encodeOne(payload), 1];
const batched: Encoder = (i, count) => {
  const k = Math.min(BATCH_FRAMES, count - i);
  return [encodeBatch(payload, k), k];
};

async function rawNode(count: number, encode: Encoder): Promise<Measurement> {
  const { parser, done } = counter(count);
  const { server, port } = await nodeListen((socket) => {
    socket.on("data", (chunk: Uint8Array) => parser.push(chunk));
  });
  const socket: nodeNet.Socket = await nodeConnect(port);
  let i = 0;
  const pump = (): void => {
    while (i < count) {
      const [buf, k] = encode(i, count);
      i += k;
      if (!socket.write(buf)) {
        socket.once("drain", pump);
        return;
      }
    }
    socket.end();
  };
  const t0 = now();
  pump();
  await done;
  const ms = now() - t0;
  socket.destroy();
  nodeClose(server);
  return result(count, ms);
}

async function rawDeno(count: number, encode: Encoder, fresh = false): Promise<Measurement> {
  const Deno = denoApi();
  const { parser, done } = counter(count);
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const receiving = (async () => {
    const conn = await listener.accept();
    let buf = new Uint8Array(64 * 1024);
    for (;;) {
      const n = await conn.read(buf);
      if (n === null) break;
      parser.push(buf.subarray(0, n));
      // Frames may be kept, so the bytes just read are never read into again.
      if (fresh) buf = buf.length - n >= 16 * 1024 ? buf.subarray(n) : new Uint8Array(64 * 1024);
    }
    conn.close();
  })();
  const conn = await Deno.connect({ hostname: "127.0.0.1", port: listener.addr.port });
  conn.setNoDelay(true);
  const t0 = now();
  for (let i = 0; i < count; ) {
    const [buf, k] = encode(i, count);
    i += k;
    await writeAll(conn, buf);
  }
  await done;
  const ms = now() - t0;
  await conn.closeWrite();
  await receiving;
  conn.close();
  listener.close();
  return result(count, ms);
}

async function rawBun(count: number, encode: Encoder): Promise<Measurement> {
  const { parser, done } = counter(count);
  const listener = Bun.listen({
    hostname: "127.0.0.1",
    port: 0,
    socket: {
      data(_s, chunk) {
        parser.push(chunk);
      },
    },
  });
  const outbox = new BunOutbox();
  let i = 0;
  const pump = (s: Socket<unknown>): void => {
    if (!outbox.flush(s)) return;
    while (i < count) {
      const [buf, k] = encode(i, count);
      i += k;
      if (!outbox.write(s, buf)) return; // the rest goes out on drain
    }
  };
  const socket = await Bun.connect({ hostname: "127.0.0.1", port: listener.port, socket: { data() {}, drain: pump } });
  const t0 = now();
  pump(socket);
  await done;
  const ms = now() - t0;
  socket.end();
  listener.stop(true);
  return result(count, ms);
}

/**
 * libp2p's framing over node:net, as a libp2p peer would use it: each message
 * encoded by `lp.encode.single` (a varint length, so 1 header byte here) and
 * written with backpressure; the receiver iterates `lp.decode(socket)`.
 */
async function itLengthPrefixedNode(count: number): Promise<Measurement> {
  const lp = (await loadItLengthPrefixed())!;
  const done = signal();
  const { server, port } = await nodeListen((socket) => {
    void (async () => {
      let seen = 0;
      for await (const _frame of lp.decode(socket as unknown as AsyncIterable<Uint8Array>)) {
        if (++seen === count) done.resolve();
      }
    })().catch(() => {});
  });
  const socket: nodeNet.Socket = await nodeConnect(port);
  let i = 0;
  const pump = (): void => {
    while (i < count) {
      i++;
      if (!socket.write(lp.encode.single(payload).subarray())) {
        socket.once("drain", pump);
        return;
      }
    }
  };
  const t0 = now();
  pump();
  await done.promise;
  const ms = now() - t0;
  socket.destroy();
  nodeClose(server);
  return result(count, ms);
}

/** The raw sender on each runtime, encoding with `encode`. */
function raw(encode: Encoder): PerRuntime {
  return {
    node: (count) => rawNode(count, encode),
    deno: (count) => rawDeno(count, encode),
    bun: (count) => rawBun(count, encode),
  };
}

/** The small-messages scenario. */
export const smallMessages: Scenario = {
  name: "small",
  title: "small messages: 1M length-prefixed 64 B frames one way",
  unit: "msg/s",
  higherIsBetter: true,
  sizes: { full: 1_000_000, quick: 100_000, guard: 100_000 },
  warmupSize: (size) => Math.max(20_000, Math.floor(size / 10)),
  variants: [
    wirelineVariant((net, count) => wireline(net, count, "forEach"), "wireline framed(lengthPrefixed), forEach()"),
    wirelineOptionVariant("wireline-batches", "wireline framed(lengthPrefixed), batches()", (net, count) => wireline(net, count, "batches")),
    wirelineOptionVariant("wireline-frames", "wireline framed(lengthPrefixed), one frame per iteration step", (net, count) => wireline(net, count, "frames")),
    rawVariant(raw(perMessage), { label: "raw, one write per message" }),
    rawVariant(raw(batched), { name: "raw-batched", role: "reference", label: "raw, manual 64 KiB batches" }),
    {
      name: "raw-batched-fresh",
      role: "reference",
      label: "raw, manual 64 KiB batches, fresh memory per read",
      runtimes: ["deno"],
      run: (_net, count) => rawDeno(count, batched, true),
    },
    {
      name: "it-length-prefixed",
      role: "alternative",
      label: "it-length-prefixed (libp2p) over node:net, one write per message",
      runtimes: ["node"],
      unavailable: async () => ((await loadItLengthPrefixed()) ? undefined : "it-length-prefixed is not installed"),
      run: (_net, count) => itLengthPrefixedNode(count),
    },
    itLengthPrefixedVariant(payload),
  ],
};
