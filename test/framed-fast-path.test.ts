// The small-message fast path: codecs encoding straight into framed()'s batch (encodeInto), and batches() on receive.
import { describe, expect, it } from "vitest";
import type { Codec } from "../src/framing/codec.ts";
import { delimited } from "../src/framing/delimited.ts";
import type { ByteConnection } from "../src/framing/byte-connection.ts";
import { framed } from "../src/framing/framed.ts";
import { FramingError } from "../src/framing/framing-error.ts";
import { lengthPrefixed, type LengthPrefixedOptions } from "../src/framing/length-prefixed.ts";

/** Records writes; yields the chunks it is given, then ends (or fails with `error`). */
class ScriptedConnection implements ByteConnection {
  readonly writes: Uint8Array[] = [];
  destroyedWith: Error | undefined;
  readonly closed: Promise<void> = Promise.resolve();
  readonly #chunks: Uint8Array[];

  constructor(chunks: Uint8Array[] = []) {
    this.#chunks = chunks;
  }

  write(data: Uint8Array): Promise<void> {
    this.writes.push(data.slice());
    return Promise.resolve();
  }

  [Symbol.asyncIterator](): AsyncIterator<Uint8Array> {
    const chunks = this.#chunks;
    return {
      next: async () => (chunks.length > 0 ? { value: chunks.shift()!, done: false } : { value: undefined, done: true }),
      return: async () => ({ value: undefined, done: true }),
    };
  }

  destroy(error?: Error): void {
    this.destroyedWith = error;
  }

  close(): Promise<void> {
    return Promise.resolve();
  }
}

