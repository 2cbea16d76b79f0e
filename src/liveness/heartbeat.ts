/**
 * Liveness of one connection: a connection on which nothing has arrived for
 * too long is declared stale, because a half-dead peer (power loss, a
 * firewall that drops state) never sends the FIN or RST that would tell TCP.
 *
 * @module
 */

import { realClock, type Clock, type TimerHandle } from "../timers/clock.ts";
import type { Connection } from "../connection.ts";
import { invalidOption } from "../errors.ts";
import { checkKnownKeys, checkMillis } from "../options.ts";

/**
 * The `heartbeat` option. When nothing has arrived for `interval` ms, `ping`
 * (if given) is called to provoke a reply; when nothing has arrived for
 * `interval + timeout` ms, the connection is stale.
 *
 * @example
 * ```ts
 * import { reconnecting } from "wireline";
 * const client = reconnecting("broker:1883", {
 *   heartbeat: { interval: 15_000, timeout: 5_000, ping: (conn) => conn.write(Uint8Array.of(0xc0, 0x00)) },
 * });
 * ```
 */
export interface HeartbeatOptions {
  /** Silence, in ms, after which `ping` is called. Default 30 000. */
  readonly interval?: number;
  /** Further silence, in ms, after which the connection is stale. Default 10 000. */
  readonly timeout?: number;
  /**
   * Sends something the server answers (a protocol ping). Without it, only
   * traffic the server sends by itself keeps the connection alive. If it
   * throws or rejects, the connection is destroyed with that error.
   */
  readonly ping?: (conn: Connection) => void | Promise<void>;
}

/**
 * Default {@link HeartbeatOptions.interval}: 30 s.
 *
 * @example
 * ```ts
 * import { reconnecting } from "wireline";
 * const client = reconnecting("mqtt:1883", { heartbeat: { interval: 15_000, ping: (conn) => conn.write(Uint8Array.of(0xc0, 0x00)) } }); // default 30 000
 * ```
 */
export const DEFAULT_HEARTBEAT_INTERVAL: number = 30_000;
/**
 * Default {@link HeartbeatOptions.timeout}: 10 s.
 *
 * @example
 * ```ts
 * import { reconnecting } from "wireline";
 * const client = reconnecting("mqtt:1883", { heartbeat: { timeout: 5_000, ping: (conn) => conn.write(Uint8Array.of(0xc0, 0x00)) } }); // default 10 000
 * ```
 */
export const DEFAULT_HEARTBEAT_TIMEOUT: number = 10_000;

/**
 * {@link HeartbeatOptions} with defaults applied.
 *
 * @example
 * ```ts
 * import { heartbeatSettings } from "./heartbeat.ts"; // internal: the heartbeat option of reconnecting()
 * const { interval, timeout } = heartbeatSettings({}); // 30000, 10000
 * ```
 */
export interface HeartbeatSettings {
  readonly interval: number;
  readonly timeout: number;
  readonly ping: ((conn: Connection) => void | Promise<void>) | undefined;
}

/**
 * Validates the `heartbeat` option and fills in defaults.
 *
 * @example
 * ```ts
 * import { heartbeatSettings } from "./heartbeat.ts"; // internal: the heartbeat option of reconnecting()
 * const settings = heartbeatSettings({ interval: 5_000 }); // timeout 10 000
 * ```
 */
export function heartbeatSettings(options: HeartbeatOptions): HeartbeatSettings {
  if (options === null || typeof options !== "object") throw invalidOption("heartbeat", options, "an options object");
  checkKnownKeys(options, ["interval", "timeout", "ping"], "heartbeat");
  const interval = checkMillis("heartbeat.interval", options.interval, 1) ?? DEFAULT_HEARTBEAT_INTERVAL;
  const timeout = checkMillis("heartbeat.timeout", options.timeout, 1) ?? DEFAULT_HEARTBEAT_TIMEOUT;
  if (interval === Infinity || timeout === Infinity) throw invalidOption("heartbeat", "Infinity", "finite interval and timeout (omit heartbeat to turn it off)");
  if (options.ping !== undefined && typeof options.ping !== "function") throw invalidOption("heartbeat.ping", options.ping, "a function");
  return { interval, timeout, ping: options.ping };
}

