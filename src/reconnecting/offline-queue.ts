/**
 * The bounded queue that holds whole writes while a reconnecting client has
 * no connection to hand them to.
 *
 * @module
 */

import { realClock, type Clock, type TimerHandle } from "../timers/clock.ts";
import { invalidOption, NetError } from "../errors.ts";
import { checkMillis } from "../options.ts";

/**
 * What happens to a write that does not fit in the queue:
 * - `"reject"`: the new write rejects at once with `ERR_QUEUE_FULL`;
 * - `"drop-oldest"`: the oldest queued writes reject with `ERR_WRITE_DROPPED`
 *   until the new one fits;
 * - `"wait"`: the new write waits for room (backpressure for a producer that
 *   awaits its writes). At most another `maxWrites` writes and `maxBytes`
 *   bytes can wait; past that, writes reject with `ERR_QUEUE_FULL`.
 *
 * @example
 * ```ts
 * import { reconnecting } from "wireline";
 * const client = reconnecting("127.0.0.1:7000", { overflow: "wait", maxQueuedBytes: 64 * 1024 });
 * for (const line of ["a\n", "b\n"]) await client.write(line); // waits while the queue is full
 * ```
 */
export type OverflowPolicy = "reject" | "drop-oldest" | "wait";

/**
 * Limits and policy of an {@link OfflineQueue}.
 *
 * @example
 * ```ts
 * import { reconnecting } from "wireline";
 * const client = reconnecting("db:5432", { maxQueuedBytes: 1 << 20, maxQueuedWrites: 1000, overflow: "reject" });
 * ```
 */
export interface OfflineQueueOptions {
  /** Most bytes held. A single write larger than this always rejects with `ERR_QUEUE_FULL`. */
  readonly maxBytes: number;
  /** Most writes held. */
  readonly maxWrites: number;
  /** Default `"reject"`. */
  readonly overflow?: OverflowPolicy;
  /** Told about writes that left the queue unsent: dropped by overflow, or past their deadline. */
  readonly onDrop?: (count: number, bytes: number, reason: NetError) => void;
  /** Time and timers for deadlines; the runtime's by default. */
  readonly clock?: Clock;
}

/**
 * A write taken out of the queue: hand `data` over, then call `resolve` or `reject`.
 *
 * @example
 * ```ts
 * import type { OfflineQueue } from "./offline-queue.ts"; // internal to the reconnecting client
 * declare const queue: OfflineQueue;
 * declare const conn: { write(data: Uint8Array): Promise<void> };
 * const next = queue.shift();
 * if (next) conn.write(next.data).then(next.resolve, next.reject);
 * ```
 */
export interface DequeuedWrite {
  readonly data: Uint8Array;
  /** Ms from `since` within which it must be handed over; Infinity for none. */
  readonly deadline: number;
  /** When the write was made, on the queue's clock. */
  readonly since: number;
  resolve(): void;
  reject(error: NetError): void;
}

interface Write extends DequeuedWrite {
  timer: TimerHandle | undefined;
  /** Where the write is now; moving from the waiting list to the queue gets a new slot. */
  slot: Slot;
}

/** A place in one list; once `gone` it is skipped and never reused. */
interface Slot {
  readonly write: Write;
  readonly list: SlotList;
  gone: boolean;
}

const noop = (): void => {};

/** A FIFO whose removed slots are skipped lazily, so removal from the middle is O(1); counts stay exact. */
class SlotList {
  #slots: Slot[] = [];
  #head = 0;
  count = 0;
  bytes = 0;

  push(write: Write): void {
    this.#slots.push(this.#slot(write));
  }

  unshift(write: Write): void {
    const slot = this.#slot(write);
    if (this.#head > 0) this.#slots[--this.#head] = slot;
    else this.#slots.unshift(slot);
  }

  #slot(write: Write): Slot {
    const slot: Slot = { write, list: this, gone: false };
    write.slot = slot;
    this.count++;
    this.bytes += write.data.length;
    return slot;
  }

