// framed(): frames over a connection, microtask batching, backpressure and failure, over an in-memory fake.
import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { delimited } from "../src/framing/delimited.ts";
import { NetError } from "../src/errors.ts";
import type { ByteConnection } from "../src/framing/byte-connection.ts";
import { framed } from "../src/framing/framed.ts";
import { FramingError } from "../src/framing/framing-error.ts";
import { lengthPrefixed } from "../src/framing/length-prefixed.ts";
import { lines } from "../src/framing/lines.ts";

/**
 * One end of an in-memory connection. Writes land in the peer's inbox (re-cut by
 * `chunker`); a write resolves once the peer's unread bytes are at or under
 * `highWaterMark`. `writeHook` replaces that resolution, to hold writes back.
 */
class FakeConnection implements ByteConnection {
  peer!: FakeConnection;
  readonly writes: Uint8Array[] = [];
  destroyedWith: Error | undefined;
  destroyed = false;
  returned = false;
  writeHook: ((data: Uint8Array) => Promise<void>) | undefined;
  readonly closed: Promise<void>;
  readonly #close: () => void;
  #inbox: Uint8Array[] = [];
  #inboxBytes = 0;
  #eof = false;
  #error: Error | undefined;
  #reader: { resolve: (r: IteratorResult<Uint8Array>) => void; reject: (e: unknown) => void } | undefined;
  #blocked: { resolve: () => void; reject: (e: unknown) => void }[] = [];

  readonly highWaterMark: number;
  readonly chunker: (data: Uint8Array) => Uint8Array[];

  constructor(highWaterMark: number, chunker: (data: Uint8Array) => Uint8Array[]) {
    this.highWaterMark = highWaterMark;
    this.chunker = chunker;
    let close!: () => void;
    this.closed = new Promise((r) => (close = r));
    this.#close = close;
  }

