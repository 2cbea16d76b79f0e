/**
 * The application's view of a session: frames in the user's codec (or raw
 * byte messages) over a {@link SessionState}, which carries each encoded
 * frame as one payload. The decoder lives as long as the session, since the
 * payload stream has no gap and no duplicate across reconnects.
 *
 * @module
 */

import type { Codec, FrameDecoder } from "../codec.ts";
import { encodeFrame } from "../write-coalescer.ts";
import type { SessionState } from "./session-state.ts";

const noop = (): void => {};
/** Frames of up to this many bytes are encoded into shared slabs of this size. */
const SLAB_BYTES = 16 * 1024;

/**
 * Frames over a session's payloads.
 *
 * @example
 * ```ts
 * import { SessionFrames } from "./session-frames.ts";
 * import { lines } from "../lines.ts";
 * const frames = new SessionFrames(state, lines());
 * await frames.send("hello");
 * const { value } = await frames.next();
 * ```
 */
export class SessionFrames<T> {
  readonly #state: SessionState;
  readonly #codec: Codec<T> | undefined;
  #decoder: FrameDecoder<T> | undefined;
  /** Where small frames are encoded, side by side. */
  #slab: Uint8Array | undefined;
  #slabUsed = 0;
  /** Frames decoded and not yet read, from `#head` on. */
  readonly #decoded: T[] = [];
  #head = 0;
  readonly #push = (frame: T): void => void this.#decoded.push(frame);

  constructor(state: SessionState, codec: Codec<T> | undefined) {
    this.#state = state;
    this.#codec = codec;
    this.#decoder = codec?.createDecoder();
  }

  /**
   * Encodes `frame` and sends it; see {@link SessionState.send}. Rejects
   * with the codec's error. A small frame is encoded into a shared slab (a
   * copy: the caller may reuse its frame at once); a larger one is kept as
   * the codec's parts, which must not change until the send settles.
   */
  send(frame: T): Promise<void> {
    const codec = this.#codec;
    if (!codec) return this.#state.send(frame as Uint8Array);
    let parts: Uint8Array | readonly Uint8Array[] | undefined;
    try {
      if (codec.encodeInto !== undefined) parts = this.#encodeInto(codec as Required<Pick<Codec<T>, "encodeInto">>, frame);
      parts ??= encodeFrame(codec, frame);
    } catch (error) {
      const failed = Promise.reject(error);
      failed.catch(noop);
      return failed;
    }
    if (parts instanceof Uint8Array) return this.#state.sendParts(parts, parts.length);
    // The parts are kept as they are (no join): the replay buffer holds them until acknowledged.
    let bytes = 0;
    for (const part of parts) bytes += part.length;
    return this.#state.sendParts(parts, bytes);
  }

  /** The frame encoded into the slab, or undefined when it does not fit an empty one. */
  #encodeInto(codec: Required<Pick<Codec<T>, "encodeInto">>, frame: T): Uint8Array | undefined {
    let slab = this.#slab;
    let at = this.#slabUsed;
    let written = slab === undefined ? -1 : codec.encodeInto(frame, slab, at);
    if (written < 0) {
      // A fresh slab, never reused: the replay buffer keeps views of the old one until they are acknowledged.
      slab = this.#slab = new Uint8Array(SLAB_BYTES);
      at = 0;
      written = codec.encodeInto(frame, slab, 0);
      if (written < 0) return undefined;
    }
    this.#slabUsed = at + written;
    return slab!.subarray(at, at + written);
  }

  /** Sends bytes that already are one encoded frame (or, without a codec, one message). */
  sendBytes(payload: Uint8Array): Promise<void> {
    return this.#state.send(payload);
  }

  /** A new session starts: a frame left half-decoded belonged to the lost one. */
  resetDecoder(): void {
    this.#decoder = this.#codec?.createDecoder();
  }

  /** The next frame: without a promise job of its own when one is already received. */
  next(): Promise<IteratorResult<T>> {
    const decoder = this.#decoder;
    if (!decoder) return this.#state.next() as Promise<IteratorResult<T>>;
    for (;;) {
      if (this.#head < this.#decoded.length) return Promise.resolve({ value: this.#shift(), done: false });
      const payload = this.#state.poll();
      if (payload === undefined) return this.#wait(decoder);
      decoder.decode(payload, this.#push);
    }
  }

  async #wait(decoder: FrameDecoder<T>): Promise<IteratorResult<T>> {
    while (this.#head === this.#decoded.length) {
      const result = await this.#state.next();
      if (result.done) return result;
      // A new session may have replaced the decoder meanwhile.
      (this.#decoder ?? decoder).decode(result.value, this.#push);
    }
    return { value: this.#shift(), done: false };
  }

  #shift(): T {
    const frame = this.#decoded[this.#head]!;
    if (++this.#head === this.#decoded.length) {
      this.#decoded.length = 0;
      this.#head = 0;
    }
    return frame;
  }
}
