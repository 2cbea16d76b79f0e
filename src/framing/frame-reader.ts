/**
 * The read half of a codec on a connection, shared by {@link framed} and the
 * reconnecting client: read a chunk, decode it, and on bad input destroy the
 * connection at once while keeping the frames decoded before the error.
 *
 * @module
 */

import type { FrameDecoder } from "./codec.ts";
import type { ByteConnection } from "./byte-connection.ts";

/**
 * Decodes one connection's byte stream, a chunk per {@link FrameReader.read}.
 *
 * @example
 * ```ts
 * import { FrameReader } from "./frame-reader.ts";
 * import { lines } from "./lines.ts";
 * const reader = new FrameReader(conn, lines().createDecoder());
 * while (!reader.done) {
 *   await reader.read();
 *   for (const line of reader.frames.splice(0)) console.log(line);
 * }
 * if (reader.failure !== undefined) throw reader.failure;
 * ```
 */
export class FrameReader<T> {
  /** Frames decoded so far and not yet taken; the caller empties it, or takes it whole with {@link FrameReader.take}. */
  frames: T[] = [];
  readonly #conn: ByteConnection;
  readonly #decoder: FrameDecoder<T>;
  readonly #emit: (frame: T) => void;
  readonly #emitFailed: (() => boolean) | undefined;
  #source: AsyncIterator<Uint8Array> | undefined;
  #failure: unknown;
  #ended = false;

  /**
   * `emit`, when given, receives each frame as it is decoded instead of
   * `frames`. It may throw only if `emitFailed` is given and then returns
   * true: that error is `emit`'s own, not the stream's, so {@link FrameReader.read}
   * rethrows it and leaves the connection open.
   */
  constructor(conn: ByteConnection, decoder: FrameDecoder<T>, emit?: (frame: T) => void, emitFailed?: () => boolean) {
    this.#conn = conn;
    this.#decoder = decoder;
    this.#emit = emit ?? ((frame) => this.frames.push(frame));
    this.#emitFailed = emitFailed;
  }

  /** Hands over the decoded frames as one array (no copy) and starts a new one. */
  take(): T[] {
    const frames = this.frames;
    this.frames = [];
    return frames;
  }

  /** The decoding error that destroyed the connection, if any. */
  get failure(): unknown {
    return this.#failure;
  }

  /** True once the peer closed cleanly (the stream ended), even if a partial frame was left. */
  get ended(): boolean {
    return this.#ended;
  }

  /** True once there is nothing more to read: ended, failed or returned. */
  get done(): boolean {
    return this.#ended || this.#failure !== undefined;
  }

  /**
   * Reads one chunk and decodes it into `frames`; returns the chunk's size (0
   * at the end). Throws the connection's error, or `emit`'s own; a decoding
   * error is kept in `failure` instead, after destroying the connection with it.
   */
  async read(): Promise<number> {
    const next = await (this.#source ??= this.#conn[Symbol.asyncIterator]()).next();
    try {
      if (next.done) {
        this.#ended = true;
        this.#decoder.finish();
        return 0;
      }
      this.#decoder.decode(next.value, this.#emit);
      return next.value.length;
    } catch (error) {
      if (this.#emitFailed?.() === true) throw error;
      this.#failure = error;
      // Destroy at once, so a bad peer stops being read; the frames decoded before the error stay.
      this.#conn.destroy(error instanceof Error ? error : new Error(String(error)));
      return next.done ? 0 : next.value.length;
    }
  }

  /** Stops reading without closing the connection. */
  async return(): Promise<void> {
    if (this.#source && !this.done) await this.#source.return?.();
    this.#ended = true;
  }
}
