// The RESP2 codec on its own: round trips at random chunk boundaries, limits, garbage, wire format.
import { describe, expect, it } from "vitest";
import fc from "fast-check";
import type { Codec } from "../src/framing/codec.ts";
import { FramingError } from "../src/framing/framing-error.ts";
import { concat, cut } from "./helpers/bytes.ts";
import { resp, RespError, RespSimpleString, type RespValue } from "../src/framing/resp.ts";

const RUNS = { numRuns: 300 };
const utf8 = new TextEncoder();
const latin = new TextDecoder("latin1");


function encode(codec: Codec<RespValue>, value: RespValue): Uint8Array {
  const e = codec.encode(value);
  return e instanceof Uint8Array ? e : concat(e);
}

function wire(codec: Codec<RespValue>, value: RespValue): string {
  return latin.decode(encode(codec, value));
}


function decodeAll(codec: Codec<RespValue>, chunks: readonly Uint8Array[]): RespValue[] {
  const decoder = codec.createDecoder();
  const out: RespValue[] = [];
  for (const c of chunks) decoder.decode(c, (v) => out.push(v));
  decoder.finish();
  return out;
}

function thrown(fn: () => unknown): FramingError {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(FramingError);
    return error as FramingError;
  }
  throw new Error("expected a throw");
}

/** What decoding `value` must give back: simple strings come back as strings, strings sent as bulk come back as bytes. */
function decodedForm(value: RespValue): RespValue {
  if (value instanceof RespSimpleString) return value.value;
  if (typeof value === "string") return utf8.encode(value);
  if (Array.isArray(value)) return (value as readonly RespValue[]).map(decodedForm);
  return value;
}

/** Comparable form: bytes as arrays, errors as tagged messages. */
function plain(value: RespValue): unknown {
  if (value instanceof Uint8Array) return { bytes: Array.from(value) };
  if (value instanceof RespError) return { error: value.message };
  if (typeof value === "bigint") return { big: String(value) };
  if (Array.isArray(value)) return (value as readonly RespValue[]).map(plain);
  return value;
}

const lineText = fc.string({ maxLength: 20 }).filter((s) => !s.includes("\r") && !s.includes("\n"));
const leaf: fc.Arbitrary<RespValue> = fc.oneof(
  lineText.map((s) => new RespSimpleString(s)),
  lineText.map((s) => new RespError(s)),
  fc.integer({ min: -1_000_000, max: 1_000_000 }),
  fc.maxSafeInteger(),
  fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n }).filter((b) => b > BigInt(Number.MAX_SAFE_INTEGER) || b < BigInt(Number.MIN_SAFE_INTEGER)),
  fc.uint8Array({ maxLength: 40 }),
  fc.string({ maxLength: 20 }),
  fc.constant(null),
);
const value: fc.Arbitrary<RespValue> = fc.letrec<{ value: RespValue }>((tie) => ({
  value: fc.oneof({ depthSize: "small", withCrossShrink: true }, leaf, fc.array(tie("value"), { maxLength: 5 })),
})).value;
const cutPoints = fc.array(fc.nat({ max: 100_000 }), { maxLength: 40 });

