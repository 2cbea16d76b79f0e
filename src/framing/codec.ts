/**
 * The two halves of a wire format: an encoder that turns one message into
 * bytes, and a stateful decoder that turns a byte stream, cut anywhere, back
 * into messages. {@link framed} puts a codec on a connection.
 *
 * @module
 */

/**
 * Turns a stream of chunks into frames. One decoder serves one stream: it
 * keeps the partial frame between chunks.
 *
 * Once `decode` or `finish` has thrown, the decoder is spent and throws the
 * same error again.
 *
 * @example
 * ```ts
 * import { lines } from "wireline";
 * const decoder = lines().createDecoder();
 * const bytes = new TextEncoder().encode("hello\nwor");
 * decoder.decode(bytes, (line) => console.log(line)); // "hello"
 * console.log(decoder.bufferedBytes); // 3: "wor" waits for its newline
 * ```
 */
export interface FrameDecoder<T> {
  /**
   * Feeds one chunk; `emit` is called synchronously for each frame it
   * completes, in order. Throws a {@link FramingError} on a bad or oversize
   * frame, after emitting the frames that preceded it.
   *
   * The decoder may keep references to `chunk` and emit views into it, so the
   * caller must not reuse the chunk's memory.
   */
  decode(chunk: Uint8Array, emit: (frame: T) => void): void;
  /** Ends the stream; throws an `ERR_FRAME_MALFORMED` {@link FramingError} if a partial frame remains. */
  finish(): void;
  /** Bytes held for the frame in progress; bounded by the codec's limit. */
  readonly bufferedBytes: number;
}

/**
 * A wire format: a stateless encoder plus a factory for stateful decoders.
 *
 * `encode` may return several parts (a header and the payload, say) so that
 * the caller decides whether to copy them into one buffer or write them
 * separately; the payload part may be the caller's own array.
 *
 * @example
 * ```ts
 * import type { Codec, FrameDecoder } from "wireline";
 * // Every frame is exactly one byte.
 * const bytes: Codec<number> = {
 *   encode: (n) => Uint8Array.of(n),
 *   createDecoder: (): FrameDecoder<number> => ({
 *     decode(chunk, emit) {
 *       for (const b of chunk) emit(b);
 *     },
 *     finish() {},
 *     bufferedBytes: 0,
 *   }),
 * };
 * ```
 */
export interface Codec<T> {
  /** Encodes one frame; throws a {@link FramingError} if it cannot be sent. */
  encode(frame: T): Uint8Array | readonly Uint8Array[];
  /**
   * Optional fast path: writes the encoded frame into `target` from `offset`
   * and returns the number of bytes written, or -1 (writing nothing) when it
   * does not fit in the room left. `framed()` uses it to encode small frames
   * straight into the outgoing batch, with no allocation per frame; frames
   * that do not fit an empty batch go through `encode`. Throws like `encode`.
   */
  encodeInto?(frame: T, target: Uint8Array, offset: number): number;
  /** A fresh decoder for one byte stream. */
  createDecoder(): FrameDecoder<T>;
}
