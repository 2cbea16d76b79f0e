// framed().forEach(): frames handed to a callback as each chunk is decoded, with backpressure and errors as
// the frame iteration has them; and the outgoing batch sized from the previous tick.
import { describe, expect, it } from "vitest";
import type { Codec } from "../src/framing/codec.ts";
import type { ByteConnection } from "../src/framing/byte-connection.ts";
import { framed } from "../src/framing/framed.ts";
import { FramingError } from "../src/framing/framing-error.ts";
import { lengthPrefixed } from "../src/framing/length-prefixed.ts";
import { lines } from "../src/framing/lines.ts";
import { concat, cut, firstDifference, patternBytes } from "./helpers/bytes.ts";
import { connect, listen, portOf, runtime } from "./helpers/runtime.ts";

/** Yields the chunks it is given, then ends (or fails with `error`); counts the chunks pulled. */
class ScriptedConnection implements ByteConnection {
  readonly writes: Uint8Array[] = [];
  destroyedWith: Error | undefined;
  pulled = 0;
  returned = false;
  readonly closed: Promise<void> = Promise.resolve();
  readonly #chunks: Uint8Array[];
  readonly #error: Error | undefined;

  constructor(chunks: Uint8Array[] = [], error?: Error) {
    this.#chunks = chunks;
    this.#error = error;
  }

  write(data: Uint8Array): Promise<void> {
    this.writes.push(data.slice());
    return Promise.resolve();
  }

