/**
 * RESP2, the Redis serialization protocol: simple strings, errors, integers,
 * bulk strings and arrays (null and nested included).
 *
 * @module
 */

import type { Codec, FrameDecoder } from "./codec.ts";
import { invalidOption } from "../errors.ts";
import { checkKnownKeys } from "../options.ts";
import { FramingError } from "./framing-error.ts";
import { PartialFrame } from "./partial-frame.ts";

/**
 * An error reply (`-ERR unknown command`). It is a reply, not a failure of
 * the connection: the decoder yields it like any other value.
 *
 * @example
 * ```ts
 * import { RespError } from "wireline";
 * const reply = new RespError("WRONGTYPE Operation against a key holding the wrong kind of value");
 * console.log(reply.prefix); // "WRONGTYPE"
 * ```
 */
export class RespError extends Error {
  /** The first word, by convention the error kind: `ERR`, `WRONGTYPE`, `MOVED`… */
  readonly prefix: string;

  constructor(message: string) {
    super(message);
    this.name = "RespError";
    const space = message.indexOf(" ");
    this.prefix = space < 0 ? message : message.slice(0, space);
  }
}

/**
 * A simple string to encode (`+OK`), as a server sends it. Decoded simple
 * strings are plain `string`s; a plain string is encoded as a bulk string,
 * which is what commands need.
 *
 * @example
 * ```ts
 * import { resp, RespSimpleString } from "wireline";
 * resp().encode(new RespSimpleString("OK")); // +OK\r\n
 * ```
 */
export class RespSimpleString {
  readonly value: string;

  constructor(value: string) {
    this.value = value;
  }
}

/**
 * A RESP2 value. Decoding yields: `string` for a simple string, {@link RespError}
 * for an error, `number` for an integer (`bigint` beyond ±2^53 - 1),
 * `Uint8Array` for a bulk string, `null` for a null bulk string or null
 * array, and an array for an array. Encoding takes the same, plus `string`
 * (sent as a UTF-8 bulk string) and {@link RespSimpleString}.
 *
 * @example
 * ```ts
 * import type { RespValue } from "wireline";
 * const command: RespValue = ["SET", "greeting", new TextEncoder().encode("hello")];
 * ```
 */
export type RespValue = string | number | bigint | Uint8Array | RespError | RespSimpleString | null | readonly RespValue[];

/** Options of {@link resp}. */
export interface RespOptions {
  /** Largest value, in bytes on the wire, nested values included. Default 64 MiB. */
  readonly maxFrameLength?: number;
  /** Deepest nesting of arrays. Default 64. */
  readonly maxDepth?: number;
}

/**
 * Default {@link RespOptions.maxFrameLength}: 64 MiB.
 *
 * @example
 * ```ts
 * import { resp } from "wireline";
 * const codec = resp({ maxFrameLength: 1024 * 1024 }); // default 64 MiB
 * ```
 */
export const DEFAULT_MAX_RESP_LENGTH: number = 64 * 1024 * 1024;
/**
 * Default {@link RespOptions.maxDepth}: 64.
 *
 * @example
 * ```ts
 * import { resp } from "wireline";
 * const codec = resp({ maxDepth: 8 }); // default 64
 * ```
 */
export const DEFAULT_MAX_RESP_DEPTH: number = 64;

/** A bulk string at least this long is written from the caller's array, not copied. */
const LARGE_BULK = 4096;
const CR = 13;
const LF = 10;
/** The shortest value on the wire, `+\r\n`: an array announcing n elements needs at least 3n more bytes. */
const MIN_VALUE_BYTES = 3;

const utf8 = new TextEncoder();
const text = new TextDecoder();

/**
 * A codec for RESP2. A decoded value is emitted once whole, however the
 * stream is cut; a bulk string that lies inside one received chunk is a view
 * into it. The decoder holds at most `maxFrameLength` bytes of a value in
 * progress and throws `ERR_FRAME_TOO_LARGE` as soon as an announced length or
 * element count cannot fit, before buffering it; it throws
 * `ERR_FRAME_MALFORMED` on an unknown type byte (RESP3 types included), a bad
 * number, a missing CRLF or nesting deeper than `maxDepth`. Encoding a
 * simple string or error containing CR or LF, a non-integer number, or a
 * value of another type throws `ERR_FRAME_MALFORMED`.
 *
 * @example
 * ```ts
 * import { framed, resp } from "wireline";
 * const redis = framed(await connect("127.0.0.1:6379"), resp());
 * await redis.send(["SET", "greeting", "hello"]);
 * for await (const reply of redis) console.log(reply); // "OK"
 * ```
 */
