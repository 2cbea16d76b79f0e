/**
 * A clock that moves only when the test says so, for deterministic tests of
 * timing logic (heartbeat, idle, backoff sleeps, deadlines, stall detection).
 * Not shipped.
 */
import type { Clock, TimerHandle } from "../../src/timers/clock.ts";

interface Timer {
  readonly at: number;
  readonly seq: number;
  readonly fn: () => void;
}

/** Lets pending microtasks and promise continuations run; no timed waiting. */
export async function microtasks(rounds = 50): Promise<void> {
  for (let i = 0; i < rounds; i++) await Promise.resolve();
}

export class ManualClock implements Clock {
  #now = 0;
  #seq = 0;
  readonly #timers = new Map<number, Timer>();

  now(): number {
    return this.#now;
  }

  setTimeout(fn: () => void, ms: number): TimerHandle {
    const seq = ++this.#seq;
    this.#timers.set(seq, { at: this.#now + Math.max(0, ms), seq, fn });
    return seq;
  }

  clearTimeout(handle: TimerHandle): void {
    this.#timers.delete(handle as number);
  }

  /** Timers not yet fired or cleared. */
  get pendingTimers(): number {
    return this.#timers.size;
  }

  /** When the next timer fires, or undefined if none is set. */
  get nextAt(): number | undefined {
    let next: number | undefined;
    for (const timer of this.#timers.values()) if (next === undefined || timer.at < next) next = timer.at;
    return next;
  }

  /**
   * Moves time forward by `ms`, firing due timers in order; after each one,
   * lets the promise continuations it caused run, so async code that sets
   * the next timer is followed as it would be in real time.
   */
  async advance(ms: number): Promise<void> {
    const end = this.#now + ms;
    await microtasks();
    for (;;) {
      let next: Timer | undefined;
      for (const timer of this.#timers.values()) if (timer.at <= end && (!next || timer.at < next.at || (timer.at === next.at && timer.seq < next.seq))) next = timer;
      if (!next) break;
      this.#timers.delete(next.seq);
      this.#now = next.at;
      next.fn();
      await microtasks();
    }
    this.#now = end;
    await microtasks();
  }
}
