/**
 * Frames ended by a delimiter (a newline, CRLF, a NUL byte, any byte
 * sequence), after Netty's DelimiterBasedFrameDecoder.
 *
 * @module
 */

import type { Codec, FrameDecoder } from "./codec.ts";
import { invalidOption } from "../errors.ts";
import { FramingError } from "./framing-error.ts";
import { PartialFrame } from "./partial-frame.ts";

/** Options of {@link delimited}. */
export interface DelimitedOptions {
  /** The bytes that end a frame; a string is UTF-8 encoded. Default "\n". */
  readonly delimiter?: string | Uint8Array;
  /** Largest frame in bytes, delimiter excluded. Default 64 KiB. */
  readonly maxLength?: number;
  /**
   * Whether decoded frames leave the delimiter out. Default true. Encoding
   * always appends the delimiter, so with `false` a decoded frame is the sent
   * frame plus its delimiter.
   */
  readonly stripDelimiter?: boolean;
}

/**
 * Default {@link DelimitedOptions.maxLength}: 64 KiB.
 *
 * @example
 * ```ts
 * import { lines } from "wireline";
 * const codec = lines({ maxLength: 1024 * 1024 }); // default 64 KiB
 * ```
 */
export const DEFAULT_MAX_LINE_LENGTH: number = 64 * 1024;

/**
 * A codec for delimiter-terminated binary frames. Each received byte is
 * scanned once. A frame that lies inside one chunk is a view into it; one
 * split across chunks is gathered in a buffer that grows with it (about
 * twice the bytes at most, however finely the stream is cut) and handed out
 * as one new array when its delimiter arrives.
 *
 * The decoder throws `ERR_FRAME_TOO_LARGE` as soon as the bytes received
 * without a delimiter can no longer make a frame of at most `maxLength`, so it
 * never holds more than `maxLength + delimiter.length - 1` bytes. Encoding a
 * frame over `maxLength` throws the same. Encoding one that contains the
 * delimiter, or whose end would run into the delimiter ("ab" before "abab"),
 * throws `ERR_FRAME_MALFORMED`, since the peer would split it differently.
 *
 * @example
 * ```ts
 * import { delimited, framed } from "wireline";
 * const channel = framed(conn, delimited({ delimiter: new Uint8Array([0]), maxLength: 4096 }));
 * await channel.send(new TextEncoder().encode("PING")); // on the wire: PING\0
 * for await (const frame of channel) console.log(frame.length);
 * ```
 */
export function delimited(options: DelimitedOptions = {}): Codec<Uint8Array> {
  const raw = options.delimiter ?? "\n";
  const maxLength = options.maxLength ?? DEFAULT_MAX_LINE_LENGTH;
  const stripDelimiter = options.stripDelimiter ?? true;
  let delimiter: Uint8Array;
  if (typeof raw === "string") delimiter = new TextEncoder().encode(raw);
  // Copied so that later changes to the caller's array cannot change the format.
  else if (raw instanceof Uint8Array) delimiter = raw.slice();
  else throw invalidOption("delimiter", raw, "a string or a Uint8Array");
  if (delimiter.length === 0) throw invalidOption("delimiter", '""', "at least one byte");
  if (!Number.isSafeInteger(maxLength) || maxLength < 0) {
    throw invalidOption("maxLength", maxLength, "a non-negative safe integer");
  }
  if (typeof stripDelimiter !== "boolean") throw invalidOption("stripDelimiter", stripDelimiter, "a boolean");
  const format: Format = { delimiter, maxLength, stripDelimiter };

  /** Throws a FramingError if `frame` cannot be sent. */
  const check = (frame: Uint8Array): void => {
    if (frame.length > maxLength) {
      throw new FramingError("ERR_FRAME_TOO_LARGE", `frame of ${frame.length} bytes exceeds maxLength ${maxLength}`);
    }
    if (indexOf(frame, delimiter, 0) >= 0 || endsInsideDelimiter(frame, delimiter)) {
      throw new FramingError("ERR_FRAME_MALFORMED", "frame contains the delimiter or runs into it");
    }
  };

  return {
    encode(frame: Uint8Array): readonly Uint8Array[] {
      check(frame);
      return [frame, delimiter];
    },
    // Frame and delimiter straight into the caller's buffer: no allocation per frame.
    encodeInto(frame: Uint8Array, target: Uint8Array, offset: number): number {
      check(frame);
      const size = frame.length + delimiter.length;
      if (offset + size > target.length) return -1;
      target.set(frame, offset);
      target.set(delimiter, offset + frame.length);
      return size;
    },
    createDecoder(): FrameDecoder<Uint8Array> {
      return new DelimitedDecoder(format);
    },
  };
}

