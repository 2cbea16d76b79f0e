/**
 * The reconnecting client's supervisor: it makes connect attempts, runs each
 * connection until it dies, and decides, from the error and the retry
 * budget, whether and when to try again.
 *
 * @module
 */

import { formatAddress, type Address } from "../address.ts";
import type { Clock, TimerHandle } from "../timers/clock.ts";
import { connectWith, withAddressRotation } from "../connect/connect.ts";
import type { Connection } from "../connection.ts";
import type { EndpointSource } from "../connect/endpoints.ts";
import { NetError, toNetError, type NetErrorCode } from "../errors.ts";
import type { Transport } from "../transport.ts";
import type { ReconnectingSettings } from "./options.ts";

/** Errors no retry can fix: the client closes with them at once. */
const FATAL_CODES: ReadonlySet<NetErrorCode> = new Set<NetErrorCode>([
  "ERR_TLS_CERT",
  "ERR_INVALID_ADDRESS",
  "ERR_INVALID_OPTION",
  "ERR_UNSUPPORTED",
  // Permission denied (Deno without --allow-net, a sandbox, a socket file's mode) does not heal by itself.
  "EACCES",
]);

/**
 * Whether wireline retries `error` by default: everything but certificate
 * verification failures, invalid addresses and options, unsupported
 * features, and permission errors. An invalid address from a target
 * function is retried: it fails as `ENOTFOUND`.
 *
 * @example
 * ```ts
 * import { reconnecting } from "wireline";
 * // isRetryable() is internal: ECONNREFUSED is retried, ERR_TLS_CERT is not; shouldRetry narrows it further.
 * const client = reconnecting("db:5432", { shouldRetry: (error) => error.code !== "ENOTFOUND" });
 * ```
 */
export function isRetryable(error: NetError): boolean {
  return !FATAL_CODES.has(error.code);
}

/**
 * What the supervisor needs from the client it serves.
 *
 * @example
 * ```ts
 * import type { SupervisorHooks } from "./supervisor.ts";
 * declare const hooks: SupervisorHooks;
 * ```
 */
export interface SupervisorHooks {
  /** The client closed: stop at the next step. */
  isClosed(): boolean;
  /** The error to fail an attempt with once the client closed. */
  closeReason(): NetError;
  /** An attempt dials `endpoint` (for stats and diagnostics). */
  attempting?(endpoint: Address): void;
  /** Runs an open connection until it closes; resolves with why it closed. */
  serve(conn: Connection, endpoint: Address): Promise<NetError>;
  /** An attempt or a connection failed (for the `error` event). */
  failed(error: NetError): void;
  /** The next attempt comes after `delay` ms. */
  retrying(attempt: number, delay: number, error: NetError, endpoint: Address | undefined): void;
  /** Close for good with `error`. */
  giveUp(error: NetError): void;
}

/**
 * Runs the attempt loop of one client. `stop()` aborts the attempt in
 * flight, the handshake, or the sleep between attempts, at once.
 *
 * @example
 * ```ts
 * import { Supervisor } from "./supervisor.ts";
 * const supervisor = new Supervisor(settings, endpoints("127.0.0.1:7000"), transport, realClock, hooks);
 * supervisor.run();
 * // later
 * supervisor.stop(new NetError("ERR_SOCKET_CLOSED", "closed"));
 * ```
 */
export class Supervisor {
  readonly #settings: ReconnectingSettings<unknown>;
  readonly #source: EndpointSource;
  readonly #transport: Transport;
  readonly #clock: Clock;
  readonly #hooks: SupervisorHooks;
  /** Aborts the attempt in flight: resolving the target, connecting, or onConnect. */
  #attempt: AbortController | undefined;
  /** Attempts made so far: each starts on the next of a name's addresses. */
  #dials = 0;
  /** A connection being set up (connected, in onConnect): stop() destroys it. */
  #pending: Connection | undefined;
  #sleep: { timer: TimerHandle; wake: () => void } | undefined;
  /** The endpoint of the current attempt, once the target gave one. */
  #endpoint: Address | undefined;

  constructor(settings: ReconnectingSettings<unknown>, source: EndpointSource, transport: Transport, clock: Clock, hooks: SupervisorHooks) {
    this.#settings = settings;
    this.#source = source;
    this.#transport = transport;
    this.#clock = clock;
    this.#hooks = hooks;
  }

  /** Aborts whatever is in progress; the loop ends at its next step. */
  stop(reason: NetError): void {
    this.#attempt?.abort(reason);
    this.#pending?.destroy();
    const sleep = this.#sleep;
    this.#sleep = undefined;
    if (sleep) {
      this.#clock.clearTimeout(sleep.timer);
      sleep.wake();
    }
  }

