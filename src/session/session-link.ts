/**
 * One connection carrying a session: its messages are read and decoded in
 * order, and whatever a message handler throws (a protocol violation)
 * destroys the connection, so the session resumes on a clean one.
 *
 * @module
 */

import type { Connection } from "../connection.ts";
import { toNetError } from "../errors.ts";
import { decodeMessage, MAX_HANDSHAKE_BYTES, MessageReader, MessageType, type SessionMessage } from "./envelope.ts";
import { PayloadPool } from "./payload-pool.ts";
import type { SessionSink } from "./session-state.ts";

const noop = (): void => {};
/** Messages written in one tick go out in one write of up to this many bytes. */
const BATCH_BYTES = 64 * 1024;

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
  readonly #pool = new PayloadPool();
  #parts: Uint8Array[] = [];
  #partsBytes = 0;
  #flushQueued = false;

  constructor(conn: Connection) {
    this.conn = conn;
  }

  /** The largest message accepted from now on: the window's bytes plus a header, once the handshake set the window. */
  set maxMessageBytes(bytes: number) {
    this.#reader.maxBytes = bytes;
  }

  /**
   * Queues `bytes` for the connection: messages of one tick are joined and
   * written at the end of the tick, so a stream of small frames costs one
   * write per batch, not two per frame. `bytes` must not change meanwhile.
   */
  write(bytes: Uint8Array): void {
    this.#parts.push(bytes);
    this.#partsBytes += bytes.length;
    if (this.#partsBytes >= BATCH_BYTES) {
      this.flush();
      return;
    }
    if (!this.#flushQueued) {
      this.#flushQueued = true;
      queueMicrotask(() => {
        this.#flushQueued = false;
        this.flush();
      });
    }
  }

  /** Writes what is batched now, as one array of exactly its size. */
  flush(): void {
    const parts = this.#parts;
    if (parts.length === 0) return;
    const size = this.#partsBytes;
    this.#parts = [];
    this.#partsBytes = 0;
    if (parts.length === 1) return this.#send(parts[0]!);
    const joined = new Uint8Array(size);
    let at = 0;
    for (const part of parts) {
      joined.set(part, at);
      at += part.length;
    }
    this.#send(joined);
  }

  /** Writes what is batched, then closes the connection gracefully. */
  close(): void {
    this.flush();
    void this.conn.close();
  }

  #send(bytes: Uint8Array): void {
    // A failed write shows up as the connection closing; the session replays from the peer's lastReceived.
    if (this.conn.isWritable) this.conn.write(bytes).catch(noop);
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
        // A plain view: a Node Buffer's subarray() is slower, and the reader takes one per message.
        const bytes = new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.byteLength);
        this.#reader.push(bytes, (body) => {
          const message = decodeMessage(body);
          // The chunk may be recycled or kept whole by a view: the session keeps its own copy.
          onMessage(message.type === MessageType.Data ? { type: message.type, seq: message.seq, ack: message.ack, payload: this.#pool.copy(message.payload) } : message);
        });
      }
    } catch (error) {
      conn.destroy(toNetError(error));
    }
    if (!conn.isClosed) this.close();
    await conn.closed;
  }
}
