/**
 * Timeouts that nearly always end cleared, set once per connection (a
 * connect's timeout, a close's linger): one runtime timer per timeout value
 * serves them all. Setting and clearing a runtime timer costs 2 µs on Node
 * and 5 µs on Deno; here it is a list append and an unlink.
 *
 * Entries with the same timeout value expire in the order they were set, so
 * each value keeps a plain linked list, and its timer is armed for the head.
 * A cleared entry is unlinked at once; the timer is left armed (unreferenced,
 * so it holds no process alive) and, when it fires early, re-arms for the
 * new head or stops.
 *
 * @module
 */

import { realClock, type Clock, type TimerHandle } from "./clock.ts";
import { unrefTimer } from "./event-loop-ref.ts";

/** The longest delay a runtime timer honours; a longer timeout re-arms. */
const MAX_TIMER_DELAY = 2 ** 31 - 1;
/** Timeout values remembered with no entry in them; past this, idle lists are dropped. */
const MAX_IDLE_LINES = 16;

/** One pending timeout, as {@link SharedTimeouts.set} returns it. */
export interface SharedTimeout {
  /** True once it fired or was cleared. */
  readonly done: boolean;
}

class Entry implements SharedTimeout {
  prev: Entry | undefined;
  next: Entry | undefined;
  readonly line: Line;
  readonly at: number;
  readonly fire: (target: never) => void;
  readonly target: unknown;
  constructor(line: Line, at: number, fire: (target: never) => void, target: unknown) {
    this.line = line;
    this.at = at;
    this.fire = fire;
    this.target = target;
  }

  /** Pending means linked into its line (a field for it would cost every connection's timeouts 8 bytes each). */
  get done(): boolean {
    return this.prev === undefined && this.line.head !== this;
  }
}

/** The entries of one timeout value, oldest first, and the timer armed for the oldest. */
class Line {
  head: Entry | undefined;
  tail: Entry | undefined;
  timer: TimerHandle | undefined;
  /** Set once by the owner: the line's timer callback. */
  onTimer: () => void = noop;
}

function noop(): void {}

const perClock = new WeakMap<Clock, SharedTimeouts>();

/**
 * The shared timeouts of one {@link Clock}.
 *
 * @example
 * ```ts
 * import { realClock } from "./clock.ts";
 * import { SharedTimeouts } from "./shared-timeouts.ts";
 * const timeouts = SharedTimeouts.of(realClock);
 * const t = timeouts.set(10_000, (label: string) => console.log(label, "timed out"), "db:5432");
 * timeouts.clear(t);
 * ```
 */
export class SharedTimeouts {
  readonly #clock: Clock;
  /** Whether an armed timer can be left behind: it must not keep the process alive. */
  #unrefs: boolean;
  readonly #lines = new Map<number, Line>();

  /** The instance for `clock`; use {@link SharedTimeouts.of}. */
  constructor(clock: Clock) {
    this.#clock = clock;
    // A substitute clock's handles are its own: only the runtime's timers can be unreferenced.
    this.#unrefs = clock === realClock;
  }

  /** The shared timeouts of `clock`, one instance per clock. */
  static of(clock: Clock): SharedTimeouts {
    let timeouts = perClock.get(clock);
    if (timeouts === undefined) perClock.set(clock, (timeouts = new SharedTimeouts(clock)));
    return timeouts;
  }

  /** Calls `fire(target)` after `ms` (finite, ≥ 0) unless cleared first; a shared function and a target need no closure per call. */
  set<T>(ms: number, fire: (target: T) => void, target: T): SharedTimeout {
    let line = this.#lines.get(ms);
    if (line === undefined) line = this.#newLine(ms);
    const entry = new Entry(line, this.#clock.now() + ms, fire as (target: never) => void, target);
    if (line.tail === undefined) line.head = entry;
    else {
      line.tail.next = entry;
      entry.prev = line.tail;
    }
    line.tail = entry;
    if (line.timer === undefined) this.#arm(line, ms);
    return entry;
  }

  /** Cancels `timeout`; nothing happens if it already fired or was cleared. */
  clear(timeout: SharedTimeout): void {
    const entry = timeout as Entry;
    if (entry.done) return;
    const line = entry.line;
    this.#unlink(line, entry);
    // A timer that cannot be left behind harmlessly goes with the last entry.
    if (line.head === undefined && !this.#unrefs && line.timer !== undefined) {
      this.#clock.clearTimeout(line.timer);
      line.timer = undefined;
    }
  }

  /** The timer of `line` fired: expires the entries that are due, then re-arms for the rest. */
  #expire(line: Line): void {
    line.timer = undefined;
    const now = this.#clock.now();
    for (let entry = line.head; entry !== undefined && entry.at <= now; entry = line.head) {
      this.#unlink(line, entry);
      entry.fire(entry.target as never);
    }
    // Set again by an expiry: armed already.
    if (line.head !== undefined && line.timer === undefined) this.#arm(line, line.head.at - now);
  }

  #unlink(line: Line, entry: Entry): void {
    const { prev, next } = entry;
    if (prev === undefined) line.head = next;
    else prev.next = next;
    if (next === undefined) line.tail = prev;
    else next.prev = prev;
    entry.prev = entry.next = undefined;
  }

  #arm(line: Line, ms: number): void {
    // Timers may fire a little early against clock.now(): expire() then re-arms for the remainder.
    line.timer = this.#clock.setTimeout(line.onTimer, Math.min(MAX_TIMER_DELAY, Math.max(1, Math.ceil(ms))));
    // No adapter to unreference it: from now on a timer goes with the last entry of its list, as a plain one would.
    if (this.#unrefs && !unrefTimer(line.timer)) this.#unrefs = false;
  }

  #newLine(ms: number): Line {
    if (this.#lines.size >= MAX_IDLE_LINES) {
      for (const [value, idle] of this.#lines) {
        if (idle.head !== undefined) continue;
        if (idle.timer !== undefined) this.#clock.clearTimeout(idle.timer);
        idle.timer = undefined;
        this.#lines.delete(value);
      }
    }
    const line = new Line();
    line.onTimer = () => this.#expire(line);
    this.#lines.set(ms, line);
    return line;
  }
}
