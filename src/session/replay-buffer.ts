/**
 * The frames a session sent and the peer has not acknowledged yet, oldest
 * first, with the promises of their `send()` calls. It is what a resumed
 * connection replays, and what the window bounds.
 *
 * @module
 */

/** One send awaiting its acknowledgement: sent, or waiting for the window (`seq` 0 until it is sent). */
export interface Unacked {
  seq: number;
  /** The frame's bytes: one array, or parts kept unjoined (a codec's header and the caller's payload, say). */
  readonly parts: Uint8Array | readonly Uint8Array[];
  readonly bytes: number;
  /** The send's promise, and its resolving functions. */
  readonly promise: Promise<void>;
  readonly resolve: () => void;
  readonly reject: (error: unknown) => void;
}

/**
 * Unacknowledged frames in sequence order, with their total size.
 *
 * @example
 * ```ts
 * import { ReplayBuffer } from "./replay-buffer.ts";
 * const buffer = new ReplayBuffer();
 * buffer.push({ seq: 1, parts: new Uint8Array(3), bytes: 3, promise: Promise.resolve(), resolve() {}, reject() {} });
 * buffer.acknowledge(1); // resolves frame 1's send()
 * ```
 */
export class ReplayBuffer {
  #items: Unacked[] = [];
  #head = 0;
  #bytes = 0;

  /** Frames held. */
  get frames(): number {
    return this.#items.length - this.#head;
  }

  /** Payload bytes held. */
  get bytes(): number {
    return this.#bytes;
  }

  /** Sequence number of the newest frame held, or undefined when empty. */
  get lastSeq(): number | undefined {
    return this.frames === 0 ? undefined : this.#items[this.#items.length - 1]!.seq;
  }

  push(item: Unacked): void {
    this.#items.push(item);
    this.#bytes += item.bytes;
  }

  /** Drops and resolves every frame up to and including `seq`; returns how many. */
  acknowledge(seq: number): number {
    let count = 0;
    while (this.#head < this.#items.length && this.#items[this.#head]!.seq <= seq) {
      const item = this.#items[this.#head]!;
      (this.#items as (Unacked | undefined)[])[this.#head] = undefined;
      this.#head++;
      this.#bytes -= item.bytes;
      count++;
      item.resolve();
    }
    // Compact now and then, so the array does not grow with the session's life.
    if (this.#head > 1024 && this.#head * 2 > this.#items.length) {
      this.#items = this.#items.slice(this.#head);
      this.#head = 0;
    }
    return count;
  }

  /** The frames after `seq`, oldest first: what a resumed connection must resend. */
  *after(seq: number): IterableIterator<Unacked> {
    for (let i = this.#head; i < this.#items.length; i++) {
      const item = this.#items[i]!;
      if (item.seq > seq) yield item;
    }
  }

  /** Empties the buffer and returns what it held, for the caller to reject. */
  takeAll(): Unacked[] {
    const items = this.#items.slice(this.#head);
    this.#items = [];
    this.#head = 0;
    this.#bytes = 0;
    return items;
  }
}