interface Format {
  readonly delimiter: Uint8Array;
  readonly maxLength: number;
  readonly stripDelimiter: boolean;
}

class DelimitedDecoder implements FrameDecoder<Uint8Array> {
  readonly #format: Format;
  // Bytes of the frame in progress, from earlier chunks; none contains a whole delimiter.
  readonly #partial = new PartialFrame();
  // The last (delimiter.length - 1) pending bytes: all a delimiter split across chunks can start in.
  readonly #tail: Uint8Array;
  #tailFill = 0;
  #error: FramingError | undefined;

  constructor(format: Format) {
    this.#format = format;
    this.#tail = new Uint8Array(format.delimiter.length - 1);
  }

  get bufferedBytes(): number {
    return this.#partial.length;
  }

  /** Arrays the partial frame is held in; for tests of memory use. */
  get bufferedParts(): number {
    return this.#partial.partCount;
  }

  decode(chunk: Uint8Array, emit: (frame: Uint8Array) => void): void {
    if (this.#error) throw this.#error;
    const { delimiter, maxLength, stripDelimiter } = this.#format;
    const d = delimiter.length;
    // Start of the current frame's bytes in `chunk`.
    let start = 0;
    if (this.#partial.length > 0 && this.#tailFill > 0) {
      const inChunk = this.#straddling(chunk);
      if (inChunk > 0) {
        const pending = this.#partial.length;
        const contentLength = pending - (d - inChunk);
        this.#checkLength(contentLength);
        const frame = stripDelimiter
          ? this.#partial.take(contentLength)
          : this.#partial.take(pending + inChunk, chunk.subarray(0, inChunk));
        this.#reset();
        emit(frame);
        start = inChunk;
      }
    }
    for (;;) {
      const found = indexOf(chunk, delimiter, start);
      if (found < 0) break;
      const pending = this.#partial.length;
      this.#checkLength(pending + found - start);
      const end = stripDelimiter ? found : found + d;
      let frame: Uint8Array;
      if (pending === 0) {
        // The Uint8Array constructor, not subarray(): cheaper on V8, and a plain Uint8Array on every runtime.
        frame = new Uint8Array(chunk.buffer, chunk.byteOffset + start, end - start);
      } else {
        frame = this.#partial.take(pending + end - start, chunk.subarray(start, end));
        this.#reset();
      }
      emit(frame);
      start = found + d;
    }
    if (start >= chunk.length) return;
    const rest = start === 0 ? chunk : chunk.subarray(start);
    this.#partial.append(rest);
    this.#keepTail(rest);
    // Up to d - 1 trailing bytes may still turn out to be the start of the delimiter.
    const pending = this.#partial.length;
    if (pending > maxLength) this.#checkLength(pending - this.#partialDelimiter());
  }

  finish(): void {
    if (this.#error) throw this.#error;
    if (this.#partial.length > 0) {
      this.#fail("ERR_FRAME_MALFORMED", `stream ended inside a frame (${this.#partial.length} bytes without a delimiter)`);
    }
  }

  /**
   * Looks for a delimiter that starts in the pending bytes and ends in
   * `chunk`; returns how many of its bytes are in `chunk`, or 0. The earliest
   * start wins, as it would in a contiguous scan.
   */
  #straddling(chunk: Uint8Array): number {
    const delimiter = this.#format.delimiter;
    const d = delimiter.length;
    for (let before = this.#tailFill; before >= 1; before--) {
      const after = d - before;
      if (after > chunk.length) continue;
      if (!this.#tailEndsWith(before)) continue;
      let match = true;
      for (let i = 0; i < after; i++) {
        if (chunk[i] !== delimiter[before + i]) {
          match = false;
          break;
        }
      }
      if (match) return after;
    }
    return 0;
  }

  /** Longest proper prefix of the delimiter that the pending bytes end with. */
  #partialDelimiter(): number {
    for (let length = this.#tailFill; length >= 1; length--) {
      if (this.#tailEndsWith(length)) return length;
    }
    return 0;
  }

  /** Whether the pending bytes end with the first `length` bytes of the delimiter. */
  #tailEndsWith(length: number): boolean {
    const delimiter = this.#format.delimiter;
    const from = this.#tailFill - length;
    for (let i = 0; i < length; i++) {
      if (this.#tail[from + i] !== delimiter[i]) return false;
    }
    return true;
  }

  #keepTail(rest: Uint8Array): void {
    const tail = this.#tail;
    const size = tail.length;
    if (size === 0) return;
    if (rest.length >= size) {
      tail.set(rest.subarray(rest.length - size));
      this.#tailFill = size;
      return;
    }
    const keep = Math.min(this.#tailFill, size - rest.length);
    tail.copyWithin(0, this.#tailFill - keep, this.#tailFill);
    tail.set(rest, keep);
    this.#tailFill = keep + rest.length;
  }

  #reset(): void {
    this.#partial.clear();
    this.#tailFill = 0;
  }

  #checkLength(contentLength: number): void {
    const maxLength = this.#format.maxLength;
    if (contentLength > maxLength) {
      this.#fail("ERR_FRAME_TOO_LARGE", `frame exceeds maxLength ${maxLength} (${contentLength} bytes or more)`);
    }
  }

  #fail(code: "ERR_FRAME_TOO_LARGE" | "ERR_FRAME_MALFORMED", message: string): never {
    this.#reset();
    this.#error = new FramingError(code, message);
    throw this.#error;
  }
}