  [Symbol.asyncIterator](): AsyncIterator<Uint8Array> {
    return {
      next: async () => {
        this.pulled++;
        if (this.#chunks.length > 0) return { value: this.#chunks.shift()!, done: false };
        if (this.#error !== undefined) throw this.#error;
        return { value: undefined, done: true };
      },
      return: async () => {
        this.returned = true;
        return { value: undefined, done: true };
      },
    };
  }

  destroy(error?: Error): void {
    this.destroyedWith = error;
  }

  close(): Promise<void> {
    return Promise.resolve();
  }
}

function encoded(codec: Codec<Uint8Array>, payload: Uint8Array): Uint8Array {
  const parts = codec.encode(payload);
  return parts instanceof Uint8Array ? parts : concat(parts);
}

function wireOf(codec: Codec<Uint8Array>, frames: readonly Uint8Array[]): Uint8Array {
  return concat(frames.map((f) => encoded(codec, f)));
}

describe("framed().forEach()", () => {
  it("passes every frame in order, across chunks cut inside frames, and resolves when the peer closes", async () => {
    const codec = lengthPrefixed();
    const frames = Array.from({ length: 300 }, (_, i) => patternBytes(i % 7 === 0 ? 5000 : i % 90, i + 1));
    const wire = wireOf(codec, frames);
    // Cuts inside headers, inside payloads, and chunks holding many whole frames.
    const conn = new ScriptedConnection(cut(wire, [1, 3, 6, 100, 101, 7000, 7002, 30_000, wire.length - 2]));
    const received: Uint8Array[] = [];
    await framed(conn, codec).forEach((frame) => {
      received.push(frame.slice());
    });
    expect(received.map((f) => f.length)).toEqual(frames.map((f) => f.length));
    expect(firstDifference(concat(received), concat(frames))).toBe(-1);
  });

  it("works with a text codec", async () => {
    const conn = new ScriptedConnection(cut(new TextEncoder().encode("héllo\nwörld\n\nlast\n"), [2, 9]));
    const received: string[] = [];
    await framed(conn, lines()).forEach((line) => {
      received.push(line);
    });
    expect(received).toEqual(["héllo", "wörld", "", "last"]);
  });

  it("waits for a returned promise before the next frame and before reading on", async () => {
    const codec = lengthPrefixed();
    const frames = Array.from({ length: 6 }, (_, i) => Uint8Array.of(i));
    // Two chunks of three frames each.
    const conn = new ScriptedConnection([wireOf(codec, frames.slice(0, 3)), wireOf(codec, frames.slice(3))]);
    const received: number[] = [];
    const release: (() => void)[] = [];
    let active = 0;
    let most = 0;
    const done = framed(conn, codec).forEach(async (frame) => {
      most = Math.max(most, ++active);
      received.push(frame[0]!);
      await new Promise<void>((resolve) => release.push(resolve));
      active--;
    });
    for (let i = 0; i < frames.length; i++) {
      // Let the channel run until it waits on the callback's promise.
      for (let spin = 0; spin < 100 && release.length === 0; spin++) await Promise.resolve();
      expect(received).toEqual(frames.slice(0, i + 1).map((f) => f[0]));
      // The second chunk is read only after every frame of the first was handled.
      expect(conn.pulled).toBe(i < 3 ? 1 : 2);
      release.shift()!();
    }
    await done;
    expect(most).toBe(1);
  });

  it("rejects with the framing error after passing the frames decoded before it, and destroys the connection", async () => {
    const codec = lengthPrefixed({ maxFrameLength: 4 });
    const conn = new ScriptedConnection([concat([encoded(codec, Uint8Array.of(7)), encoded(codec, Uint8Array.of(8)), Uint8Array.of(0, 0, 0, 9)])]);
    const received: number[] = [];
    await expect(framed(conn, codec).forEach((frame) => void received.push(frame[0]!))).rejects.toThrow(FramingError);
    expect(received).toEqual([7, 8]);
    expect(conn.destroyedWith).toBeInstanceOf(FramingError);
  });

  it("rejects with the connection's error", async () => {
    const codec = lengthPrefixed();
    const failure = new Error("connection reset");
    const conn = new ScriptedConnection([encoded(codec, Uint8Array.of(1))], failure);
    const received: number[] = [];
    await expect(framed(conn, codec).forEach((frame) => void received.push(frame[0]!))).rejects.toBe(failure);
    expect(received).toEqual([1]);
  });

  it("stops reading when the callback throws, keeps the connection open, and rejects with that error", async () => {
    const codec = lengthPrefixed();
    const wire = wireOf(codec, [Uint8Array.of(1), Uint8Array.of(2), Uint8Array.of(3)]);
    const conn = new ScriptedConnection([wire, wire]);
    const received: number[] = [];
    const oops = new Error("bad frame");
    const done = framed(conn, codec).forEach((frame) => {
      received.push(frame[0]!);
      if (frame[0] === 2) throw oops;
    });
    await expect(done).rejects.toBe(oops);
    expect(received).toEqual([1, 2]);
    expect(conn.pulled).toBe(1);
    expect(conn.returned).toBe(true);
    expect(conn.destroyedWith).toBeUndefined();
  });

  it("stops reading when the callback's promise rejects, and rejects with that error", async () => {
    const codec = lengthPrefixed();
    const conn = new ScriptedConnection([wireOf(codec, [Uint8Array.of(1), Uint8Array.of(2), Uint8Array.of(3)])]);
    const received: number[] = [];
    const oops = new Error("bad frame");
    const done = framed(conn, codec).forEach(async (frame) => {
      received.push(frame[0]!);
      if (frame[0] === 1) throw oops;
    });
    await expect(done).rejects.toBe(oops);
    expect(received).toEqual([1]);
    expect(conn.destroyedWith).toBeUndefined();
  });

  it("refuses a callback that is not a function, before reading", async () => {
    const conn = new ScriptedConnection([Uint8Array.of(0, 0, 0, 0)]);
    const channel = framed(conn, lengthPrefixed());
    await expect(channel.forEach("count" as unknown as () => void)).rejects.toThrow(/takes a function, got string/);
    expect(conn.pulled).toBe(0);
  });

  it("is the channel's one iteration", async () => {
    const channel = framed(new ScriptedConnection(), lengthPrefixed());
    await channel.forEach(() => {});
    await expect(channel.forEach(() => {})).rejects.toThrow(/only once/);
    await expect(channel[Symbol.asyncIterator]().next()).rejects.toThrow(/only once/);
    const other = framed(new ScriptedConnection(), lengthPrefixed());
    for await (const _ of other.batches());
    await expect(other.forEach(() => {})).rejects.toThrow(/only once/);
  });
});

describe("framed() batch sizing", () => {
  it("sends the bytes intact when a tick's remainder is larger than the previous tick's", async () => {
    const conn = new ScriptedConnection();
    const codec = lengthPrefixed();
    const channel = framed(conn, codec);
    // A first tick of ~68 KB leaves a small remainder past the first 64 KiB batch; in the second the
    // remainder starts (after 963 frames fill a batch) with a frame larger than that: its batch must be made large enough.
    const first = Array.from({ length: 1000 }, (_, i) => patternBytes(64, i));
    await Promise.all(first.map((p) => channel.send(p)));
    const second = [...Array.from({ length: 963 }, (_, i) => patternBytes(64, i + 7)), patternBytes(20_000, 3), patternBytes(64, 9)];
    await Promise.all(second.map((p) => channel.send(p)));
    expect(firstDifference(concat(conn.writes), wireOf(codec, [...first, ...second]))).toBe(-1);
    for (const w of conn.writes) expect(w.length).toBeLessThanOrEqual(64 * 1024);
  });
});

describe(`framed().forEach() over a socket (${runtime})`, () => {
  it("receives 20,000 small frames sent in one burst, then resolves when the sender closes", async () => {
    const frames = Array.from({ length: 20_000 }, (_, i) => patternBytes(1 + (i % 64), i));
    let settle!: { resolve: (got: Uint8Array[]) => void; reject: (error: unknown) => void };
    const received = new Promise<Uint8Array[]>((resolve, reject) => (settle = { resolve, reject }));
    await using server = await listen({ hostname: "127.0.0.1", port: 0 }, async (conn) => {
      const got: Uint8Array[] = [];
      await framed(conn, lengthPrefixed())
        .forEach((frame) => {
          got.push(new Uint8Array(frame));
        })
        .then(() => settle.resolve(got), settle.reject);
    });
    const channel = framed(await connect({ hostname: "127.0.0.1", port: portOf(server.address) }), lengthPrefixed());
    await Promise.all(frames.map((f) => channel.send(f)));
    await channel.close();
    const got = await received;
    expect(got.map((f) => f.length)).toEqual(frames.map((f) => f.length));
    expect(firstDifference(concat(got), concat(frames))).toBe(-1);
  });
});
