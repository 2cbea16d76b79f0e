/**
 * How long a reconnecting client waits before its next attempt: capped
 * exponential backoff with jitter, or a policy of the user's own.
 *
 * @module
 */

import type { Address } from "../address.ts";
import { invalidOption, type NetError } from "../errors.ts";
import { checkKnownKeys, checkMillis } from "../options.ts";

/**
 * How the exponential delay is randomised, so that many clients that lost the
 * same server do not come back at the same instant:
 * - `"full"`: `random(0, min(max, initial * 2^(attempt-1)))` (the default);
 * - `"decorrelated"`: `min(max, random(initial, previous * 3))`;
 * - `"none"`: exactly `min(max, initial * 2^(attempt-1))`; synchronised herds, use with care.
 */
export type Jitter = "full" | "decorrelated" | "none";

/**
 * Settings of the built-in backoff.
 *
 * @example
 * ```ts
 * import { reconnecting } from "wireline";
 * const client = reconnecting("db:5432", { backoff: { initial: 200, max: 10_000, jitter: "decorrelated" } });
 * ```
 */
export interface BackoffOptions {
  /** Base delay in ms, at least 1. Default 100. */
  readonly initial?: number;
  /** Largest delay in ms. Default 30 000. */
  readonly max?: number;
  /** Default `"full"`. */
  readonly jitter?: Jitter;
}

/**
 * A custom policy: given the number of consecutive failed attempts (1 for the
 * first retry), the error that ended the last one, and the endpoint it tried,
 * returns the delay in ms before the next attempt, or `"stop"` to give up
 * (the client then closes with `ERR_RETRIES_EXHAUSTED`).
 *
 * @example
 * ```ts
 * import { reconnecting } from "wireline";
 * const client = reconnecting("db:5432", {
 *   backoff: (attempt, error) => (error.code === "ENOTFOUND" ? 5_000 : attempt > 20 ? "stop" : 250 * attempt),
 * });
 * ```
 */
export type BackoffFunction = (attempt: number, lastError: NetError, endpoint: Address | undefined) => number | "stop";

/** What the `backoff` option accepts. */
export type Backoff = BackoffOptions | BackoffFunction;

/**
 * A running backoff: `next()` for each failure, `reset()` once a connection
 * proved stable.
 *
 * @example
 * ```ts
 * import { reconnecting } from "wireline";
 * // The client builds its policy from the backoff option and resets it once a connection is stable.
 * const client = reconnecting("db:5432", { backoff: { initial: 100, max: 10_000 }, stableAfter: 5_000 });
 * ```
 */
export interface BackoffPolicy {
  /** The delay in ms before the attempt after failure number `attempt`, or `"stop"`. */
  next(attempt: number, lastError: NetError, endpoint: Address | undefined): number | "stop";
  /** Forgets the history (decorrelated jitter remembers its previous delay). */
  reset(): void;
}

/**
 * Default {@link BackoffOptions.initial}: 100 ms.
 *
 * @example
 * ```ts
 * import { reconnecting } from "wireline";
 * const client = reconnecting("db:5432", { backoff: { initial: 250 } }); // default 100
 * ```
 */
export const DEFAULT_BACKOFF_INITIAL: number = 100;
/**
 * Default {@link BackoffOptions.max}: 30 s.
 *
 * @example
 * ```ts
 * import { reconnecting } from "wireline";
 * const client = reconnecting("db:5432", { backoff: { max: 5_000 } }); // default 30 000
 * ```
 */
export const DEFAULT_BACKOFF_MAX: number = 30_000;

/**
 * Builds a {@link BackoffPolicy} from the `backoff` option, validating it.
 * `random` is injectable for tests; it must return values in [0, 1).
 *
 * @example
 * ```ts
 * import { reconnecting } from "wireline";
 * // createBackoff() is internal: the backoff option takes the same settings or a function.
 * const fixed = reconnecting("db:5432", { backoff: () => 500 });
 * ```
 */
export function createBackoff(backoff: Backoff = {}, random: () => number = Math.random): BackoffPolicy {
  if (typeof backoff === "function") {
    return {
      next(attempt, lastError, endpoint) {
        const delay = backoff(attempt, lastError, endpoint);
        if (delay === "stop") return delay;
        return checkMillis("backoff() result", delay) ?? 0;
      },
      reset() {},
    };
  }
  if (backoff === null || typeof backoff !== "object") {
    // `backoff: "none"` is a common slip: "none" is a jitter value.
    const hint = typeof backoff === "string" && ["full", "decorrelated", "none"].includes(backoff) ? ` ("${backoff}" is a jitter value: write { jitter: "${backoff}" })` : "";
    throw invalidOption("backoff", backoff, `an options object { initial?, max?, jitter?: "full" | "decorrelated" | "none" } or a function${hint}`);
  }
  checkKnownKeys(backoff, ["initial", "max", "jitter"], "backoff");
  // An initial delay of 0 would make every full-jitter delay 0: a tight reconnect loop.
  const initial = checkMillis("backoff.initial", backoff.initial, 1) ?? DEFAULT_BACKOFF_INITIAL;
  const max = checkMillis("backoff.max", backoff.max) ?? Math.max(DEFAULT_BACKOFF_MAX, initial);
  const jitter = backoff.jitter ?? "full";
  if (initial === Infinity) throw invalidOption("backoff.initial", initial, "a finite number of milliseconds");
  if (max < initial) throw invalidOption("backoff.max", max, `at least backoff.initial (${initial})`);
  if (jitter !== "full" && jitter !== "decorrelated" && jitter !== "none") {
    throw invalidOption("backoff.jitter", jitter, '"full", "decorrelated" or "none"');
  }
  const ceiling = (attempt: number): number => Math.min(max, initial * 2 ** Math.max(0, attempt - 1));
  if (jitter === "none") return { next: (attempt) => ceiling(attempt), reset() {} };
  if (jitter === "full") return { next: (attempt) => random() * ceiling(attempt), reset() {} };
  let previous = initial;
  return {
    next() {
      const high = Math.max(initial, previous * 3);
      previous = Math.min(max, initial + random() * (high - initial));
      return previous;
    },
    reset() {
      previous = initial;
    },
  };
}
