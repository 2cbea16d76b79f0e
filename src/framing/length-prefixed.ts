/**
 * Frames carried as a length field followed by that many bytes, after Netty's
 * LengthFieldBasedFrameDecoder and LengthFieldPrepender.
 *
 * @module
 */

import type { Codec, FrameDecoder } from "./codec.ts";
import { invalidOption } from "../errors.ts";
import { FramingError } from "./framing-error.ts";
import { PartialFrame } from "./partial-frame.ts";

/** Options of {@link lengthPrefixed}. */
export interface LengthPrefixedOptions {
  /** Size of the length field in bytes. Default 4. */
  readonly lengthBytes?: 1 | 2 | 3 | 4 | 8;
  /** Byte order of the length field. Default "big" (network order). */
  readonly byteOrder?: "big" | "little";
  /**
   * Added to the length field to get the payload length (Netty's meaning).
   * When the field counts the header too, use `-lengthBytes`. Default 0.
   */
  readonly lengthAdjustment?: number;
  /** Largest payload, header excluded, in bytes. Default 16 MiB. */
  readonly maxFrameLength?: number;
}

/**
 * Default {@link LengthPrefixedOptions.maxFrameLength}: 16 MiB.
 *
 * @example
 * ```ts
 * import { lengthPrefixed } from "wireline";
 * const codec = lengthPrefixed({ maxFrameLength: 1024 * 1024 }); // default 16 MiB
 * ```
 */
export const DEFAULT_MAX_FRAME_LENGTH: number = 16 * 1024 * 1024;

/**
 * A codec for length-prefixed binary frames. Decoded frames are views into the
 * received chunk when the frame lies inside one chunk, otherwise one new
 * array. A frame that arrives slowly is held in memory proportional to the
 * bytes received so far, never to the announced length, so a peer cannot
 * make the decoder allocate by announcing a large frame.
 *
 * Oversize frames fail fast: the decoder throws `ERR_FRAME_TOO_LARGE` as soon
 * as it has read the length field, without buffering the payload. Encoding a
 * payload over `maxFrameLength`, or too long for the field, throws the same.
 *
 * @example
 * ```ts
 * import { framed, lengthPrefixed } from "wireline";
 * // 2-byte little-endian length that counts itself.
 * const codec = lengthPrefixed({ lengthBytes: 2, byteOrder: "little", lengthAdjustment: -2 });
 * const channel = framed(conn, codec);
 * await channel.send(new Uint8Array([1, 2, 3])); // on the wire: 05 00 01 02 03
 * for await (const frame of channel) console.log(frame.length);
 * ```
 */
export function lengthPrefixed(options: LengthPrefixedOptions = {}): Codec<Uint8Array> {
  const lengthBytes = options.lengthBytes ?? 4;
  const byteOrder = options.byteOrder ?? "big";
  const adjustment = options.lengthAdjustment ?? 0;
  const maxFrameLength = options.maxFrameLength ?? DEFAULT_MAX_FRAME_LENGTH;
  if (![1, 2, 3, 4, 8].includes(lengthBytes)) {
    throw invalidOption("lengthBytes", lengthBytes, "1, 2, 3, 4 or 8");
  }
  if (byteOrder !== "big" && byteOrder !== "little") {
    throw invalidOption("byteOrder", byteOrder, '"big" or "little"');
  }
  if (!Number.isSafeInteger(adjustment)) {
    throw invalidOption("lengthAdjustment", adjustment, "a safe integer");
  }
  if (!Number.isSafeInteger(maxFrameLength) || maxFrameLength < 0) {
    throw invalidOption("maxFrameLength", maxFrameLength, "a non-negative safe integer");
  }
  const format: Format = { lengthBytes, little: byteOrder === "little", adjustment, maxFrameLength };
  // 2 ** 64 - 1 is not a safe integer; the 8-byte field is then limited by maxFrameLength alone.
  const fieldMax = lengthBytes === 8 ? Number.MAX_SAFE_INTEGER : 2 ** (8 * lengthBytes) - 1;

  /** The length field of `payload`, or a FramingError if it cannot be sent. */
  const fieldOf = (payload: Uint8Array): number => {
    if (payload.length > maxFrameLength) {
      throw new FramingError("ERR_FRAME_TOO_LARGE", `frame of ${payload.length} bytes exceeds maxFrameLength ${maxFrameLength}`);
    }
    const field = payload.length - adjustment;
    if (field < 0) {
      throw new FramingError("ERR_FRAME_MALFORMED", `frame of ${payload.length} bytes is shorter than lengthAdjustment ${adjustment} allows`);
    }
    if (field > fieldMax) {
      throw new FramingError("ERR_FRAME_TOO_LARGE", `frame of ${payload.length} bytes does not fit a ${lengthBytes}-byte length field`);
    }
    return field;
  };

  // Header and payload straight into the caller's buffer: no allocation per frame.
  const encodeInto = (payload: Uint8Array, target: Uint8Array, offset: number): number => {
    const field = fieldOf(payload);
    const size = lengthBytes + payload.length;
    if (offset + size > target.length) return -1;
    writeLength(target, field, format, offset);
    target.set(payload, offset + lengthBytes);
    return size;
  };
  // The default format, with no per-frame branching on the format: it carries the small-message hot path.
  const limit = Math.min(maxFrameLength, fieldMax);
  const encodeIntoDefault = (payload: Uint8Array, target: Uint8Array, offset: number): number => {
    if (payload.length > limit) fieldOf(payload); // throws the error that names the limit
    return putDefaultFrame(payload, target, offset);
  };

  return {
    encode(payload: Uint8Array): readonly Uint8Array[] {
      const header = new Uint8Array(lengthBytes);
      writeLength(header, fieldOf(payload), format);
      return [header, payload];
    },
    encodeInto:
      lengthBytes === 4 && !format.little && adjustment === 0
        ? maxFrameLength === DEFAULT_MAX_FRAME_LENGTH
          ? encodeIntoWithDefaults
          : encodeIntoDefault
        : encodeInto,
    createDecoder(): FrameDecoder<Uint8Array> {
      return new LengthPrefixedDecoder(format);
    },
  };
}