export function resp(options: RespOptions = {}): Codec<RespValue> {
  if (options === null || typeof options !== "object") throw invalidOption("options", options, "an object");
  checkKnownKeys(options, ["maxFrameLength", "maxDepth"]);
  const maxFrameLength = options.maxFrameLength ?? DEFAULT_MAX_RESP_LENGTH;
  const maxDepth = options.maxDepth ?? DEFAULT_MAX_RESP_DEPTH;
  if (!Number.isSafeInteger(maxFrameLength) || maxFrameLength < MIN_VALUE_BYTES) {
    throw invalidOption("maxFrameLength", maxFrameLength, `a safe integer ≥ ${MIN_VALUE_BYTES}`);
  }
  if (!Number.isSafeInteger(maxDepth) || maxDepth < 0) throw invalidOption("maxDepth", maxDepth, "a non-negative safe integer");
  const limits: Limits = { maxFrameLength, maxDepth };
  return {
    encode(value: RespValue): Uint8Array | readonly Uint8Array[] {
      const writer = new Writer(maxFrameLength);
      writeValue(writer, value, 0, maxDepth);
      return writer.finish();
    },
    createDecoder(): FrameDecoder<RespValue> {
      return new RespDecoder(limits);
    },
  };
}

interface Limits {
  readonly maxFrameLength: number;
  readonly maxDepth: number;
}

// ---- encoding ----

/** Gathers the encoded parts: small ones copied into one growing buffer, large bulk payloads kept as they are. */
class Writer {
  readonly #max: number;
  readonly #parts: Uint8Array[] = [];
  #buffer = new Uint8Array(64);
  #fill = 0;
  #total = 0;

  constructor(max: number) {
    this.#max = max;
  }

  ascii(s: string): void {
    this.#grow(s.length);
    const buffer = this.#buffer;
    let at = this.#fill;
    for (let i = 0; i < s.length; i++) buffer[at++] = s.charCodeAt(i);
    this.#fill = at;
  }

  bytes(data: Uint8Array): void {
    if (data.length >= LARGE_BULK) {
      this.#count(data.length);
      this.#flush();
      this.#parts.push(data);
      return;
    }
    this.#grow(data.length);
    this.#buffer.set(data, this.#fill);
    this.#fill += data.length;
  }

  finish(): Uint8Array | Uint8Array[] {
    if (this.#parts.length === 0) return this.#buffer.subarray(0, this.#fill);
    this.#flush();
    return this.#parts;
  }

  #count(n: number): void {
    this.#total += n;
    if (this.#total > this.#max) {
      throw new FramingError("ERR_FRAME_TOO_LARGE", `encoded value exceeds maxFrameLength ${this.#max}`);
    }
  }

