/**
 * The application's view of a session: frames in the user's codec (or raw
 * byte messages) over a {@link SessionState}, which encodes each frame
 * straight into its current batch and decodes received batches in one pass.
 *
 * @module
 */

import type { SessionState } from "./session-state.ts";

/**
 * Frames over a session.
 *
 * @example
 * ```ts
 * import { SessionFrames } from "./session-frames.ts";
 * import { SessionState } from "./session-state.ts";
 * import { lines } from "../lines.ts";
 * const frames = new SessionFrames(new SessionState({ frames: 1024, bytes: 1 << 20 }, realClock, lines()));
 * await frames.send("hello");
 * const { value } = await frames.next();
 * ```
 */
export class SessionFrames<T> {
  readonly #state: SessionState<T>;

  constructor(state: SessionState<T>) {
    this.#state = state;
  }

  /** Encodes `frame` and sends it; see {@link SessionState.send}. */
  send(frame: T): Promise<void> {
    return this.#state.send(frame);
  }

  /** Sends bytes that already are one encoded frame (or, without a codec, one message). */
  sendBytes(payload: Uint8Array): Promise<void> {
    return this.#state.sendEncoded(payload);
  }

  /** The next frame: without a promise job of its own when one is already received. */
  next(): Promise<IteratorResult<T>> {
    return this.#state.next();
  }
}