/**
 * `encodeInto` of every codec made with the default options: one function
 * for all of them, where a closure per codec would be one per connection,
 * and a call site that serves many connections would see many callees
 * (JavaScriptCore then stops inlining it).
 */
function encodeIntoWithDefaults(payload: Uint8Array, target: Uint8Array, offset: number): number {
  if (payload.length > DEFAULT_MAX_FRAME_LENGTH) {
    throw new FramingError("ERR_FRAME_TOO_LARGE", `frame of ${payload.length} bytes exceeds maxFrameLength ${DEFAULT_MAX_FRAME_LENGTH}`);
  }
  return putDefaultFrame(payload, target, offset);
}

/** Writes a 4-byte big-endian length and the payload at `offset`, or returns -1 when they do not fit. */
function putDefaultFrame(payload: Uint8Array, target: Uint8Array, offset: number): number {
  const length = payload.length;
  const size = 4 + length;
  if (offset + size > target.length) return -1;
  target[offset] = length >>> 24;
  target[offset + 1] = (length >>> 16) & 0xff;
  target[offset + 2] = (length >>> 8) & 0xff;
  target[offset + 3] = length & 0xff;
  target.set(payload, offset + 4);
  return size;
}

interface Format {
  readonly lengthBytes: number;
  readonly little: boolean;
  readonly adjustment: number;
  readonly maxFrameLength: number;
}

class LengthPrefixedDecoder implements FrameDecoder<Uint8Array> {
  readonly #format: Format;
  // A header split across chunks is gathered here; one that lies in a chunk is read in place.
  readonly #header: Uint8Array;
  #headerFill = 0;
  /** Payload length of the frame in progress, or -1 while reading its header. */
  #need = -1;
  // A payload split across chunks, held in memory proportional to the bytes received.
  readonly #partial = new PartialFrame();
  #error: FramingError | undefined;

  constructor(format: Format) {
    this.#format = format;
    this.#header = new Uint8Array(format.lengthBytes);
  }

  get bufferedBytes(): number {
    return this.#headerFill + this.#partial.length;
  }

  /** Arrays the partial frame is held in; for tests of memory use. */
  get bufferedParts(): number {
    return this.#partial.partCount;
  }