  /** The oldest write still in the list. */
  peek(): Write | undefined {
    while (this.#head < this.#slots.length && this.#slots[this.#head]!.gone) this.#head++;
    if (this.#head > 1024 && this.#head * 2 > this.#slots.length) {
      this.#slots = this.#slots.slice(this.#head);
      this.#head = 0;
    }
    return this.#slots[this.#head]?.write;
  }

  /** Takes the oldest write out. */
  shift(): Write | undefined {
    const write = this.peek();
    if (write) this.remove(write.slot);
    return write;
  }

  remove(slot: Slot): void {
    if (slot.gone) return;
    slot.gone = true;
    this.count--;
    this.bytes -= slot.write.data.length;
  }

  /** Takes every write out, oldest first. */
  drain(): Write[] {
    const live = this.#slots.slice(this.#head).filter((slot) => !slot.gone);
    for (const slot of live) this.remove(slot);
    this.#slots = [];
    this.#head = 0;
    return live.map((slot) => slot.write);
  }
}

/**
 * A FIFO of whole writes bounded by bytes and by count. Every write pushed
 * gets a promise that always settles: resolved by whoever dequeues it and
 * hands it over, or rejected by overflow, by its deadline, or by
 * {@link OfflineQueue.rejectAll}. Rejections that nobody awaits never crash
 * the process.
 *
 * @example
 * ```ts
 * import { OfflineQueue } from "./offline-queue.ts"; // internal: reconnecting() queues writes in one
 * const queue = new OfflineQueue({ maxBytes: 1024, maxWrites: 10, overflow: "drop-oldest" });
 * const sent = queue.push(new Uint8Array([1, 2, 3]), 5_000); // 5 s deadline
 * const write = queue.shift()!;
 * write.resolve(); // `sent` resolves
 * ```
 */
export class OfflineQueue {
  readonly #maxBytes: number;
  readonly #maxWrites: number;
  readonly #overflow: OverflowPolicy;
  readonly #onDrop: (count: number, bytes: number, reason: NetError) => void;
  readonly #clock: Clock;
  readonly #queued = new SlotList();
  /** Writes waiting for room under the "wait" policy; bounded like the queue itself. */
  readonly #waiting = new SlotList();

  constructor(options: OfflineQueueOptions) {
    const { maxBytes, maxWrites } = options;
    if (!Number.isSafeInteger(maxBytes) || maxBytes < 1) throw invalidOption("maxQueuedBytes", maxBytes, "a positive integer");
    if (!Number.isSafeInteger(maxWrites) || maxWrites < 1) throw invalidOption("maxQueuedWrites", maxWrites, "a positive integer");
    const overflow = options.overflow ?? "reject";
    if (overflow !== "reject" && overflow !== "drop-oldest" && overflow !== "wait") {
      throw invalidOption("overflow", overflow, '"reject", "drop-oldest" or "wait"');
    }
    this.#maxBytes = maxBytes;
    this.#maxWrites = maxWrites;
    this.#overflow = overflow;
    this.#onDrop = options.onDrop ?? noop;
    this.#clock = options.clock ?? realClock;
  }

  /** Writes held (not counting those waiting for room). */
  get size(): number {
    return this.#queued.count;
  }

  /** Bytes held (not counting those waiting for room). */
  get bytes(): number {
    return this.#queued.bytes;
  }

  /** Writes waiting for room under the `"wait"` policy. */
  get waiting(): number {
    return this.#waiting.count;
  }