describe("resp codec", () => {
  it("round-trips random nested values cut at random boundaries", () => {
    const codec = resp();
    fc.assert(
      fc.property(fc.array(value, { maxLength: 8 }), cutPoints, (values, points) => {
        const bytes = concat(values.map((v) => encode(codec, v)));
        const decoded = decodeAll(codec, cut(bytes, points));
        expect(decoded.map(plain)).toEqual(values.map((v) => plain(decodedForm(v))));
      }),
      RUNS,
    );
  });

  it("writes the RESP2 wire format", () => {
    const codec = resp();
    expect(wire(codec, ["SET", "k", utf8.encode("v")])).toBe("*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1\r\nv\r\n");
    expect(wire(codec, new RespSimpleString("OK"))).toBe("+OK\r\n");
    expect(wire(codec, new RespError("ERR nope"))).toBe("-ERR nope\r\n");
    expect(wire(codec, -42)).toBe(":-42\r\n");
    expect(wire(codec, 2n ** 62n)).toBe(`:${2n ** 62n}\r\n`);
    expect(wire(codec, null)).toBe("$-1\r\n");
    expect(wire(codec, [])).toBe("*0\r\n");
    expect(wire(codec, "é")).toBe("$2\r\n\xc3\xa9\r\n");
  });

  it("decodes every RESP2 type, null bulk and null array included", () => {
    const input = "+OK\r\n-WRONGTYPE bad\r\n:-7\r\n:9223372036854775807\r\n$5\r\nhe\r\no\r\n$0\r\n\r\n$-1\r\n*-1\r\n*2\r\n*1\r\n:1\r\n*0\r\n";
    const out = decodeAll(resp(), [utf8.encode(input)]);
    expect(out.map(plain)).toEqual([
      "OK",
      { error: "WRONGTYPE bad" },
      -7,
      { big: "9223372036854775807" },
      { bytes: Array.from(utf8.encode("he\r\no")) },
      { bytes: [] },
      null,
      null,
      [[1], []],
    ]);
    expect((out[1] as RespError).prefix).toBe("WRONGTYPE");
    expect(out[1]).toBeInstanceOf(Error);
  });

  it("emits a bulk string inside one chunk as a view of it, without copying", () => {
    const chunk = utf8.encode("$3\r\nabc\r\n");
    const out: RespValue[] = [];
    resp().createDecoder().decode(chunk, (v) => out.push(v));
    expect((out[0] as Uint8Array).buffer).toBe(chunk.buffer);
  });

  it("keeps a large bulk payload as its own part when encoding, without copying", () => {
    const payload = new Uint8Array(100_000).fill(7);
    const parts = resp().encode(["SET", "k", payload]) as readonly Uint8Array[];
    expect(parts.some((p) => p === payload)).toBe(true);
  });

  it("rejects garbage as malformed or too large, never buffering beyond the limit", () => {
    const maxFrameLength = 64;
    const codec = resp({ maxFrameLength, maxDepth: 4 });
    const alphabet = fc.constantFrom(..."+-:$*\r\n0123456789-abc_%,#".split("").map((c) => c.charCodeAt(0)));
    fc.assert(
      fc.property(fc.array(fc.array(alphabet, { maxLength: 30 }).map((a) => Uint8Array.from(a)), { maxLength: 20 }), (chunks) => {
        const decoder = codec.createDecoder();
        try {
          for (const c of chunks) {
            decoder.decode(c, () => {});
            expect(decoder.bufferedBytes).toBeLessThanOrEqual(maxFrameLength);
          }
          decoder.finish();
        } catch (error) {
          expect(error).toBeInstanceOf(FramingError);
          expect(["ERR_FRAME_MALFORMED", "ERR_FRAME_TOO_LARGE"]).toContain((error as FramingError).code);
          // Spent: the same error again.
          expect(() => decoder.decode(Uint8Array.of(0x2b), () => {})).toThrow(error as Error);
        }
      }),
      { numRuns: 500 },
    );
  });

  it("fails an oversize announcement from the header alone, before the payload arrives", () => {
    const codec = resp({ maxFrameLength: 1000 });
    expect(thrown(() => codec.createDecoder().decode(utf8.encode("$1000\r\n"), () => {})).code).toBe("ERR_FRAME_TOO_LARGE");
    expect(thrown(() => codec.createDecoder().decode(utf8.encode("*400\r\n"), () => {})).code).toBe("ERR_FRAME_TOO_LARGE");
    expect(thrown(() => codec.createDecoder().decode(utf8.encode("$99999999999999999999\r\n"), () => {})).code).toBe("ERR_FRAME_MALFORMED");
    // Byte by byte: the count is checked as soon as its line ends.
    const decoder = codec.createDecoder();
    for (const b of utf8.encode("*2\r\n$99")) decoder.decode(Uint8Array.of(b), () => {});
    expect(thrown(() => decoder.decode(utf8.encode("9\r\n"), () => {})).code).toBe("ERR_FRAME_TOO_LARGE");
  });

  it("holds a value arriving one byte at a time, emitting it once whole", () => {
    const codec = resp();
    const bytes = encode(codec, ["RPUSH", "list", utf8.encode("x".repeat(5000)), [1, null]]);
    const decoder = codec.createDecoder();
    const out: RespValue[] = [];
    for (let i = 0; i < bytes.length; i++) {
      decoder.decode(bytes.subarray(i, i + 1), (v) => out.push(v));
      if (i < bytes.length - 1) expect(decoder.bufferedBytes).toBe(i + 1);
    }
    expect(decoder.bufferedBytes).toBe(0);
    expect(out).toHaveLength(1);
    expect(((out[0] as RespValue[])[2] as Uint8Array).length).toBe(5000);
  });

  it("rejects malformed input: unknown type byte, bad numbers, missing CRLF, nesting too deep", () => {
    const bad = ["%1\r\n", "_\r\n", ":12a\r\n", ":\r\n", "$-2\r\n", "$3\r\nabcde", "+OK\n", "*1\r\n*1\r\n*1\r\n:1\r\n"];
    for (const input of bad) {
      const codec = resp({ maxDepth: 2 });
      expect(thrown(() => decodeAll(codec, [utf8.encode(input)])).code, input).toBe("ERR_FRAME_MALFORMED");
    }
  });

  it("reports a value cut off by end of stream as malformed", () => {
    for (const input of ["+OK", "$3\r\nab", "*2\r\n:1\r\n"]) {
      expect(thrown(() => decodeAll(resp(), [utf8.encode(input)])).code).toBe("ERR_FRAME_MALFORMED");
    }
  });

  it("refuses to encode what RESP2 cannot carry", () => {
    const codec = resp({ maxFrameLength: 100, maxDepth: 2 });
    expect(thrown(() => codec.encode(new RespSimpleString("a\r\nb"))).code).toBe("ERR_FRAME_MALFORMED");
    expect(thrown(() => codec.encode(new RespError("a\nb"))).code).toBe("ERR_FRAME_MALFORMED");
    expect(thrown(() => codec.encode(1.5)).code).toBe("ERR_FRAME_MALFORMED");
    expect(thrown(() => codec.encode(2n ** 64n)).code).toBe("ERR_FRAME_MALFORMED");
    expect(thrown(() => codec.encode(undefined as unknown as RespValue)).code).toBe("ERR_FRAME_MALFORMED");
    expect(thrown(() => codec.encode({} as unknown as RespValue)).code).toBe("ERR_FRAME_MALFORMED");
    expect(thrown(() => codec.encode([[[1]]])).code).toBe("ERR_FRAME_MALFORMED");
    expect(thrown(() => codec.encode("x".repeat(200))).code).toBe("ERR_FRAME_TOO_LARGE");
  });

  it("validates its options", () => {
    expect(() => resp({ maxFrameLength: -1 })).toThrow(/maxFrameLength/);
    expect(() => resp({ maxDepth: 1.5 })).toThrow(/maxDepth/);
    expect(() => resp({ maxLength: 10 } as never)).toThrow(/unknown option "maxLength"/);
  });
});
