/**
 * The one seam through which wireline reads time and sets timers, so that
 * timing logic (heartbeat, idle, first-byte, backoff, deadlines, close
 * lingering) can be tested deterministically with a fake clock.
 *
 * @module
 */

/** An opaque timer handle returned by {@link Clock.setTimeout}. */
export type TimerHandle = unknown;

/**
 * Time and timers. The default is the runtime's own (`performance.now()`,
 * `setTimeout`); tests substitute a manual clock.
 *
 * @example
 * ```ts
 * import { realClock } from "wireline/transport";
 * const started = realClock.now();
 * realClock.setTimeout(() => console.log(realClock.now() - started), 10);
 * ```
 */
export interface Clock {
  /** Monotonic milliseconds; only differences are meaningful. */
  now(): number;
  /** Calls `fn` once after `ms`. Every timer wireline sets is cleared when its owner closes. */
  setTimeout(fn: () => void, ms: number): TimerHandle;
  clearTimeout(handle: TimerHandle): void;
}

/**
 * The runtime's clock.
 *
 * @example
 * ```ts
 * import { realClock } from "wireline/transport";
 * const t = realClock.setTimeout(() => {}, 1000);
 * realClock.clearTimeout(t);
 * ```
 */
export const realClock: Clock = Object.freeze({
  now: () => performance.now(),
  setTimeout: (fn: () => void, ms: number): TimerHandle => setTimeout(fn, ms),
  clearTimeout: (handle: TimerHandle): void => clearTimeout(handle as ReturnType<typeof setTimeout>),
});
