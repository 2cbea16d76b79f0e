/**
 * The text layer: UTF-8 strings over any byte codec, and newline-delimited
 * lines as the common case.
 *
 * @module
 */

import type { Codec, FrameDecoder } from "./codec.ts";
import { delimited, type DelimitedOptions } from "./delimited.ts";
import { FramingError } from "./framing-error.ts";

/**
 * Wraps a byte codec so that frames are UTF-8 strings. Whole frames are
 * decoded, never chunks, so a character split across chunks decodes
 * correctly. Invalid UTF-8 throws `ERR_FRAME_MALFORMED`. A leading U+FEFF is
 * kept as part of the frame, not taken as a byte-order mark.
 *
 * Encoding uses TextEncoder, which sends a lone surrogate as U+FFFD.
 *
 * @example
 * ```ts
 * import { framed, lengthPrefixed, text } from "wireline";
 * const channel = framed(conn, text(lengthPrefixed()));
 * await channel.send("grüße");
 * for await (const message of channel) console.log(message.toUpperCase());
 * ```
 */
export function text(codec: Codec<Uint8Array>): Codec<string> {
  const encoder = new TextEncoder();
  return {
    encode(frame: string): Uint8Array | readonly Uint8Array[] {
      return codec.encode(encoder.encode(frame));
    },
    createDecoder(): FrameDecoder<string> {
      return new TextDecoderAdapter(codec.createDecoder());
    },
  };
}

/**
 * A codec for UTF-8 text lines: {@link text} over {@link delimited}, with the
 * same options (delimiter "\n", at most 64 KiB per line, measured in bytes).
 * A line sent with a delimiter inside it throws `ERR_FRAME_MALFORMED`; a last
 * line without a delimiter at end of stream does too.
 *
 * @example
 * ```ts
 * import { framed, lines } from "wireline";
 * const channel = framed(conn, lines({ delimiter: "\r\n" }));
 * await channel.send("HELO example.com");
 * for await (const line of channel) {
 *   if (line.startsWith("250")) break;
 * }
 * ```
 */
export function lines(options?: DelimitedOptions): Codec<string> {
  return text(delimited(options));
}

class TextDecoderAdapter implements FrameDecoder<string> {
  readonly #inner: FrameDecoder<Uint8Array>;
  // fatal: invalid bytes become an error instead of U+FFFD. ignoreBOM: keep U+FEFF as data.
  readonly #decoder = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });
  #error: FramingError | undefined;

  constructor(inner: FrameDecoder<Uint8Array>) {
    this.#inner = inner;
  }

  get bufferedBytes(): number {
    return this.#inner.bufferedBytes;
  }

  /** The inner decoder's count of arrays holding the partial frame, where it reports one; for tests of memory use. */
  get bufferedParts(): number | undefined {
    return (this.#inner as { readonly bufferedParts?: number }).bufferedParts;
  }

  decode(chunk: Uint8Array, emit: (frame: string) => void): void {
    if (this.#error) throw this.#error;
    this.#inner.decode(chunk, (bytes) => {
      let frame: string;
      try {
        frame = this.#decoder.decode(bytes);
      } catch (cause) {
        this.#error = new FramingError("ERR_FRAME_MALFORMED", "frame is not valid UTF-8", { cause });
        throw this.#error;
      }
      emit(frame);
    });
  }

  finish(): void {
    if (this.#error) throw this.#error;
    this.#inner.finish();
  }
}
