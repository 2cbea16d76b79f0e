/**
 * What a reconnecting client received, across its connections: each
 * connection's reader decodes into one inbox that the client's iterator
 * empties. Readers take turns, so items of two connections never interleave,
 * and reading pauses while `maxUnreadBytes` wait for the consumer.
 *
 * @module
 */

import type { Codec, FrameDecoder } from "../framing/codec.ts";
import type { Connection } from "../connection.ts";
import { NetError } from "../errors.ts";
import { FrameReader } from "../framing/frame-reader.ts";

const DONE: IteratorResult<never> = Object.freeze({ value: undefined, done: true });

/** Received items from one chunk, with the chunk's size for the unread-bytes bound. */
interface Batch<T> {
  readonly items: T[];
  next: number;
  readonly bytes: number;
}

/** Without a codec, each chunk is one item. */
function rawDecoder<T>(): FrameDecoder<T> {
  return {
    decode: (chunk, emit) => emit(chunk as T),
    finish() {},
    bufferedBytes: 0,
  };
}

/**
 * What one connection's reader reports while it runs.
 *
 * @example
 * ```ts
 * import type { ReaderHooks } from "./inbox.ts";
 * const hooks: ReaderHooks = { blocked: (b) => console.log("blocked", b), received: () => {}, cutFrame: console.error };
 * ```
 */
export interface ReaderHooks {
  /** True while the reader waits for an earlier connection's reader or for the consumer to make room. */
  blocked(blocked: boolean): void;
  /** A chunk arrived. */
  received(): void;
  /** The connection ended inside a frame; the partial frame was dropped. */
  cutFrame(error: NetError): void;
}

/**
 * The received items, their bound, and the one consumer.
 *
 * @example
 * ```ts
 * import { Inbox } from "./inbox.ts";
 * const inbox = new Inbox<Uint8Array>(undefined, 256 * 1024);
 * inbox.read(conn, { blocked() {}, received() {}, cutFrame() {} });
 * const first = await inbox.next();
 * ```
 */
export class Inbox<T> {
  readonly #codec: Codec<T> | undefined;
  readonly #maxUnreadBytes: number;
  #batches: Batch<T>[] = [];
  #unreadBytes = 0;
  #consumer: { resolve: (result: IteratorResult<T>) => void; reject: (error: unknown) => void } | undefined;
  /** Wakes a reader waiting for the consumer to make room. */
  #room: (() => void) | undefined;
  /** Readers run one after another, so items from two connections never interleave. */
  #readers: Promise<void> = Promise.resolve();
  #ended: { error: NetError | undefined } | undefined;

  constructor(codec: Codec<T> | undefined, maxUnreadBytes: number) {
    this.#codec = codec;
    this.#maxUnreadBytes = maxUnreadBytes;
  }

  /** Reads `conn` into the inbox with a fresh decoder, after the previous connection's reader finished. */
  read(conn: Connection, hooks: ReaderHooks): void {
    const decoder = this.#codec ? this.#codec.createDecoder() : rawDecoder<T>();
    this.#readers = this.#readers.then(() => this.#read(new FrameReader(conn, decoder), hooks));
  }

  /**
   * No more items will come: a pending or later `next()` ends, or rejects
   * with `error` once the items already received are taken.
   */
  end(error: NetError | undefined): void {
    if (this.#ended) return;
    this.#ended = { error };
    this.#wakeReader();
    const consumer = this.#consumer;
    this.#consumer = undefined;
    if (consumer && error) consumer.reject(error);
    else consumer?.resolve(DONE);
  }

  /** The next item; one consumer at a time. */
  next(): Promise<IteratorResult<T>> {
    const item = this.#take();
    if (item) return Promise.resolve({ value: item.value, done: false });
    if (this.#ended) return this.#ended.error ? Promise.reject(this.#ended.error) : Promise.resolve(DONE);
    if (this.#consumer) return Promise.reject(new TypeError("the client is already being read by another loop"));
    return new Promise((resolve, reject) => (this.#consumer = { resolve, reject }));
  }

  async #read(reader: FrameReader<T>, hooks: ReaderHooks): Promise<void> {
    try {
      while (!reader.done) {
        while (this.#unreadBytes >= this.#maxUnreadBytes && !this.#ended) {
          hooks.blocked(true);
          await new Promise<void>((resolve) => (this.#room = resolve));
        }
        if (this.#ended) return await this.#discard(reader);
        hooks.blocked(false);
        const bytes = await reader.read();
        if (bytes > 0) hooks.received();
        if (reader.frames.length > 0) this.#deliver(reader.frames.splice(0), bytes);
      }
      // A decoding error mid-stream reached the client through conn.closed; only a frame cut short by EOF is news.
      const failure = reader.failure;
      if (reader.ended && failure instanceof NetError && failure.code === "ERR_FRAME_MALFORMED" && !this.#ended) hooks.cutFrame(failure);
    } catch (error) {
      // A connection error is reported through conn.closed; only a frame cut short by the disconnect is news.
      if (error instanceof NetError && error.code === "ERR_FRAME_MALFORMED" && !this.#ended) hooks.cutFrame(error);
    } finally {
      hooks.blocked(false);
    }
  }

  /**
   * Reads the rest and drops it: a connection left paused with data held for
   * its reader may never finish closing, so the closing client keeps it flowing.
   */
  async #discard(reader: FrameReader<T>): Promise<void> {
    while (!reader.done) {
      await reader.read();
      reader.frames.length = 0;
    }
  }

  #deliver(items: T[], bytes: number): void {
    if (this.#ended) return;
    this.#batches.push({ items, next: 0, bytes });
    this.#unreadBytes += bytes;
    const consumer = this.#consumer;
    if (consumer) {
      this.#consumer = undefined;
      consumer.resolve({ value: this.#take()!.value, done: false });
    }
  }

  /** The oldest unread item, or undefined when there is none. */
  #take(): { value: T } | undefined {
    const batch = this.#batches[0];
    if (!batch) return undefined;
    const value = batch.items[batch.next++]!;
    if (batch.next === batch.items.length) {
      this.#batches.shift();
      this.#unreadBytes -= batch.bytes;
      if (this.#unreadBytes < this.#maxUnreadBytes) this.#wakeReader();
    }
    return { value };
  }

  #wakeReader(): void {
    const room = this.#room;
    this.#room = undefined;
    room?.();
  }
}
