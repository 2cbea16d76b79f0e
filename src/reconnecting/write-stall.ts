/**
 * Write-side liveness: a connection that holds unsent bytes while the peer
 * takes none of them for too long is dead for our purposes, heartbeat or not
 * (a peer that stopped reading, a path that went dark while we write).
 *
 * @module
 */

import type { Clock, TimerHandle } from "../timers/clock.ts";

/** What the watch samples: a connection's write counters. */
export interface WriteCounters {
  /** Bytes handed to `write()` so far. */
  readonly bytesWritten: number;
  /** Of those, bytes not yet taken by the kernel. */
  readonly bufferedAmount: number;
}

/**
 * Samples a connection's write progress every quarter of `timeout` and calls
 * `onStall` once when bytes have been waiting with no progress for at least
 * `timeout` ms (reported at most half of it later). Progress is the
 * kernel taking bytes: `bytesWritten - bufferedAmount` growing. Nothing
 * buffered is never a stall.
 *
 * @example
 * ```ts
 * import { WriteStallWatch } from "./write-stall.ts";
 * import { realClock } from "../timers/clock.ts";
 * const watch = new WriteStallWatch(conn, 30_000, realClock, (ms) => conn.destroy(new Error(`no write progress for ${ms} ms`)));
 * conn.closed.then(() => watch.stop());
 * ```
 */
export class WriteStallWatch {
  readonly #counters: WriteCounters;
  readonly #timeout: number;
  readonly #clock: Clock;
  readonly #onStall: (stalledFor: number) => void;
  readonly #excused: () => boolean;
  #taken: number;
  #since: number;
  #timer: TimerHandle | undefined;

  /**
   * `excused()` returning true restarts the count: a peer that stops reading
   * while we hold back its data (our consumer does not read) is waiting for
   * us, not dead.
   */
  constructor(counters: WriteCounters, timeout: number, clock: Clock, onStall: (stalledFor: number) => void, excused: () => boolean = () => false) {
    this.#counters = counters;
    this.#timeout = timeout;
    this.#clock = clock;
    this.#onStall = onStall;
    this.#excused = excused;
    this.#taken = counters.bytesWritten - counters.bufferedAmount;
    this.#since = counters.bufferedAmount === 0 ? Infinity : clock.now();
    this.#schedule();
  }

  /** Stops sampling; no report follows. */
  stop(): void {
    if (this.#timer !== undefined) this.#clock.clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  #schedule(): void {
    this.#timer = this.#clock.setTimeout(() => this.#sample(), Math.max(1, this.#timeout / 4));
  }

  #sample(): void {
    this.#timer = undefined;
    const now = this.#clock.now();
    const { bytesWritten, bufferedAmount } = this.#counters;
    const taken = bytesWritten - bufferedAmount;
    const excused = this.#excused();
    if (bufferedAmount === 0 || taken !== this.#taken || excused) {
      // Counted from the first sample that sees bytes waiting unexcused, so a report is never early.
      this.#taken = taken;
      this.#since = bufferedAmount === 0 || excused ? Infinity : now;
    } else if (this.#since === Infinity) {
      this.#since = now;
    } else if (now - this.#since >= this.#timeout) {
      this.#onStall(now - this.#since);
      return;
    }
    this.#schedule();
  }
}