  #grow(n: number): void {
    this.#count(n);
    if (this.#fill + n <= this.#buffer.length) return;
    const next = new Uint8Array(Math.max(this.#buffer.length * 2, this.#fill + n));
    next.set(this.#buffer.subarray(0, this.#fill));
    this.#buffer = next;
  }

  #flush(): void {
    if (this.#fill === 0) return;
    this.#parts.push(this.#buffer.subarray(0, this.#fill));
    // The rest of the buffer stays usable: later bytes go after the flushed ones.
    this.#buffer = this.#buffer.subarray(this.#fill);
    this.#fill = 0;
  }
}

function writeValue(writer: Writer, value: RespValue, depth: number, maxDepth: number): void {
  if (value === null) return writer.ascii("$-1\r\n");
  if (typeof value === "string") {
    // Command names and keys are mostly short ASCII: written straight in, without a TextEncoder array each.
    if (value.length < LARGE_BULK && isAscii(value)) {
      writer.ascii(`$${value.length}\r\n`);
      writer.ascii(value);
      return writer.ascii("\r\n");
    }
    const data = utf8.encode(value);
    writer.ascii(`$${data.length}\r\n`);
    writer.bytes(data);
    return writer.ascii("\r\n");
  }
  if (value instanceof Uint8Array) {
    writer.ascii(`$${value.length}\r\n`);
    writer.bytes(value);
    return writer.ascii("\r\n");
  }
  if (typeof value === "number") {
    if (!Number.isSafeInteger(value)) throw new FramingError("ERR_FRAME_MALFORMED", `RESP integers are whole numbers; got ${value}`);
    return writer.ascii(`:${value}\r\n`);
  }
  if (typeof value === "bigint") {
    if (value < -(2n ** 63n) || value >= 2n ** 63n) throw new FramingError("ERR_FRAME_MALFORMED", `RESP integers are 64-bit; got ${value}`);
    return writer.ascii(`:${value}\r\n`);
  }
  if (value instanceof RespSimpleString) return writeLine(writer, "+", value.value, "simple string");
  if (value instanceof RespError) return writeLine(writer, "-", value.message, "error");
  if (Array.isArray(value)) {
    if (depth >= maxDepth) throw new FramingError("ERR_FRAME_MALFORMED", `arrays nest deeper than maxDepth ${maxDepth}`);
    writer.ascii(`*${value.length}\r\n`);
    for (const item of value as readonly RespValue[]) writeValue(writer, item, depth + 1, maxDepth);
    return;
  }
  throw new FramingError("ERR_FRAME_MALFORMED", `cannot encode ${describeType(value)} as RESP`);
}

function isAscii(s: string): boolean {
  for (let i = 0; i < s.length; i++) if (s.charCodeAt(i) > 0x7f) return false;
  return true;
}

function writeLine(writer: Writer, type: string, line: string, what: string): void {
  if (line.includes("\r") || line.includes("\n")) throw new FramingError("ERR_FRAME_MALFORMED", `a RESP ${what} cannot contain CR or LF`);
  writer.ascii(type);
  writer.bytes(utf8.encode(line));
  writer.ascii("\r\n");
}

function describeType(value: unknown): string {
  if (value === undefined) return "undefined";
  if (typeof value === "object") return (value as object).constructor?.name ?? "an object";
  return typeof value;
}

// ---- decoding ----

/** An array whose elements are still arriving. */
interface OpenArray {
  readonly items: RespValue[];
  remaining: number;
}

/**
 * A resumable parser: the value in progress is kept as a stack of open
 * arrays, the header line or bulk payload being read, and the bytes of the
 * whole value so far, which the limit bounds.
 */
class RespDecoder implements FrameDecoder<RespValue> {
  readonly #limits: Limits;
  readonly #stack: OpenArray[] = [];
  /** A header line, or a bulk string and its CRLF, split across chunks; held in memory proportional to its bytes. */
  readonly #partial = new PartialFrame();
  /** Payload length of the bulk string being read (its CRLF excluded), or -1 while reading a header line. */
  #bulk = -1;
  /** Bytes of the value in progress, received so far. */
  #frameBytes = 0;
  #error: FramingError | undefined;

  constructor(limits: Limits) {
    this.#limits = limits;
  }

  get bufferedBytes(): number {
    return this.#frameBytes;
  }

  decode(chunk: Uint8Array, emit: (value: RespValue) => void): void {
    if (this.#error) throw this.#error;
    const n = chunk.length;
    let at = 0;
    while (at < n) {
      if (this.#bulk >= 0) {
        at = this.#readBulk(chunk, at, emit);
        continue;
      }
      const lf = chunk.indexOf(LF, at);
      if (lf < 0) {
        this.#count(n - at);
        this.#partial.append(chunk.subarray(at));
        return;
      }
      this.#count(lf + 1 - at);
      const held = this.#partial.length;
      const line = held === 0 ? chunk.subarray(at, lf + 1) : this.#partial.take(held + lf + 1 - at, chunk.subarray(at, lf + 1));
      at = lf + 1;
      this.#header(line, emit);
    }
  }

  finish(): void {
    if (this.#error) throw this.#error;
    if (this.#frameBytes > 0) this.#fail("ERR_FRAME_MALFORMED", `stream ended inside a RESP value (${this.#frameBytes} bytes received)`);
  }

  /** Reads bulk payload bytes from `chunk` at `at`; returns where it stopped. */
  #readBulk(chunk: Uint8Array, at: number, emit: (value: RespValue) => void): number {
    const length = this.#bulk;
    const got = this.#partial.length;
    const need = length + 2 - got;
    const available = chunk.length - at;
    if (available < need) {
      this.#count(available);
      this.#partial.append(chunk.subarray(at), length + 2);
      return chunk.length;
    }
    this.#count(need);
    const end = at + need;
    const payload = got === 0 ? chunk.subarray(at, end) : this.#partial.take(length + 2, chunk.subarray(at, end));
    this.#bulk = -1;
    if (payload[length] !== CR || payload[length + 1] !== LF) this.#fail("ERR_FRAME_MALFORMED", `bulk string of ${length} bytes is not followed by CRLF`);
    this.#complete(payload.subarray(0, length), emit);
    return end;
  }

  /** Parses one header line (CRLF included). */
  #header(line: Uint8Array, emit: (value: RespValue) => void): void {
    const end = line.length - 2;
    if (end < 0 || line[end] !== CR) this.#fail("ERR_FRAME_MALFORMED", "RESP line does not end with CRLF");
    const type = line[0]!;
    switch (type) {
      case 0x2b: // +
        return this.#complete(text.decode(line.subarray(1, end)), emit);
      case 0x2d: // -
        return this.#complete(new RespError(text.decode(line.subarray(1, end))), emit);
      case 0x3a: // :
        return this.#complete(this.#integer(line, end), emit);
      case 0x24: {
        // $
        const length = this.#length(line, end, "bulk string length");
        if (length < 0) return this.#complete(null, emit);
        if (this.#frameBytes + length + 2 > this.#limits.maxFrameLength) {
          this.#fail("ERR_FRAME_TOO_LARGE", `announced bulk string of ${length} bytes exceeds maxFrameLength ${this.#limits.maxFrameLength}`);
        }
        this.#bulk = length;
        return;
      }
      case 0x2a: {
        // *
        const count = this.#length(line, end, "array length");
        if (count < 0) return this.#complete(null, emit);
        if (count === 0) return this.#complete([], emit);
        if (this.#stack.length >= this.#limits.maxDepth) this.#fail("ERR_FRAME_MALFORMED", `arrays nest deeper than maxDepth ${this.#limits.maxDepth}`);
        if (this.#frameBytes + count * MIN_VALUE_BYTES > this.#limits.maxFrameLength) {
          this.#fail("ERR_FRAME_TOO_LARGE", `announced array of ${count} elements cannot fit maxFrameLength ${this.#limits.maxFrameLength}`);
        }
        this.#stack.push({ items: [], remaining: count });
        return;
      }
      default:
        this.#fail("ERR_FRAME_MALFORMED", `unknown RESP2 type byte 0x${type.toString(16).padStart(2, "0")}`);
    }
  }

  /** Hands a finished value to its array, or emits it when it is a whole top-level value. */
  #complete(value: RespValue, emit: (value: RespValue) => void): void {
    const stack = this.#stack;
    for (;;) {
      const top = stack[stack.length - 1];
      if (!top) {
        this.#frameBytes = 0;
        emit(value);
        return;
      }
      top.items.push(value);
      if (--top.remaining > 0) return;
      stack.pop();
      value = top.items;
    }
  }

  #integer(line: Uint8Array, end: number): number | bigint {
    const value = digitsValue(line, 1, end);
    if (value !== undefined) return value;
    const digits = text.decode(line.subarray(1, end));
    if (!/^-?[0-9]{16,19}$/.test(digits)) this.#fail("ERR_FRAME_MALFORMED", `invalid RESP integer ${JSON.stringify(digits.slice(0, 40))}`);
    const big = BigInt(digits);
    if (big < -(2n ** 63n) || big >= 2n ** 63n) this.#fail("ERR_FRAME_MALFORMED", `RESP integer ${digits} does not fit 64 bits`);
    return Number.isSafeInteger(Number(big)) ? Number(big) : big;
  }

  /** A length header: -1 (null) or a non-negative count. */
  #length(line: Uint8Array, end: number, what: string): number {
    const value = digitsValue(line, 1, end);
    if (value === undefined || value < -1 || (value === -1 && end !== 3)) {
      this.#fail("ERR_FRAME_MALFORMED", `invalid RESP ${what} ${JSON.stringify(text.decode(line.subarray(1, Math.min(end, 41))))}`);
    }
    return value;
  }

  #count(n: number): void {
    this.#frameBytes += n;
    if (this.#frameBytes > this.#limits.maxFrameLength) {
      this.#fail("ERR_FRAME_TOO_LARGE", `RESP value exceeds maxFrameLength ${this.#limits.maxFrameLength} bytes`);
    }
  }

  #fail(code: "ERR_FRAME_TOO_LARGE" | "ERR_FRAME_MALFORMED", message: string): never {
    this.#stack.length = 0;
    this.#partial.clear();
    this.#error = new FramingError(code, message);
    throw this.#error;
  }
}

/**
 * The integer written in `bytes[from, end)`: an optional minus sign, then 1
 * to 15 digits, always exact. Undefined for anything else, longer numbers
 * included, which the caller parses the slow way or refuses.
 */
function digitsValue(bytes: Uint8Array, from: number, end: number): number | undefined {
  let at = from;
  const negative = bytes[at] === 0x2d;
  if (negative) at++;
  const count = end - at;
  if (count < 1 || count > 15) return undefined;
  let value = 0;
  for (; at < end; at++) {
    const digit = bytes[at]! - 0x30;
    if (digit < 0 || digit > 9) return undefined;
    value = value * 10 + digit;
  }
  return negative ? -value : value;
}