/**
 * Index of `needle` in `haystack` at or after `from`, or -1. The native search
 * looks for the needle's last byte: in "\r\n" and most text delimiters it is
 * the rarer one.
 */
function indexOf(haystack: Uint8Array, needle: Uint8Array, from: number): number {
  const d = needle.length;
  const lastByte = needle[d - 1]!;
  let end = from + d - 1;
  while (end < haystack.length) {
    end = haystack.indexOf(lastByte, end);
    if (end < 0) return -1;
    const start = end - d + 1;
    let i = 0;
    while (i < d - 1 && haystack[start + i] === needle[i]) i++;
    if (i === d - 1) return start;
    end++;
  }
  return -1;
}

/**
 * Whether the frame's end and the appended delimiter form a delimiter that
 * starts inside the frame, as "ab" + "abab" does: the peer would then cut the
 * frame short. Only delimiters whose start repeats at their end allow this.
 */
function endsInsideDelimiter(frame: Uint8Array, delimiter: Uint8Array): boolean {
  const d = delimiter.length;
  for (let inFrame = Math.min(frame.length, d - 1); inFrame >= 1; inFrame--) {
    let match = true;
    // The frame's last `inFrame` bytes must start the delimiter, and the delimiter's first bytes must end it.
    for (let i = 0; match && i < inFrame; i++) match = frame[frame.length - inFrame + i] === delimiter[i];
    for (let i = 0; match && i < d - inFrame; i++) match = delimiter[i] === delimiter[inFrame + i];
    if (match) return true;
  }
  return false;
}