  write(data: Uint8Array): Promise<void> {
    if (this.destroyed) return Promise.reject(new NetError("ERR_SOCKET_CLOSED", "socket is closed"));
    this.writes.push(data);
    for (const piece of this.chunker(data.slice())) this.peer.#deliver(piece);
    if (this.writeHook) return this.writeHook(data);
    if (this.peer.#inboxBytes <= this.highWaterMark) return Promise.resolve();
    return new Promise((resolve, reject) => this.#blocked.push({ resolve, reject }));
  }

  /** Half-close: the peer reads to the end. */
  end(): void {
    this.peer.#finish(undefined);
  }

  close(): Promise<void> {
    this.end();
    this.destroy();
    return Promise.resolve();
  }

  destroy(error?: Error): void {
    if (this.destroyed) return;
    this.destroyed = true;
    this.destroyedWith = error;
    this.#inbox = [];
    this.#finish(error);
    for (const b of this.#blocked.splice(0)) b.reject(new NetError("ERR_SOCKET_CLOSED", "socket is closed"));
    this.peer.#finish(undefined);
    this.#close();
  }

  [Symbol.asyncIterator](): AsyncIterator<Uint8Array> {
    return {
      next: () => {
        const chunk = this.#inbox.shift();
        if (chunk) {
          this.#inboxBytes -= chunk.length;
          this.peer.#unblock();
          return Promise.resolve({ done: false, value: chunk });
        }
        if (this.#error) return Promise.reject(this.#error);
        if (this.#eof) return Promise.resolve({ done: true, value: undefined });
        return new Promise((resolve, reject) => (this.#reader = { resolve, reject }));
      },
      return: () => {
        this.returned = true;
        return Promise.resolve({ done: true, value: undefined });
      },
    };
  }

  #deliver(chunk: Uint8Array): void {
    if (this.#eof) return;
    const reader = this.#reader;
    this.#reader = undefined;
    if (reader) reader.resolve({ done: false, value: chunk });
    else {
      this.#inbox.push(chunk);
      this.#inboxBytes += chunk.length;
    }
  }

  #finish(error: Error | undefined): void {
    if (this.#eof) return;
    this.#eof = true;
    this.#error = error;
    const reader = this.#reader;
    this.#reader = undefined;
    if (reader && error) reader.reject(error);
    else reader?.resolve({ done: true, value: undefined });
  }

  #unblock(): void {
    if (this.peer.#inboxBytes > this.highWaterMark) return;
    for (const b of this.#blocked.splice(0)) b.resolve();
  }
}

function pair(
  highWaterMark = 1 << 30,
  chunker: (data: Uint8Array) => Uint8Array[] = (d) => [d],
): [FakeConnection, FakeConnection] {
  const a = new FakeConnection(highWaterMark, chunker);
  const b = new FakeConnection(highWaterMark, chunker);
  a.peer = b;
  b.peer = a;
  return [a, b];
}

async function collect<T>(iterable: AsyncIterable<T>): Promise<{ items: T[]; error: unknown }> {
  const items: T[] = [];
  try {
    for await (const item of iterable) items.push(item);
    return { items, error: undefined };
  } catch (error) {
    return { items, error };
  }
}

async function rejection(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  throw new Error("expected a rejection");
}

/** Lets every queued microtask and promise reaction run. */
const settle = (): Promise<void> => new Promise((r) => setTimeout(r, 0));

function hex(bytes: Uint8Array): string {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

describe("framed", () => {
  it("carries random frames across random chunking, for each codec", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.uint8Array({ maxLength: 2000 }), { maxLength: 20 }),
        fc.integer({ min: 1, max: 700 }),
        fc.constantFrom("length", "delimited"),
        async (frames, piece, kind) => {
          const chunker = (d: Uint8Array): Uint8Array[] => {
            const out: Uint8Array[] = [];
            for (let at = 0; at < d.length; at += piece) out.push(d.subarray(at, at + piece));
            return out;
          };
          const [a, b] = pair(1 << 30, chunker);
          // Delimited frames must not contain the delimiter: use bytes 1..255 and a NUL delimiter.
          const sent = kind === "length" ? frames : frames.map((f) => f.map((x) => x || 1));
          const codec = kind === "length" ? lengthPrefixed() : delimited({ delimiter: Uint8Array.of(0) });
          const sender = framed(a, codec);
          const receiver = framed(b, codec);
          await Promise.all(sent.map((f) => sender.send(f)));
          a.end();
          const { items, error } = await collect(receiver);
          expect(error).toBeUndefined();
          expect(items.map(hex)).toEqual(sent.map(hex));
        },
      ),
      { numRuns: 100 },
    );
  });

  it("coalesces the sends of one tick into one write, flushed on a microtask", async () => {
    const [a, b] = pair();
    const channel = framed(a, lines());
    const sends = Array.from({ length: 100 }, (_, i) => channel.send(`line ${i}`));
    expect(a.writes.length).toBe(0);
    await Promise.resolve();
    expect(a.writes.length).toBe(1);
    await Promise.all(sends);
    expect(a.writes.length).toBe(1);
    a.end();
    const { items } = await collect(framed(b, lines()));
    expect(items).toEqual(Array.from({ length: 100 }, (_, i) => `line ${i}`));
  });

  it("writes again for sends in a later tick", async () => {
    const [a] = pair();
    const channel = framed(a, lines());
    await channel.send("one");
    await channel.send("two");
    expect(a.writes.map((w) => new TextDecoder().decode(w))).toEqual(["one\n", "two\n"]);
  });

  it("caps a batch at maxBatchBytes, flushing early without waiting for the tick", async () => {
    const [a, b] = pair();
    const codec = lengthPrefixed({ lengthBytes: 2 });
    const channel = framed(a, codec, { maxBatchBytes: 100 });
    const frames = Array.from({ length: 20 }, (_, i) => new Uint8Array(30).fill(i));
    const sends = frames.map((f) => channel.send(f));
    // 20 frames of 32 bytes: 3 per 100-byte batch, all but the last batch written before the microtask.
    expect(a.writes.length).toBe(6);
    await Promise.all(sends);
    expect(a.writes.length).toBe(7);
    for (const w of a.writes) expect(w.length).toBeLessThanOrEqual(100);
    a.end();
    const { items } = await collect(framed(b, codec));
    expect(items.map(hex)).toEqual(frames.map(hex));
  });

  it("sends a tick a little past maxBatchBytes in one write once the tick before it was as large", async () => {
    const [a, b] = pair();
    const codec = lengthPrefixed({ lengthBytes: 2 });
    const channel = framed(a, codec, { maxBatchBytes: 1000 });
    const tick = (count: number, fill: number): Uint8Array[] => Array.from({ length: count }, (_, i) => new Uint8Array(30).fill(fill + i));
    // 33 frames of 32 bytes: 1056 bytes, within an eighth past 1000.
    const first = tick(33, 0);
    await Promise.all(first.map((f) => channel.send(f)));
    expect(a.writes.map((w) => w.length)).toEqual([992, 64]);
    const second = tick(33, 100);
    await Promise.all(second.map((f) => channel.send(f)));
    expect(a.writes.map((w) => w.length)).toEqual([992, 64, 1056]);
    // A larger tick is cut again, no write past the previous tick's size.
    const third = tick(40, 150);
    await Promise.all(third.map((f) => channel.send(f)));
    expect(a.writes.slice(3).map((w) => w.length)).toEqual([1056, 224]);
    a.end();
    const { items } = await collect(framed(b, codec));
    expect(items.map(hex)).toEqual([...first, ...second, ...third].map(hex));
  });

  it("writes a frame part of maxBatchBytes or more by reference, without copying", async () => {
    const [a] = pair();
    const channel = framed(a, lengthPrefixed());
    const big = new Uint8Array(1 << 20);
    await Promise.all([channel.send(Uint8Array.of(1)), channel.send(big), channel.send(Uint8Array.of(2))]);
    expect(a.writes.map((w) => w.length)).toEqual([4 + 1 + 4, 1 << 20, 4 + 1]);
    expect(a.writes[1]).toBe(big);
  });

  it("holds back later sends while an earlier write is pending", async () => {
    const [a] = pair();
    let release!: () => void;
    let first = true;
    a.writeHook = () => {
      if (!first) return Promise.resolve();
      first = false;
      return new Promise((r) => (release = r));
    };
    const channel = framed(a, lines());
    const order: string[] = [];
    const slow = channel.send("slow").then(() => order.push("slow"));
    await Promise.resolve();
    const later = channel.send("later").then(() => order.push("later"));
    await settle();
    expect(a.writes.length).toBe(2);
    expect(order).toEqual([]);
    release();
    await Promise.all([slow, later]);
    expect(order).toEqual(["slow", "later"]);
  });

  it("applies the connection's high-water mark", async () => {
    const [a, b] = pair(8);
    const channel = framed(a, lines());
    let done = false;
    const sent = channel.send("0123456789").then(() => (done = true));
    await settle();
    expect(done).toBe(false);
    const reader = framed(b, lines())[Symbol.asyncIterator]();
    expect((await reader.next()).value).toBe("0123456789");
    await sent;
    expect(done).toBe(true);
  });

  it("rejects only the send whose frame fails to encode", async () => {
    const [a, b] = pair();
    const channel = framed(a, lines({ maxLength: 10 }));
    const ok1 = channel.send("ok1");
    const bad = channel.send("two\nlines");
    const big = channel.send("x".repeat(11));
    const ok2 = channel.send("ok2");
    const badError = await rejection(bad);
    expect(badError).toBeInstanceOf(FramingError);
    expect((badError as FramingError).code).toBe("ERR_FRAME_MALFORMED");
    expect(((await rejection(big)) as FramingError).code).toBe("ERR_FRAME_TOO_LARGE");
    await Promise.all([ok1, ok2]);
    expect(a.writes.length).toBe(1);
    a.end();
    expect((await collect(framed(b, lines()))).items).toEqual(["ok1", "ok2"]);
  });

  it("rejects sends once the connection is closed", async () => {
    const [a] = pair();
    const channel = framed(a, lines());
    channel.destroy();
    const error = await rejection(channel.send("late"));
    expect((error as NetError).code).toBe("ERR_SOCKET_CLOSED");
    await channel.closed;
  });

  it("rejects a send whose write fails, and every send after it", async () => {
    const [a] = pair();
    let calls = 0;
    a.writeHook = () => (++calls === 1 ? Promise.reject(new NetError("EPIPE", "broken pipe")) : Promise.resolve());
    const channel = framed(a, lines());
    const first = channel.send("a");
    await Promise.resolve();
    const second = channel.send("b");
    expect(((await rejection(first)) as NetError).code).toBe("EPIPE");
    expect(((await rejection(second)) as NetError).code).toBe("EPIPE");
  });

  it("yields the frames before a decoding error, then throws it and destroys the connection", async () => {
    const [a, b] = pair();
    const channel = framed(b, lengthPrefixed({ maxFrameLength: 100 }));
    // One good frame, then a header announcing 1000 bytes.
    void a.write(Uint8Array.of(0, 0, 0, 1, 42, 0, 0, 0x03, 0xe8));
    const { items, error } = await collect(channel);
    expect(items.map(hex)).toEqual(["2a"]);
    expect(error).toBeInstanceOf(FramingError);
    expect((error as FramingError).code).toBe("ERR_FRAME_TOO_LARGE");
    expect(b.destroyedWith).toBe(error);
    await channel.closed;
  });

  it("throws ERR_FRAME_MALFORMED when the stream ends inside a frame", async () => {
    const [a, b] = pair();
    const channel = framed(b, lines());
    await a.write(new TextEncoder().encode("whole\npart"));
    a.end();
    const { items, error } = await collect(channel);
    expect(items).toEqual(["whole"]);
    expect((error as FramingError).code).toBe("ERR_FRAME_MALFORMED");
    expect(b.destroyedWith).toBe(error);
  });

  it("throws the connection's error from iteration", async () => {
    const [, b] = pair();
    const channel = framed(b, lines());
    const reset = new NetError("ECONNRESET", "connection reset by peer");
    const pending = collect(channel);
    await settle();
    b.destroy(reset);
    const { error } = await pending;
    expect(error).toBe(reset);
  });

  it("releases the connection's iterator when the consumer stops early", async () => {
    const [a, b] = pair();
    const channel = framed(b, lines());
    await a.write(new TextEncoder().encode("one\ntwo\n"));
    for await (const line of channel) {
      expect(line).toBe("one");
      break;
    }
    expect(b.returned).toBe(true);
  });

  it("can be iterated only once", async () => {
    const [, b] = pair();
    const channel = framed(b, lines());
    void channel[Symbol.asyncIterator]().next();
    const error = await rejection(channel[Symbol.asyncIterator]().next());
    expect(error).toBeInstanceOf(TypeError);
    b.destroy();
  });

  it("validates its options", () => {
    const [a] = pair();
    for (const maxBatchBytes of [0, -1, 1.5]) {
      let error: unknown;
      try {
        framed(a, lines(), { maxBatchBytes });
      } catch (e) {
        error = e;
      }
      expect((error as NetError).code).toBe("ERR_INVALID_OPTION");
    }
  });
});
