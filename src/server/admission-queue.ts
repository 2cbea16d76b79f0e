/**
 * Admission control for a server: a bounded number of active slots, and a
 * bounded FIFO of items waiting for one, as POCO's TCPServerDispatcher does
 * with `maxThreads` and `maxQueued`.
 *
 * @module
 */

/** Where {@link AdmissionQueue.admit} put an item. */
export type Admission = "active" | "queued" | "refused";

/**
 * Active slots plus a bounded waiting line. When both are full, `admit()`
 * answers "refused" and keeps nothing: the caller closes the item. Waiting
 * items leave in arrival order as slots free, or earlier through `remove()`.
 *
 * @example
 * ```ts
 * import { AdmissionQueue } from "./admission-queue.ts"; // internal: listen({ maxConnections, maxQueued }) uses it
 * const queue = new AdmissionQueue<string>(1, 1);
 * queue.admit("a"); // "active"
 * queue.admit("b"); // "queued"
 * queue.admit("c"); // "refused"
 * queue.release();  // "b": it takes the freed slot
 * ```
 */
export class AdmissionQueue<T> {
  readonly #maxActive: number;
  readonly #maxQueued: number;
  #active = 0;
  /** A Set keeps arrival order and removes a departed item in O(1). */
  readonly #waiting = new Set<T>();

  constructor(maxActive: number, maxQueued: number) {
    this.#maxActive = maxActive;
    this.#maxQueued = maxQueued;
  }

  /** Items holding a slot. */
  get active(): number {
    return this.#active;
  }

  /** Items waiting for a slot. */
  get queued(): number {
    return this.#waiting.size;
  }

  /** Gives `item` a slot if one is free, else a place in line if there is room, else refuses it. */
  admit(item: T): Admission {
    if (this.#active < this.#maxActive) {
      this.#active++;
      return "active";
    }
    if (this.#waiting.size < this.#maxQueued) {
      this.#waiting.add(item);
      return "queued";
    }
    return "refused";
  }

  /** Frees a slot. Returns the waiting item that now holds it, if any. */
  release(): T | undefined {
    for (const next of this.#waiting) {
      this.#waiting.delete(next);
      return next;
    }
    this.#active--;
    return undefined;
  }

  /** Takes a waiting item out of line (it gave up); false if it was not waiting. */
  remove(item: T): boolean {
    return this.#waiting.delete(item);
  }

  /** Empties the line and returns what was waiting, in arrival order. */
  clear(): T[] {
    const items = [...this.#waiting];
    this.#waiting.clear();
    return items;
  }
}