function concat(parts: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

function encoded(codec: Codec<Uint8Array>, payload: Uint8Array): Uint8Array {
  const parts = codec.encode(payload);
  return parts instanceof Uint8Array ? parts : concat(parts);
}

function payloadOf(length: number, seed: number): Uint8Array {
  return Uint8Array.from({ length }, (_, i) => (seed * 31 + i) & 0xff);
}

describe("lengthPrefixed().encodeInto", () => {
  const formats: LengthPrefixedOptions[] = [
    {},
    { lengthBytes: 1 },
    { lengthBytes: 2, byteOrder: "little" },
    { lengthBytes: 3 },
    { lengthBytes: 4, byteOrder: "little", lengthAdjustment: 2 },
    { lengthBytes: 8 },
  ];

  it.each(formats)("writes exactly what encode() returns, at the offset (%o)", (options) => {
    const codec = lengthPrefixed(options);
    for (const length of [2, 3, 100, 250]) {
      const payload = payloadOf(length, length);
      const expected = encoded(codec, payload);
      const target = new Uint8Array(expected.length + 10).fill(0xee);
      expect(codec.encodeInto!(payload, target, 7)).toBe(expected.length);
      expect(target.subarray(7, 7 + expected.length)).toEqual(expected);
      expect(target.subarray(0, 7).every((b) => b === 0xee)).toBe(true);
    }
  });

  it("returns -1 and writes nothing when the frame does not fit", () => {
    const codec = lengthPrefixed();
    const target = new Uint8Array(10).fill(0xee);
    expect(codec.encodeInto!(payloadOf(7, 1), target, 0)).toBe(-1);
    expect(codec.encodeInto!(payloadOf(3, 1), target, 4)).toBe(-1);
    expect(target.every((b) => b === 0xee)).toBe(true);
    expect(codec.encodeInto!(payloadOf(6, 1), target, 0)).toBe(10);
  });

  it("refuses what encode() refuses, with the same error", () => {
    const codec = lengthPrefixed({ maxFrameLength: 8 });
    const target = new Uint8Array(64);
    expect(() => codec.encodeInto!(new Uint8Array(9), target, 0)).toThrow(FramingError);
    expect(() => lengthPrefixed({ lengthBytes: 1 }).encodeInto!(new Uint8Array(256), target, 0)).toThrow(/does not fit a 1-byte length field/);
  });
});

describe("delimited().encodeInto", () => {
  it("writes exactly what encode() returns, and refuses what encode() refuses", () => {
    const codec = delimited({ delimiter: "\r\n" });
    const payload = new TextEncoder().encode("PING");
    const target = new Uint8Array(16).fill(0xee);
    expect(codec.encodeInto!(payload, target, 3)).toBe(6);
    expect(target.subarray(3, 9)).toEqual(encoded(codec, payload));
    expect(codec.encodeInto!(payload, target, 11)).toBe(-1);
    expect(() => codec.encodeInto!(new TextEncoder().encode("a\r\nb"), target, 0)).toThrow(FramingError);
  });
});

describe("framed() with a codec that encodes into the batch", () => {
  it("sends a tick's frames as one write, byte for byte what encode() gives, across batch growth", async () => {
    const conn = new ScriptedConnection();
    const codec = lengthPrefixed();
    const channel = framed(conn, codec);
    // 3,000 frames of 1..100 bytes (~150 KiB) in one tick: the batch grows from 1 KiB and splits at 64 KiB.
    const payloads = Array.from({ length: 3000 }, (_, i) => payloadOf(1 + (i % 100), i));
    await Promise.all(payloads.map((p) => channel.send(p)));
    expect(concat(conn.writes)).toEqual(concat(payloads.map((p) => encoded(codec, p))));
    for (const w of conn.writes) expect(w.length).toBeLessThanOrEqual(64 * 1024);
    expect(conn.writes.length).toBeLessThanOrEqual(3);
  });

  it("copies a frame at send(): changing the payload afterwards does not change what goes out", async () => {
    const conn = new ScriptedConnection();
    const channel = framed(conn, lengthPrefixed());
    const payload = Uint8Array.of(1, 2, 3);
    const sent = channel.send(payload);
    payload[0] = 9;
    await sent;
    expect(conn.writes).toEqual([Uint8Array.of(0, 0, 0, 3, 1, 2, 3)]);
  });

  it("rejects only the frame that cannot be encoded; the others go out", async () => {
    const conn = new ScriptedConnection();
    const channel = framed(conn, lengthPrefixed({ maxFrameLength: 4 }));
    const results = await Promise.allSettled([channel.send(Uint8Array.of(1)), channel.send(new Uint8Array(5)), channel.send(Uint8Array.of(2))]);
    expect(results.map((r) => r.status)).toEqual(["fulfilled", "rejected", "fulfilled"]);
    expect(conn.writes).toEqual([Uint8Array.of(0, 0, 0, 1, 1, 0, 0, 0, 1, 2)]);
  });
});

describe("framed().batches()", () => {
  it("yields the frames of each chunk as one array", async () => {
    const codec = lengthPrefixed();
    const frames = Array.from({ length: 50 }, (_, i) => payloadOf(1 + i, i));
    const wire = concat(frames.map((f) => encoded(codec, f)));
    // Three chunks, cut inside frames.
    const conn = new ScriptedConnection([wire.subarray(0, 100), wire.subarray(100, 1000), wire.subarray(1000)]);
    const received: Uint8Array[][] = [];
    for await (const batch of framed(conn, codec).batches()) received.push(batch);
    expect(received.length).toBeLessThanOrEqual(3);
    expect(received.flat()).toEqual(frames);
  });

  it("throws the framing error after the frames decoded before it", async () => {
    const codec = lengthPrefixed({ maxFrameLength: 4 });
    const good = encoded(codec, Uint8Array.of(7));
    const conn = new ScriptedConnection([concat([good, Uint8Array.of(0, 0, 0, 9)])]);
    const received: Uint8Array[] = [];
    await expect(
      (async () => {
        for await (const batch of framed(conn, codec).batches()) received.push(...batch);
      })(),
    ).rejects.toThrow(FramingError);
    expect(received).toEqual([Uint8Array.of(7)]);
    expect(conn.destroyedWith).toBeInstanceOf(FramingError);
  });

  it("is the channel's one iteration", async () => {
    const channel = framed(new ScriptedConnection(), lengthPrefixed());
    for await (const _ of channel.batches());
    await expect(channel[Symbol.asyncIterator]().next()).rejects.toThrow(/only once/);
    await expect(channel.batches()[Symbol.asyncIterator]().next()).rejects.toThrow(/only once/);
  });
});
