/**
 * Raw Bun helpers: Bun's `write()` takes only what the kernel takes, so a
 * careful user keeps the rest and sends it on `drain`. This is that code.
 *
 * @module
 */

import type { Socket } from "bun";

/** The unsent tail of a Bun socket's writes. */
export class BunOutbox {
  #queue: Uint8Array[] = [];
  #head = 0;

  /** True when nothing waits for `drain`. */
  get empty(): boolean {
    return this.#head === this.#queue.length;
  }

  /** Writes `data` or queues what the kernel did not take; returns false if anything is queued. */
  write(socket: Socket<unknown>, data: Uint8Array): boolean {
    if (!this.empty) {
      this.#queue.push(data);
      return false;
    }
    const n = socket.write(data);
    if (n === data.length) return true;
    if (n < 0) throw new Error("bun socket closed during write");
    this.#queue.push(n === 0 ? data : data.subarray(n));
    return false;
  }

  /** Call from `drain`: writes queued data; returns true once all is sent. */
  flush(socket: Socket<unknown>): boolean {
    const q = this.#queue;
    while (this.#head < q.length) {
      const chunk = q[this.#head]!;
      const n = socket.write(chunk);
      if (n < 0) throw new Error("bun socket closed during write");
      if (n < chunk.length) {
        q[this.#head] = chunk.subarray(n);
        return false;
      }
      this.#head++;
    }
    this.#queue = [];
    this.#head = 0;
    return true;
  }
}
