/**
 * Idle detection in the spirit of Netty's IdleStateHandler: it reports that a
 * connection has read nothing, written nothing, or done neither for a while.
 * What to do about it is the caller's policy.
 *
 * @module
 */

import { realClock, type Clock, type TimerHandle } from "../timers/clock.ts";
import { invalidOption } from "../errors.ts";
import { checkMillis } from "../options.ts";

/** Which direction was idle: nothing received, nothing written, or neither. */
export type IdleKind = "read" | "write" | "all";

/** Reported each time a connection has been idle for the configured time. */
export interface IdleEvent {
  readonly kind: IdleKind;
  /** True for the first report after activity; later reports (every timeout while still idle) are false. */
  readonly first: boolean;
  /** Milliseconds since the last observed activity of this kind. */
  readonly idleMs: number;
}

/**
 * Idle timeouts in ms, per direction; 0 or absent disables one.
 *
 * Detection samples the connection's byte counters, so it adds nothing to the
 * read/write path: a report comes after at least the timeout and at most a
 * quarter of it later. A connection that is paused (by `pause()` or by a
 * handler that does not read) receives nothing, so it becomes read-idle.
 */
export interface IdleTimeoutOptions {
  /** No bytes received for this long. */
  read?: number;
  /** No bytes handed to `write()` for this long. */
  write?: number;
  /** Neither for this long. */
  all?: number;
  /**
   * `"close"` (default): destroy the connection with an ETIMEDOUT error.
   * `"event"`: emit `"idle"` on the handler's context and leave the decision to the handler.
   */
  action?: "close" | "event";
}

/** Validated idle settings; undefined means idle detection is off. */
export interface IdleSettings {
  readonly read: number;
  readonly write: number;
  readonly all: number;
  readonly action: "close" | "event";
}

/**
 * Validates `idleTimeout`; returns undefined when every timeout is disabled.
 *
 * @example
 * ```ts
 * import { checkIdleTimeout } from "./idle-timeout.ts"; // internal: listen({ idleTimeout }) calls it
 * const settings = checkIdleTimeout({ read: 30_000, action: "event" });
 * ```
 */
export function checkIdleTimeout(value: unknown): IdleSettings | undefined {
  if (value === undefined) return undefined;
  if (value === null || typeof value !== "object") throw invalidOption("idleTimeout", value, "an object { read?, write?, all?, action? }");
  const o = value as Record<string, unknown>;
  const limit = (name: IdleKind): number => {
    const ms = checkMillis(`idleTimeout.${name}`, o[name]) ?? 0;
    return ms === Infinity ? 0 : ms;
  };
  const action = o.action ?? "close";
  if (action !== "close" && action !== "event") throw invalidOption("idleTimeout.action", action, `"close" or "event"`);
  const settings: IdleSettings = { read: limit("read"), write: limit("write"), all: limit("all"), action };
  return settings.read || settings.write || settings.all ? settings : undefined;
}

/** What the watcher samples: a connection's byte counters. */
interface ByteCounters {
  readonly bytesRead: number;
  readonly bytesWritten: number;
}

/** One direction's state: when it was last active and when it is next due to report. */
interface Variant {
  readonly kind: IdleKind;
  readonly timeout: number;
  count: number;
  since: number;
  due: number;
  first: boolean;
}

/**
 * Samples a connection's counters and calls `onIdle` for each variant that has
 * been idle for its timeout, again every timeout while it stays idle.
 *
 * @example
 * ```ts
 * import { listen } from "wireline";
 * // The server runs one watcher per connection; the handler hears its events.
 * const server = await listen({ port: 0, idleTimeout: { all: 60_000, action: "event" } }, (conn, ctx) => {
 *   ctx.on("idle", (e) => {
 *     if (e.kind === "all") conn.destroy();
 *   });
 * });
 * ```
 */
export class IdleWatcher {
  readonly #source: ByteCounters;
  readonly #onIdle: (event: IdleEvent) => void;
  readonly #variants: Variant[] = [];
  readonly #clock: Clock;
  readonly #period: number;
  #timer: TimerHandle | undefined;
  #stopped = false;

  /** `clock` is the seam for deterministic tests; the runtime's by default. */
  constructor(source: ByteCounters, settings: IdleSettings, onIdle: (event: IdleEvent) => void, clock: Clock = realClock) {
    this.#source = source;
    this.#onIdle = onIdle;
    this.#clock = clock;
    const now = clock.now();
    for (const kind of ["read", "write", "all"] as const) {
      const timeout = settings[kind];
      if (timeout > 0) this.#variants.push({ kind, timeout, count: this.#count(kind), since: now, due: now + timeout, first: true });
    }
    const shortest = Math.min(...this.#variants.map((v) => v.timeout));
    // Sampling at a quarter of the shortest timeout bounds how late a report can be.
    this.#period = Math.max(1, shortest / 4);
    this.#schedule();
  }

  /** Stops sampling; no report follows. */
  stop(): void {
    this.#stopped = true;
    if (this.#timer !== undefined) this.#clock.clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  #schedule(): void {
    this.#timer = this.#clock.setTimeout(() => {
      this.#sample();
      if (!this.#stopped) this.#schedule();
    }, this.#period);
  }

  #count(kind: IdleKind): number {
    const s = this.#source;
    return kind === "read" ? s.bytesRead : kind === "write" ? s.bytesWritten : s.bytesRead + s.bytesWritten;
  }

  #sample(): void {
    const now = this.#clock.now();
    for (const v of this.#variants) {
      const count = this.#count(v.kind);
      if (count !== v.count) {
        // The activity happened since the previous sample; counting it as now never reports early.
        v.count = count;
        v.since = now;
        v.due = now + v.timeout;
        v.first = true;
      } else if (now >= v.due - 1) {
        // The 1 ms slack absorbs timers that fire a hair early against performance.now().
        const first = v.first;
        v.first = false;
        v.due = now + v.timeout;
        this.#onIdle({ kind: v.kind, first, idleMs: now - v.since });
        if (this.#stopped) return;
      }
    }
  }
}
