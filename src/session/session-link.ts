/**
 * One connection carrying a session: its messages are read and decoded in
 * order, and whatever a message handler throws (a protocol violation)
 * destroys the connection, so the session resumes on a clean one.
 *
 * @module
 */

import type { Connection } from "../connection.ts";
import { NetError, toNetError } from "../errors.ts";
import { DATA_HEADER_BYTES, decodeMessage, MAX_HANDSHAKE_BYTES, MessageReader, MessageType, readU32, readU64, type SessionMessage } from "./envelope.ts";
import type { SessionSink } from "./session-state.ts";

const noop = (): void => {};
/** Messages written in one tick go out in one write of up to this many bytes. */
const BATCH_BYTES = 64 * 1024;
const MIN_BATCH_BYTES = 1024;
/** A flush of at most this many bytes from a smallest batch copies them out and keeps the batch. */
const SMALL_FLUSH_BYTES = 256;
/** A DATA message this large is written on its own rather than copied into the batch. */
const LARGE_MESSAGE = 4 * 1024;

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
  /** The messages of this tick, written side by side; handed to the connection whole, then replaced, unless a small copy of them went out instead. */
  #batch: Uint8Array | undefined;
  #used = 0;
  /** Size of the next batch: it grows (×4) while ticks overflow it, up to BATCH_BYTES, and shrinks when quiet. */
  #size = MIN_BATCH_BYTES;
  #flushQueued = false;
  /** Once the handshake is done: takes each DATA message (first sequence number, frame count, acknowledgement, owned frame bytes) instead of `run`'s handler. */
  onData: ((first: number, count: number, ack: number, frames: Uint8Array) => void) | undefined;

  constructor(conn: Connection) {
    this.conn = conn;
  }

  /** The largest message accepted from now on: the window's bytes plus a header, once the handshake set the window. */
  set maxMessageBytes(bytes: number) {
    this.#reader.maxBytes = bytes;
  }

  /**
   * Queues `bytes` for the connection: messages of one tick are copied into
   * one batch written at the end of the tick, so a stream of small frames
   * costs one write per batch, not two per frame.
   */
  write(bytes: Uint8Array): void {
    const at = this.#room(bytes.length);
    this.#batch!.set(bytes, at);
    this.#used = at + bytes.length;
  }

  /**
   * Queues a whole DATA message: a small one is copied into the batch; a
   * large one goes out on its own, uncopied, after what is batched, so it
   * must not change afterwards.
   */
  writeMessage(message: Uint8Array): void {
    if (message.length < LARGE_MESSAGE) return this.write(message);
    this.flush();
    this.#send(message);
  }

  /** Where `bytes` more go in the batch (grown, or flushed when full), with a flush queued for the end of the tick. */
  #room(bytes: number): number {
    let batch = this.#batch;
    if (batch !== undefined && this.#used + bytes > batch.length) {
      if (batch.length < BATCH_BYTES) {
        // This tick outgrew the batch: a larger one takes over what it holds.
        this.#size = Math.min(BATCH_BYTES, batch.length * 4);
        const larger = new Uint8Array(Math.max(this.#size, this.#used + bytes));
        larger.set(batch.subarray(0, this.#used));
        this.#batch = batch = larger;
      } else {
        this.flush();
        batch = undefined;
      }
    }
    if (batch === undefined) this.#batch = new Uint8Array(Math.max(this.#size, bytes));
    if (!this.#flushQueued) {
      this.#flushQueued = true;
      queueMicrotask(() => {
        this.#flushQueued = false;
        this.flush();
      });
    }
    return this.#used;
  }

  /** Writes what is batched now. */
  flush(): void {
    const used = this.#used;
    if (used === 0) return;
    const batch = this.#batch!;
    this.#used = 0;
    if (used <= SMALL_FLUSH_BYTES && batch.length === MIN_BATCH_BYTES) {
      // A few bytes (acknowledgements, say): a copy of them goes out and the array stays for the next tick, as a new one would cost more.
      this.#send(batch.slice(0, used));
      return;
    }
    this.#batch = undefined;
    // A quiet link gets small batches again (one message per tick would otherwise cost a 64 KiB array each).
    if (used * 4 < this.#size) this.#size = Math.max(MIN_BATCH_BYTES, this.#size >>> 1);
    // The connection may hold the bytes until they are sent: the next batch is a new array.
    this.#send(batch.subarray(0, used));
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
    const emit = (body: Uint8Array): void => {
      const data = this.onData;
      if (data !== undefined && body[0] === MessageType.Data) {
        // The data path: no message object, and the frames are a view of the chunk (or of its copy).
        if (body.length < DATA_HEADER_BYTES - 4) throw new NetError("ERR_SESSION_PROTOCOL", "a DATA message too short");
        data(readU64(body, 1), readU32(body, 9), readU64(body, 13), body.subarray(DATA_HEADER_BYTES - 4));
        return;
      }
      const message = decodeMessage(body);
      onMessage(message);
    };
    // The session keeps payloads (views of the chunk) until its application reads them, as framed() does.
    const lent = conn.borrowedChunks;
    try {
      for await (const chunk of conn) {
        onChunk?.();
        let owned = chunk;
        if (lent) {
          // A lent chunk is recycled after this step: one copy per chunk, exactly its size, whose views the payloads are.
          owned = new Uint8Array(chunk.byteLength);
          owned.set(chunk);
        }
        this.#reader.push(owned, emit);
      }
    } catch (error) {
      conn.destroy(toNetError(error));
    }
    if (!conn.isClosed) this.close();
    await conn.closed;
  }
}
