/**
 * Reply timeouts for many requests on one timer: a timer per request costs
 * microseconds to set and clear (tens of them on Deno), more than the rest of
 * a pipelined request.
 *
 * @module
 */

import type { Clock, TimerHandle } from "../timers/clock.ts";

/** What {@link Deadlines} needs of a request. */
export interface Timed {
  settled: boolean;
  /** Ms the request may take; requests with the same timeout expire in the order they were added. */
  readonly timeout: number;
  /** `clock.now()` at which it expires. */
  readonly deadline: number;
  /** True while it is in a line (set by {@link Deadlines}). */
  timing: boolean;
}

/** Requests with one timeout value, in deadline order (a moving head, settled ones swept lazily). */
interface Line<R> {
  items: R[];
  head: number;
  /** Entries that settled but are still in `items`. */
  settled: number;
}

/**
 * Expires requests at their deadline. Requests sharing a timeout value are
 * added in deadline order, so each value keeps a plain queue, and one timer
 * serves them all, armed for the earliest head.
 *
 * @example
 * ```ts
 * import { realClock } from "../timers/clock.ts";
 * import { Deadlines } from "./deadlines.ts";
 * const deadlines = new Deadlines(realClock, (r) => console.log("timed out", r));
 * deadlines.add({ settled: false, timeout: 100, deadline: realClock.now() + 100, timing: false });
 * ```
 */
export class Deadlines<R extends Timed> {
  readonly #clock: Clock;
  readonly #expire: (request: R) => void;
  readonly #lines = new Map<number, Line<R>>();
  #timer: TimerHandle | undefined;
  #timerAt = Infinity;

  constructor(clock: Clock, expire: (request: R) => void) {
    this.#clock = clock;
    this.#expire = expire;
  }

  add(request: R): void {
    let line = this.#lines.get(request.timeout);
    if (line === undefined) this.#lines.set(request.timeout, (line = { items: [], head: 0, settled: 0 }));
    line.items.push(request);
    request.timing = true;
    if (request.deadline < this.#timerAt) this.#arm();
  }

  /** `request` settled before its deadline: it leaves its line now or soon. */
  settled(request: R): void {
    if (!request.timing) return;
    const line = this.#lines.get(request.timeout);
    if (line === undefined) return;
    line.settled++;
    // Replies mostly come in request order, so the head is usually what just settled.
    while (line.head < line.items.length && line.items[line.head]!.settled) this.#pop(line);
    const length = line.items.length - line.head;
    if (length === 0) {
      this.#lines.delete(request.timeout);
      return;
    }
    // Out of order (a slow request ahead of many fast ones): sweep before settled entries pile up.
    if (line.settled > 64 && line.settled * 2 > length) {
      line.items = line.items.slice(line.head).filter((r) => {
        if (r.settled) r.timing = false;
        return !r.settled;
      });
      line.head = 0;
      line.settled = 0;
    } else if (line.head > 1024 && line.head * 2 > line.items.length) {
      line.items = line.items.slice(line.head);
      line.head = 0;
    }
  }

  /** Forgets every request and stops the timer. */
  clear(): void {
    for (const line of this.#lines.values()) for (let i = line.head; i < line.items.length; i++) line.items[i]!.timing = false;
    this.#lines.clear();
    if (this.#timer !== undefined) this.#clock.clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#timerAt = Infinity;
  }

  #pop(line: Line<R>): R {
    const request = line.items[line.head]!;
    line.items[line.head++] = undefined!;
    if (request.settled) line.settled--;
    request.timing = false;
    return request;
  }

  #fire(): void {
    this.#timer = undefined;
    this.#timerAt = Infinity;
    const now = this.#clock.now();
    const due: R[] = [];
    for (const [timeout, line] of this.#lines) {
      while (line.head < line.items.length) {
        const head = line.items[line.head]!;
        if (!head.settled && head.deadline > now) break;
        this.#pop(line);
        if (!head.settled) due.push(head);
      }
      if (line.head === line.items.length) this.#lines.delete(timeout);
    }
    // Expired after the sweep: an expiry may settle or add other requests.
    for (const request of due) this.#expire(request);
    this.#arm();
  }

  #arm(): void {
    let earliest = Infinity;
    for (const line of this.#lines.values()) {
      const head = line.items[line.head];
      if (head !== undefined && head.deadline < earliest) earliest = head.deadline;
    }
    if (earliest >= this.#timerAt) return;
    if (this.#timer !== undefined) this.#clock.clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#timerAt = earliest;
    if (earliest === Infinity) return;
    // Timers may fire a little early against clock.now(); #fire then re-arms for the rest.
    this.#timer = this.#clock.setTimeout(() => this.#fire(), Math.max(0, Math.ceil(earliest - this.#clock.now())));
  }
}
