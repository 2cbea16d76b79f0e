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
  /** Frames decoded and not yet read, from `#head` on. */
  readonly #decoded: T[] = [];
  #head = 0;
  readonly #push = (frame: T): void => void this.#decoded.push(frame);

  constructor(state: SessionState, codec: Codec<T> | undefined) {
    this.#state = state;
    this.#codec = codec;
    this.#decoder = codec?.createDecoder();
  }

  /** Encodes `frame` and sends it; see {@link SessionState.send}. Rejects with the codec's error. */
  send(frame: T): Promise<void> {
    const codec = this.#codec;
    if (!codec) return this.#state.send(frame as Uint8Array);
    let parts: readonly Uint8Array[];
    try {
      parts = encodeFrame(codec, frame);
    } catch (error) {
      const failed = Promise.reject(error);
      failed.catch(noop);
      return failed;
    }
    // The parts are kept as they are (no join): the replay buffer holds them until acknowledged.
    let bytes = 0;
    for (const part of parts) bytes += part.length;
    return this.#state.sendParts(parts, bytes);
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