/**
 * What a {@link Heartbeat} watches and whom it tells.
 *
 * @example
 * ```ts
 * import type { HeartbeatHooks } from "./heartbeat.ts"; // internal: the reconnecting client implements them
 * const hooks: HeartbeatHooks = {
 *   readBlocked: () => false,
 *   onStale: (ms) => console.log(`silent for ${ms} ms`),
 *   onPingError: (error) => console.error(error),
 * };
 * ```
 */
export interface HeartbeatHooks {
  /** True while the reader is held back by a consumer that does not read: silence then proves nothing. */
  readonly readBlocked: () => boolean;
  /** The connection is stale after `silentFor` ms without data. */
  readonly onStale: (silentFor: number) => void;
  /** `ping` threw or rejected. */
  readonly onPingError: (error: unknown) => void;
}

/**
 * Watches one connection. Data is noticed through {@link Heartbeat.touch}
 * and, as a fallback, through `conn.bytesRead`. One timer at a time; `stop()`
 * clears it.
 *
 * @example
 * ```ts
 * import { Heartbeat, heartbeatSettings } from "./heartbeat.ts"; // internal: reconnecting({ heartbeat }) runs one per connection
 * const beat = new Heartbeat(conn, heartbeatSettings({ interval: 1000, timeout: 500 }), {
 *   readBlocked: () => false,
 *   onStale: (ms) => conn.destroy(new Error(`silent for ${ms} ms`)),
 *   onPingError: (err) => conn.destroy(err as Error),
 * });
 * // later
 * beat.stop();
 * ```
 */
export class Heartbeat {
  readonly #conn: Connection;
  readonly #settings: HeartbeatSettings;
  readonly #hooks: HeartbeatHooks;
  readonly #clock: Clock;
  #lastSeen: number;
  #lastBytes: number;
  #pinged = false;
  #timer: TimerHandle | undefined;
  #stopped = false;

  /** `clock` is the seam for deterministic tests; the runtime's by default. */
  constructor(conn: Connection, settings: HeartbeatSettings, hooks: HeartbeatHooks, clock: Clock = realClock) {
    this.#conn = conn;
    this.#settings = settings;
    this.#hooks = hooks;
    this.#clock = clock;
    this.#lastSeen = clock.now();
    this.#lastBytes = conn.bytesRead;
    this.#schedule(settings.interval);
  }

  /** Data arrived now. */
  touch(): void {
    this.#lastSeen = this.#clock.now();
    this.#pinged = false;
  }

  /** Stops watching and clears the timer. */
  stop(): void {
    this.#stopped = true;
    if (this.#timer !== undefined) this.#clock.clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  #schedule(ms: number): void {
    if (this.#stopped) return;
    this.#timer = this.#clock.setTimeout(() => this.#check(), Math.max(1, ms));
  }

  #check(): void {
    this.#timer = undefined;
    const now = this.#clock.now();
    const bytes = this.#conn.bytesRead;
    if (bytes !== this.#lastBytes || this.#hooks.readBlocked()) {
      this.#lastBytes = bytes;
      this.touch();
    }
    const { interval, timeout, ping } = this.#settings;
    const silent = now - this.#lastSeen;
    if (silent >= interval + timeout) {
      this.stop();
      this.#hooks.onStale(silent);
      return;
    }
    if (silent >= interval && !this.#pinged) {
      this.#pinged = true;
      if (ping) {
        try {
          Promise.resolve(ping(this.#conn)).catch((error) => this.#pingFailed(error));
        } catch (error) {
          this.#pingFailed(error);
        }
      }
    }
    this.#schedule(silent < interval ? interval - silent : interval + timeout - silent);
  }

  #pingFailed(error: unknown): void {
    if (this.#stopped) return;
    this.stop();
    this.#hooks.onPingError(error);
  }
}
