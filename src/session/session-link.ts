/**
 * One connection carrying a session: its messages are read and decoded in
 * order, and whatever a message handler throws (a protocol violation)
 * destroys the connection, so the session resumes on a clean one.
 *
 * @module
 */

import type { Connection } from "../connection.ts";
import { toNetError } from "../errors.ts";
import { decodeMessage, MAX_HANDSHAKE_BYTES, MessageReader, type SessionMessage } from "./envelope.ts";
import type { SessionSink } from "./session-state.ts";

const noop = (): void => {};

/**
 * A connection's reading side and writing side, as a session uses them.
 *
 * @example
 * ```ts
 * import { SessionLink } from "./session-link.ts";
 * const link = new SessionLink(conn);
 * link.write(encodeHello({ frames: 1024, bytes: 1 << 20 }));
 * await link.run((message) => console.log(message.type));
 * ```
 */
export class SessionLink implements SessionSink {
  readonly conn: Connection;
  readonly #reader = new MessageReader(MAX_HANDSHAKE_BYTES);

  constructor(conn: Connection) {
    this.conn = conn;
  }

  /** The largest message accepted from now on: the window's bytes plus a header, once the handshake set the window. */
  set maxMessageBytes(bytes: number) {
    this.#reader.maxBytes = bytes;
  }

  write(bytes: Uint8Array): void {
    // A failed write shows up as the connection closing; the session replays from the peer's lastReceived.
    this.conn.write(bytes).catch(noop);
  }

  /**
   * Feeds every message to `onMessage` until the connection ends; a throw
   * (or a malformed message) destroys the connection. Resolves once it is closed.
   */
  async run(onMessage: (message: SessionMessage) => void, onChunk?: () => void): Promise<void> {
    const { conn } = this;
    try {
      for await (const chunk of conn) {
        onChunk?.();
        this.#reader.push(chunk, (body) => onMessage(decodeMessage(body)));
      }
    } catch (error) {
      conn.destroy(toNetError(error));
    }
    if (!conn.isClosed) conn.close();
    await conn.closed;
  }
}