  decode(chunk: Uint8Array, emit: (frame: Uint8Array) => void): void {
    if (this.#error) throw this.#error;
    const n = chunk.length;
    const format = this.#format;
    const headerLength = format.lengthBytes;
    // A chunk rarely ends on a frame boundary, so nearly every chunk starts by finishing a carried frame.
    let at = this.#need >= 0 || this.#headerFill > 0 ? this.#step(chunk, 0, emit) : 0;
    // The frames that lie whole in the chunk: read in place, no state written per frame. Each is a view made
    // with the Uint8Array constructor, not subarray(): on V8 that is a fraction of the cost (a Node Buffer's
    // subarray() is JavaScript that builds a Buffer), and frames are plain Uint8Arrays on every runtime.
    const { adjustment, maxFrameLength } = format;
    const default4 = headerLength === 4 && !format.little;
    const buffer = chunk.buffer;
    const base = chunk.byteOffset;
    while (n - at >= headerLength) {
      const field = default4 ? ((chunk[at]! << 24) | (chunk[at + 1]! << 16) | (chunk[at + 2]! << 8) | chunk[at + 3]!) >>> 0 : readLength(chunk, at, format);
      const need = field + adjustment;
      // Out of range (an unsafe 8-byte field lands here too): the checks that name the problem, and throw.
      if (need < 0 || need > maxFrameLength) this.#payloadLength(field);
      if (n - at - headerLength < need) break;
      at += headerLength;
      emit(new Uint8Array(buffer, base + at, need));
      at += need;
    }
    // The frame cut by the chunk's end is carried over.
    while (at < n) at = this.#step(chunk, at, emit);
  }

  /**
   * Reads from `at` into the frame in progress (its header, then its
   * payload) and emits it once whole. Returns where the next frame starts,
   * or the chunk's length when the frame goes on in the next chunk.
   */
  #step(chunk: Uint8Array, at: number, emit: (frame: Uint8Array) => void): number {
    const n = chunk.length;
    if (this.#need < 0) {
      const headerLength = this.#format.lengthBytes;
      let field: number;
      if (this.#headerFill === 0 && n - at >= headerLength) {
        field = readLength(chunk, at, this.#format);
        at += headerLength;
      } else {
        const take = Math.min(headerLength - this.#headerFill, n - at);
        this.#header.set(chunk.subarray(at, at + take), this.#headerFill);
        this.#headerFill += take;
        at += take;
        if (this.#headerFill < headerLength) return n;
        field = readLength(this.#header, 0, this.#format);
        this.#headerFill = 0;
      }
      this.#need = this.#payloadLength(field);
    }
    const need = this.#need;
    const available = n - at;
    const got = this.#partial.length;
    if (got === 0 && available >= need) {
      this.#need = -1;
      emit(new Uint8Array(chunk.buffer, chunk.byteOffset + at, need));
      return at + need;
    }
    if (got + available < need) {
      this.#partial.append(at === 0 ? chunk : chunk.subarray(at), need);
      return n;
    }
    const take = need - got;
    this.#need = -1;
    emit(this.#partial.take(need, chunk.subarray(at, at + take)));
    return at + take;
  }

  finish(): void {
    if (this.#error) throw this.#error;
    if (this.#headerFill > 0) {
      this.#fail(
        "ERR_FRAME_MALFORMED",
        `stream ended inside a length field (${this.#headerFill} of ${this.#format.lengthBytes} bytes)`,
      );
    }
    if (this.#need >= 0) {
      this.#fail("ERR_FRAME_MALFORMED", `stream ended inside a frame (${this.#partial.length} of ${this.#need} bytes)`);
    }
  }

  #payloadLength(field: number): number {
    const { adjustment, maxFrameLength } = this.#format;
    if (!Number.isSafeInteger(field)) {
      this.#fail("ERR_FRAME_TOO_LARGE", `announced length exceeds 2^53 - 1 (maxFrameLength ${maxFrameLength})`);
    }
    const length = field + adjustment;
    if (length < 0) {
      this.#fail(
        "ERR_FRAME_MALFORMED",
        `length field ${field} with lengthAdjustment ${adjustment} gives a negative frame length`,
      );
    }
    if (length > maxFrameLength) {
      this.#fail("ERR_FRAME_TOO_LARGE", `announced frame of ${length} bytes exceeds maxFrameLength ${maxFrameLength}`);
    }
    return length;
  }

  #fail(code: "ERR_FRAME_TOO_LARGE" | "ERR_FRAME_MALFORMED", message: string): never {
    this.#partial.clear();
    this.#error = new FramingError(code, message);
    throw this.#error;
  }
}

// Byte by byte rather than a DataView: no allocation per frame, and 3-byte fields need it anyway.
function readLength(bytes: Uint8Array, at: number, format: Format): number {
  const size = format.lengthBytes;
  // The common 4-byte big-endian field: one expression instead of a loop, read once per received frame.
  if (size === 4 && !format.little) return ((bytes[at]! << 24) | (bytes[at + 1]! << 16) | (bytes[at + 2]! << 8) | bytes[at + 3]!) >>> 0;
  let value = 0;
  if (format.little) {
    for (let i = size - 1; i >= 0; i--) value = value * 256 + bytes[at + i]!;
  } else {
    for (let i = 0; i < size; i++) value = value * 256 + bytes[at + i]!;
  }
  // Above 2^53 the sum is inexact, but still above MAX_SAFE_INTEGER, which is all the caller checks.
  return value;
}

function writeLength(header: Uint8Array, value: number, format: Format, at = 0): void {
  const size = format.lengthBytes;
  if (size === 4 && !format.little) {
    // The common 4-byte big-endian field (value < 2^32 here): shifts are exact.
    header[at] = value >>> 24;
    header[at + 1] = (value >>> 16) & 0xff;
    header[at + 2] = (value >>> 8) & 0xff;
    header[at + 3] = value & 0xff;
    return;
  }
  for (let i = 0; i < size; i++) {
    // Division, not shifts: bitwise operators truncate to 32 bits.
    const byte = value % 256;
    value = (value - byte) / 256;
    header[at + (format.little ? i : size - 1 - i)] = byte;
  }
}
