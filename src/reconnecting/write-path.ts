/**
 * The reconnecting client's write path: whole messages go to the open
 * connection through the same per-tick coalescing as {@link framed}, or wait
 * in the bounded offline queue while there is no connection or its send
 * buffer is full. A message is never split between two connections.
 *
 * @module
 */

import type { Clock } from "../timers/clock.ts";
import type { Connection } from "../connection.ts";
import { DEFAULT_MAX_BATCH_BYTES } from "../framing/framed.ts";
import type { DequeuedWrite, OfflineQueue } from "./offline-queue.ts";
import { DEFAULT_HIGH_WATER_MARK } from "../transport.ts";
import { WriteCoalescer } from "../framing/write-coalescer.ts";

const noop = (): void => {};

/** The open connection the path writes to, with the messages batched for it this tick. */
interface Outlet {
  readonly conn: Connection;
  readonly coalescer: WriteCoalescer;
  /** Messages whose bytes wait in the coalescer; they resolve when the batch is written. */
  batch: DequeuedWrite[];
  /** The send buffer is over the high-water mark: messages queue until it drains. */
  congested: boolean;
  /** The connection stopped taking writes; batched messages go back to the queue. */
  failed: boolean;
  /** Sizes of messages written whose bytes may still be in the send buffer, oldest first from `head`. */
  sizes: number[];
  head: number;
  /** Bytes of messages written to the connection, and of those the kernel took for sure. */
  written: number;
  flushed: number;
}

/**
 * Hands whole messages to the current connection, or queues them.
 *
 * @example
 * ```ts
 * import { WritePath } from "./write-path.ts";
 * import { OfflineQueue } from "./offline-queue.ts";
 * import { realClock } from "../timers/clock.ts";
 * const path = new WritePath(new OfflineQueue({ maxBytes: 1 << 20, maxWrites: 1000 }), realClock);
 * path.attach(conn);
 * await path.submit(new TextEncoder().encode("hello\n"), Infinity);
 * ```
 */
export class WritePath {
  readonly #queue: OfflineQueue;
  readonly #clock: Clock;
  #outlet: Outlet | undefined;
  /** The outlet attached last, kept after detach for {@link WritePath.lostMessages}. */
  #last: Outlet | undefined;

  constructor(queue: OfflineQueue, clock: Clock) {
    this.#queue = queue;
    this.#clock = clock;
  }

  /** True while a connection is attached. */
  get attached(): boolean {
    return this.#outlet !== undefined;
  }

  /** Starts writing to `conn`, beginning with what the queue holds. */
  attach(conn: Connection): void {
    const outlet: Outlet = {
      conn,
      coalescer: undefined!,
      batch: [],
      congested: false,
      failed: false,
      sizes: [],
      head: 0,
      written: 0,
      flushed: 0,
    };
    (outlet as { coalescer: WriteCoalescer }).coalescer = new WriteCoalescer(DEFAULT_MAX_BATCH_BYTES, {
      write: (data) => this.#write(outlet, data),
      flushed: () => this.#settle(outlet),
    });
    this.#outlet = outlet;
    this.#last = outlet;
    this.pump();
  }

  /**
   * Stops writing to the connection: messages batched this tick are written
   * if it still takes them, else put back at the front of the queue.
   */
  detach(): void {
    const outlet = this.#outlet;
    this.#outlet = undefined;
    outlet?.coalescer.flush();
  }

  /**
   * How many of the messages written to `conn` the lost `bytes` (the tail of
   * what was written, never handed to the kernel) belong to.
   */
  lostMessages(conn: Connection, bytes: number): number {
    const outlet = this.#last;
    if (!outlet || outlet.conn !== conn || bytes <= 0) return 0;
    let count = 0;
    let tail = 0;
    for (let i = outlet.sizes.length - 1; i >= outlet.head && tail < bytes; i--) {
      tail += outlet.sizes[i]!;
      count++;
    }
    return count;
  }

  /**
   * Hands `data` to the connection within this tick if one is attached and
   * nothing is queued ahead of it; queues it otherwise. Resolves once its
   * bytes were written to an open connection.
   */
  submit(data: Uint8Array, deadline: number): Promise<void> {
    const outlet = this.#outlet;
    if (outlet && this.#accepting(outlet) && this.#queue.size === 0 && this.#queue.waiting === 0) {
      let write!: DequeuedWrite;
      const promise = new Promise<void>((resolve, reject) => {
        write = { data, deadline, since: this.#clock.now(), resolve, reject };
      });
      // Rejections that nobody awaits must not crash the process.
      promise.catch(noop);
      this.#handOver(outlet, write);
      return promise;
    }
    const queued = this.#queue.push(data, deadline);
    this.pump();
    return queued;
  }

  /** Moves queued messages to the connection while it takes them. */
  pump(): void {
    const outlet = this.#outlet;
    if (!outlet) return;
    while (this.#accepting(outlet)) {
      const write = this.#queue.shift();
      if (!write) return;
      this.#handOver(outlet, write);
    }
  }

  #accepting(outlet: Outlet): boolean {
    if (!outlet.failed && !outlet.conn.isWritable) outlet.failed = true;
    return !outlet.failed && !outlet.congested;
  }

  #handOver(outlet: Outlet, write: DequeuedWrite): void {
    outlet.batch.push(write);
    outlet.coalescer.add([write.data]);
  }

  #write(outlet: Outlet, data: Uint8Array): void {
    const { conn } = outlet;
    if (outlet.failed || !conn.isWritable) {
      outlet.failed = true;
      return;
    }
    const accepted = conn.write(data);
    outlet.written += data.length;
    if (conn.bufferedAmount >= DEFAULT_HIGH_WATER_MARK && !outlet.congested) {
      outlet.congested = true;
      accepted.then(() => {
        outlet.congested = false;
        if (this.#outlet === outlet) this.pump();
      }, noop);
    }
  }

  /** The coalescer wrote (or could not write) every batched message. */
  #settle(outlet: Outlet): void {
    const batch = outlet.batch;
    if (batch.length === 0) return;
    outlet.batch = [];
    if (outlet.failed) {
      // Back to the front, oldest first, to go whole to the next connection.
      for (let i = batch.length - 1; i >= 0; i--) this.#queue.requeue(batch[i]!);
      return;
    }
    this.#remember(outlet, batch);
    for (const write of batch) write.resolve();
  }

  /** Records message sizes for loss reports, forgetting those the kernel has certainly taken. */
  #remember(outlet: Outlet, batch: readonly DequeuedWrite[]): void {
    for (const write of batch) outlet.sizes.push(write.data.length);
    const taken = outlet.written - outlet.conn.bufferedAmount;
    while (outlet.head < outlet.sizes.length && outlet.flushed + outlet.sizes[outlet.head]! <= taken) {
      outlet.flushed += outlet.sizes[outlet.head]!;
      outlet.head++;
    }
    if (outlet.head > 1024 && outlet.head * 2 > outlet.sizes.length) {
      outlet.sizes = outlet.sizes.slice(outlet.head);
      outlet.head = 0;
    }
  }
}
