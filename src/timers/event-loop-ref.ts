/**
 * Whether wireline's timers keep the process alive (`unref()`). Timer
 * handles are the runtime's, so the adapter says how to unref one; the core
 * only tracks which timers are live.
 *
 * @module
 */

import type { Clock, TimerHandle } from "./clock.ts";

/** How a runtime lets a timer stop (or go back to) keeping the process alive. */
export interface TimerRefHooks {
  unref(handle: TimerHandle): void;
  ref(handle: TimerHandle): void;
}

let hooks: TimerRefHooks | undefined;

/**
 * Installs the runtime's timer hooks; adapters call it at import. Without
 * them (the memory transport alone) nothing holds the process anyway.
 *
 * @example
 * ```ts
 * import { useTimerRefHooks } from "./event-loop-ref.ts";
 * useTimerRefHooks({ unref: (t) => (t as { unref(): void }).unref(), ref: (t) => (t as { ref(): void }).ref() });
 * ```
 */
export function useTimerRefHooks(timerHooks: TimerRefHooks): void {
  hooks = timerHooks;
}

/**
 * Lets a runtime timer stop keeping the process alive; false where no adapter
 * installed the hooks (the timer then stays referenced).
 *
 * @example
 * ```ts
 * import { unrefTimer } from "./event-loop-ref.ts";
 * const unrefd = unrefTimer(setTimeout(() => {}, 1000));
 * ```
 */
export function unrefTimer(handle: TimerHandle): boolean {
  if (hooks === undefined) return false;
  hooks.unref(handle);
  return true;
}

/**
 * A clock whose timers can stop keeping the process alive, all at once,
 * including those already set: a reconnecting client's backoff sleep,
 * heartbeat and deadlines after `client.unref()`.
 *
 * @example
 * ```ts
 * import { RefClock } from "./event-loop-ref.ts";
 * import { realClock } from "./clock.ts";
 * const clock = new RefClock(realClock);
 * clock.setTimeout(() => console.log("later"), 60_000);
 * clock.unref(); // the timer above no longer keeps the process alive
 * ```
 */
export class RefClock implements Clock {
  readonly #inner: Clock;
  readonly #live = new Set<TimerHandle>();
  #referenced = true;

  constructor(inner: Clock) {
    this.#inner = inner;
  }

  /** False after {@link RefClock.unref}. */
  get referenced(): boolean {
    return this.#referenced;
  }

  now(): number {
    return this.#inner.now();
  }

  setTimeout(fn: () => void, ms: number): TimerHandle {
    const live = this.#live;
    const handle = this.#inner.setTimeout(() => {
      live.delete(handle);
      fn();
    }, ms);
    live.add(handle);
    if (!this.#referenced) hooks?.unref(handle);
    return handle;
  }

  clearTimeout(handle: TimerHandle): void {
    this.#live.delete(handle);
    this.#inner.clearTimeout(handle);
  }

  unref(): void {
    this.#referenced = false;
    if (hooks) for (const handle of this.#live) hooks.unref(handle);
  }

  ref(): void {
    this.#referenced = true;
    if (hooks) for (const handle of this.#live) hooks.ref(handle);
  }
}