  /**
   * Queues `data` (kept by reference: do not modify it until the promise
   * settles). `deadline` is in ms from now; Infinity for none. The promise
   * resolves when the write is dequeued and handed over.
   */
  push(data: Uint8Array, deadline: number = Infinity): Promise<void> {
    checkMillis("deadline", deadline);
    if (data.length > this.#maxBytes) {
      return rejected(new NetError("ERR_QUEUE_FULL", `a write of ${data.length} bytes is larger than maxQueuedBytes (${this.#maxBytes})`));
    }
    if (!this.#fits(this.#queued, data.length) || this.#waiting.count > 0) {
      if (this.#overflow === "reject") return rejected(this.#fullError());
      if (this.#overflow === "drop-oldest") this.#dropOldestFor(data.length);
      else if (!this.#fits(this.#waiting, data.length)) {
        return rejected(new NetError("ERR_QUEUE_FULL", `${this.#fullText()}, and ${this.#waiting.count} more writes already wait for room`));
      }
    }
    let write!: Write;
    const promise = new Promise<void>((resolve, reject) => {
      write = { data, resolve, reject, deadline, since: this.#clock.now(), timer: undefined, slot: undefined! };
    });
    promise.catch(noop);
    const list = this.#fits(this.#queued, data.length) && this.#waiting.count === 0 ? this.#queued : this.#waiting;
    list.push(write);
    // The deadline counts from the write() call, whether the write waits for room or sits in the queue.
    if (deadline !== Infinity) write.timer = this.#clock.setTimeout(() => this.#expire(write), deadline);
    return promise;
  }

  /** Takes the oldest write out, so the caller can hand it over; undefined when empty. */
  shift(): DequeuedWrite | undefined {
    const write = this.#queued.shift();
    if (!write) return undefined;
    this.#clearTimer(write);
    this.#admitWaiting();
    return write;
  }

  /**
   * Puts a write back at the front, for when the connection would not take
   * it after all: one taken with {@link OfflineQueue.shift}, or one the
   * caller was about to hand over without queueing it. The limits are not
   * checked again: the write was accepted before, so the queue can exceed
   * them by the writes put back.
   */
  requeue(dequeued: DequeuedWrite): void {
    const write: Write = "slot" in dequeued ? (dequeued as Write) : {
            data: dequeued.data,
            deadline: dequeued.deadline,
            since: dequeued.since,
            resolve: () => dequeued.resolve(),
            reject: (error) => dequeued.reject(error),
            timer: undefined,
            slot: undefined!,
          };
    this.#queued.unshift(write);
    if (write.deadline !== Infinity) {
      write.timer = this.#clock.setTimeout(() => this.#expire(write), Math.max(0, write.since + write.deadline - this.#clock.now()));
    }
  }

  /** Rejects every queued and waiting write with `error` and empties the queue. */
  rejectAll(error: NetError): void {
    for (const write of [...this.#queued.drain(), ...this.#waiting.drain()]) {
      this.#clearTimer(write);
      write.reject(error);
    }
  }

  #clearTimer(write: Write): void {
    if (write.timer !== undefined) this.#clock.clearTimeout(write.timer);
    write.timer = undefined;
  }

  #fits(list: SlotList, length: number): boolean {
    return list.count + 1 <= this.#maxWrites && list.bytes + length <= this.#maxBytes;
  }

  #fullText(): string {
    return `offline queue full (${this.#queued.count} writes, ${this.#queued.bytes} bytes; limits maxQueuedWrites ${this.#maxWrites}, maxQueuedBytes ${this.#maxBytes})`;
  }

  #fullError(): NetError {
    return new NetError("ERR_QUEUE_FULL", this.#fullText());
  }

  #dropOldestFor(length: number): void {
    const reason = new NetError("ERR_WRITE_DROPPED", 'dropped from a full offline queue to make room for a newer write (overflow "drop-oldest")');
    let count = 0;
    let bytes = 0;
    while (!this.#fits(this.#queued, length)) {
      const write = this.#queued.shift()!;
      this.#clearTimer(write);
      count++;
      bytes += write.data.length;
      write.reject(reason);
    }
    if (count > 0) this.#onDrop(count, bytes, reason);
  }

  #admitWaiting(): void {
    for (let next = this.#waiting.peek(); next && this.#fits(this.#queued, next.data.length); next = this.#waiting.peek()) {
      this.#waiting.remove(next.slot);
      this.#queued.push(next);
    }
  }

  #expire(write: Write): void {
    const slot = write.slot;
    if (slot.gone) return;
    slot.list.remove(slot);
    const reason = new NetError(
      "ERR_WRITE_DEADLINE",
      `write of ${write.data.length} bytes was not sent within its ${write.deadline} ms deadline (no open connection took it)`,
    );
    write.reject(reason);
    this.#onDrop(1, write.data.length, reason);
    this.#admitWaiting();
  }
}

function rejected(error: NetError): Promise<never> {
  const promise = Promise.reject(error);
  promise.catch(noop);
  return promise;
}