  /** The attempt loop; returns when the client closed or gave up. */
  async run(): Promise<void> {
    const hooks = this.#hooks;
    const { backoff, maxAttempts, maxElapsed, stableAfter } = this.#settings;
    const clock = this.#clock;
    let attempt = 0;
    let streakStart = clock.now();
    while (!hooks.isClosed()) {
      let error: NetError;
      this.#endpoint = undefined;
      try {
        const opened = await this.#open();
        const openedAt = clock.now();
        error = await hooks.serve(opened.conn, opened.endpoint);
        if (clock.now() - openedAt >= stableAfter) {
          attempt = 0;
          backoff.reset();
          streakStart = clock.now();
        }
      } catch (caught) {
        const endpoint = this.#endpoint;
        error = toNetError(caught, endpoint ? formatAddress(endpoint) : this.#source.label);
      }
      const endpoint = this.#endpoint;
      if (hooks.isClosed()) return;
      hooks.failed(error);
      if (hooks.isClosed()) return;
      const fatal = this.#fatal(error);
      if (fatal) return hooks.giveUp(fatal);
      attempt++;
      const elapsed = clock.now() - streakStart;
      const where = this.#source.label;
      if (attempt >= maxAttempts) {
        return hooks.giveUp(
          new NetError("ERR_RETRIES_EXHAUSTED", `gave up after ${attempt} failed attempts in ${Math.round(elapsed)} ms (maxAttempts ${maxAttempts}); last error: ${error.message}`, { cause: error, address: where }),
        );
      }
      const delay = backoff.next(attempt, error, endpoint);
      if (delay === "stop") {
        return hooks.giveUp(
          new NetError("ERR_RETRIES_EXHAUSTED", `the backoff function stopped after ${attempt} failed attempts in ${Math.round(elapsed)} ms; last error: ${error.message}`, { cause: error, address: where }),
        );
      }
      if (elapsed + delay > maxElapsed) {
        return hooks.giveUp(
          new NetError(
            "ERR_RETRIES_EXHAUSTED",
            `gave up after ${attempt} failed attempts in ${Math.round(elapsed)} ms: the next one, in ${Math.round(delay)} ms, would pass maxElapsed (${maxElapsed} ms); last error: ${error.message}`,
            { cause: error, address: where },
          ),
        );
      }
      hooks.retrying(attempt, delay, error, endpoint);
      if (hooks.isClosed()) return;
      await this.#wait(delay);
    }
  }

  /** The error to close with if `error` must not be retried, else undefined. */
  #fatal(error: NetError): NetError | undefined {
    if (!isRetryable(error)) return error;
    const shouldRetry = this.#settings.shouldRetry;
    if (!shouldRetry) return undefined;
    try {
      return shouldRetry(error) ? undefined : error;
    } catch (thrown) {
      return toNetError(thrown, this.#source.label);
    }
  }

  /**
   * One attempt: resolve the target and connect, both within
   * `connectTimeout`, then run onConnect within `handshakeTimeout`. The
   * connection is destroyed if anything fails or the client closes meanwhile.
   */
  async #open(): Promise<{ conn: Connection; endpoint: Address }> {
    const hooks = this.#hooks;
    const { connectTimeout, socketOptions, onConnect } = this.#settings;
    const controller = new AbortController();
    this.#attempt = controller;
    let endpoint: Address | undefined;
    let conn: Connection;
    const timer =
      connectTimeout > 0 && connectTimeout !== Infinity
        ? this.#clock.setTimeout(() => {
            const what = endpoint ? `connecting to ${formatAddress(endpoint)}` : `asking ${this.#source.label} for an address`;
            controller.abort(new NetError("ETIMEDOUT", `connect attempt timed out after ${connectTimeout} ms (connectTimeout), while ${what}`, { address: endpoint ? formatAddress(endpoint) : this.#source.label }));
          }, connectTimeout)
        : undefined;
    try {
      if (hooks.isClosed()) throw hooks.closeReason();
      endpoint = await abortable(this.#source.next(), controller.signal);
      this.#endpoint = endpoint;
      hooks.attempting?.(endpoint);
      // The attempt's own timer bounds target and connect together; connect's timeout is off.
      conn = await connectWith(this.#transport, endpoint, withAddressRotation({ ...socketOptions, timeout: 0, signal: controller.signal }, this.#dials++));
    } catch (error) {
      throw controller.signal.aborted ? controller.signal.reason : error;
    } finally {
      if (timer !== undefined) this.#clock.clearTimeout(timer);
      this.#attempt = undefined;
    }
    this.#pending = conn;
    try {
      if (hooks.isClosed()) throw hooks.closeReason();
      if (onConnect) await this.#handshake(conn, onConnect, formatAddress(endpoint));
      if (hooks.isClosed()) throw hooks.closeReason();
      return { conn, endpoint };
    } catch (error) {
      conn.destroy();
      throw error;
    } finally {
      this.#pending = undefined;
    }
  }

  async #handshake(conn: Connection, onConnect: (conn: Connection) => void | Promise<void>, label: string): Promise<void> {
    const { handshakeTimeout } = this.#settings;
    let timer: TimerHandle | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = this.#clock.setTimeout(
        () => reject(new NetError("ETIMEDOUT", `onConnect did not finish within handshakeTimeout (${handshakeTimeout} ms)`, { address: label })),
        handshakeTimeout,
      );
    });
    timeout.catch(noop);
    try {
      await Promise.race([Promise.resolve().then(() => onConnect(conn)), timeout]);
    } catch (error) {
      if (error instanceof NetError) throw error;
      const why = error instanceof Error ? error.message : String(error);
      throw new NetError("ERR_HANDSHAKE_FAILED", `onConnect failed: ${why}`, { cause: error, address: label });
    } finally {
      if (timer !== undefined) this.#clock.clearTimeout(timer);
    }
  }

  /** Sleeps `ms` between attempts; stop() cuts it short. */
  #wait(ms: number): Promise<void> {
    return new Promise((wake) => {
      const timer = this.#clock.setTimeout(() => {
        this.#sleep = undefined;
        wake();
      }, ms);
      this.#sleep = { timer, wake };
    });
  }
}

const noop = (): void => {};

/** `promise`, or a rejection with the signal's reason as soon as it aborts. */
function abortable<T>(promise: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) return Promise.reject(signal.reason);
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => reject(signal.reason);
    signal.addEventListener("abort", onAbort, { once: true });
    promise.then(
      (value) => {
        signal.removeEventListener("abort", onAbort);
        resolve(value);
      },
      (error) => {
        signal.removeEventListener("abort", onAbort);
        reject(error);
      },
    );
  });
}
