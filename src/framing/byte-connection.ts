/**
 * The byte-stream side of a connection that framing reads from and writes to.
 *
 * @module
 */

/**
 * What `framed()` needs from a connection. wireline's `Connection`
 * satisfies it; so can a test double.
 *
 * @example
 * ```ts
 * import type { ByteConnection } from "wireline";
 * async function echo(conn: ByteConnection): Promise<void> {
 *   for await (const chunk of conn) await conn.write(chunk);
 * }
 * ```
 */
export interface ByteConnection {
  /** Resolves once the bytes are accepted under the high-water mark; rejects if the connection is closed. */
  write(data: Uint8Array): Promise<void>;
  /** Yields received chunks; throws a {@link NetError} on a connection error. */
  [Symbol.asyncIterator](): AsyncIterator<Uint8Array>;
  /** Closes abruptly. */
  destroy(error?: Error): void;
  /** Flushes what was written, then closes. */
  close(): Promise<void>;
  /** Resolves, never rejects, when the connection is gone. */
  readonly closed: Promise<unknown>;
  /** True if chunks are only lent until the next read; framed() then refuses the connection. */
  readonly borrowedChunks?: boolean;
  /**
   * Optional: receives with a callback, as `Connection.forEach` does. Where
   * present, `framed().forEach()` decodes each chunk inside it, with no
   * promise per chunk.
   */
  forEach?(fn: (chunk: Uint8Array) => void | PromiseLike<void>): Promise<void>;
}
