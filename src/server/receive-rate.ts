/**
 * The minimum receive rate a server can demand of its peers: the rule that
 * catches a slowloris, a peer that keeps a connection alive with a byte now
 * and then (Apache's mod_reqtimeout `MinRate`, Kestrel's `MinRequestBodyDataRate`).
 *
 * @module
 */

import type { Clock, TimerHandle } from "../timers/clock.ts";
import { invalidOption, NetError } from "../errors.ts";
import { checkMillis } from "../options.ts";
import type { ProxyInfo } from "../proxy-protocol/types.ts";
import type { RawHandlers, RawSocket, UnsentWrites } from "../transport.ts";
import type { SocketAddress } from "../address.ts";
import type { RawStartTlsOptions, TlsInfo } from "../tls.ts";

/**
 * At least `bytes` must arrive in every window of `per` ms while the server
 * is reading, or the connection is destroyed with ETIMEDOUT. Windows in which
 * the server did not read (the connection was queued, awaiting its filter,
 * paused by the handler, or held back because the handler fell 128 KiB
 * behind) do not count, and the rule ends when the peer half-closes.
 *
 * @example
 * ```ts
 * import { listen } from "wireline";
 * // Fewer than 512 bytes in any 10 s window while reading: the peer goes.
 * await listen({ port: 0, minReceiveRate: { bytes: 512, per: 10_000 } }, (conn) => conn.close());
 * ```
 */
export interface MinReceiveRate {
  /** Bytes that must arrive in each window; an integer ≥ 1. */
  readonly bytes: number;
  /** The window, in ms (≥ 1, finite). */
  readonly per: number;
}

/**
 * Validates `minReceiveRate`; undefined means the rule is off.
 *
 * @example
 * ```ts
 * import { checkMinReceiveRate } from "./receive-rate.ts";
 * checkMinReceiveRate({ bytes: 512, per: 10_000 }); // ok
 * ```
 */
export function checkMinReceiveRate(value: unknown): MinReceiveRate | undefined {
  if (value === undefined) return undefined;
  if (value === null || typeof value !== "object") throw invalidOption("minReceiveRate", value, "an object { bytes, per }");
  const { bytes, per, ...rest } = value as Record<string, unknown>;
  const unknown = Object.keys(rest)[0];
  if (unknown !== undefined) throw invalidOption(`minReceiveRate.${unknown}`, rest[unknown], "absent: the known keys are bytes and per");
  if (typeof bytes !== "number" || !Number.isInteger(bytes) || bytes < 1) throw invalidOption("minReceiveRate.bytes", bytes, "an integer ≥ 1");
  const window = checkMillis("minReceiveRate.per", per, 1);
  if (window === undefined || window === Infinity) throw invalidOption("minReceiveRate.per", per, "a finite number of milliseconds ≥ 1");
  return { bytes, per: window };
}

/**
 * A raw socket with the minimum-rate rule around it: it sees what the
 * connection above it does (pause, resume, data, EOF, close) and destroys the
 * socket when a window in which it was reading brought too few bytes.
 *
 * @example
 * ```ts
 * import { realClock, type RawSocket } from "wireline/transport";
 * import { Connection } from "../connection.ts"; // internal: listen({ minReceiveRate }) builds this
 * import { ReceiveRateGuard } from "./receive-rate.ts";
 * declare const raw: RawSocket;
 * const guarded = new ReceiveRateGuard(raw, { bytes: 512, per: 10_000 }, realClock, () => console.warn("too slow"));
 * const conn = new Connection(guarded, "peer");
 * ```
 */
export class ReceiveRateGuard implements RawSocket {
  readonly #inner: RawSocket;
  readonly #rate: MinReceiveRate;
  readonly #clock: Clock;
  readonly #onSlow: () => void;
  #timer: TimerHandle | undefined;
  #windowBytes = 0;
  #paused = false;
  /** A pause happened in this window: it does not count. */
  #pausedInWindow = false;
  #done = false;
  readonly recycle?: (chunk: Uint8Array) => void;
  readonly startTls?: (options: RawStartTlsOptions) => Promise<RawSocket>;

  constructor(inner: RawSocket, rate: MinReceiveRate, clock: Clock, onSlow: () => void) {
    this.#inner = inner;
    this.#rate = rate;
    this.#clock = clock;
    this.#onSlow = onSlow;
    // Only what the inner socket offers: Connection decides features by their presence.
    if (inner.recycle) this.recycle = (chunk) => inner.recycle!(chunk);
    if (inner.startTls) this.startTls = (options) => this.#upgrade(options);
  }

  start(handlers: RawHandlers): void {
    this.#timer = this.#clock.setTimeout(() => this.#check(), this.#rate.per);
    this.#inner.start({
      onData: (chunk) => {
        this.#windowBytes += chunk.length;
        handlers.onData(chunk);
      },
      onEnd: () => {
        // The peer has sent everything: nothing more can be demanded of it.
        this.#stop();
        handlers.onEnd();
      },
      onDrain: () => handlers.onDrain(),
      onClose: (error) => {
        this.#stop();
        handlers.onClose(error);
      },
    });
  }

  write(chunk: Uint8Array): boolean {
    return this.#inner.write(chunk);
  }
  get bufferedAmount(): number {
    return this.#inner.bufferedAmount;
  }
  end(): void {
    this.#inner.end();
  }
  close(timeout?: number): void {
    this.#inner.close(timeout);
  }
  destroy(error?: NetError): void {
    this.#stop();
    this.#inner.destroy(error);
  }
  pause(): void {
    this.#paused = true;
    this.#pausedInWindow = true;
    this.#inner.pause();
  }
  resume(): void {
    this.#paused = false;
    this.#inner.resume();
  }
  setNoDelay(enabled: boolean): void {
    this.#inner.setNoDelay(enabled);
  }
  setKeepAlive(enabled: boolean, initialDelay?: number): void {
    this.#inner.setKeepAlive(enabled, initialDelay);
  }
  get localAddress(): SocketAddress | undefined {
    return this.#inner.localAddress;
  }
  get remoteAddress(): SocketAddress | undefined {
    return this.#inner.remoteAddress;
  }
  get proxy(): ProxyInfo | undefined {
    return this.#inner.proxy;
  }
  get tls(): TlsInfo | undefined {
    return this.#inner.tls;
  }
  get unsent(): UnsentWrites | undefined {
    return this.#inner.unsent;
  }

  /** After STARTTLS the upgraded socket belongs to a new connection, outside this rule. */
  #upgrade(options: RawStartTlsOptions): Promise<RawSocket> {
    this.#stop();
    return this.#inner.startTls!(options);
  }

  #check(): void {
    this.#timer = undefined;
    if (this.#done) return;
    const { bytes, per } = this.#rate;
    if (!this.#pausedInWindow && this.#windowBytes < bytes) {
      this.#onSlow();
      this.destroy(new NetError("ETIMEDOUT", `received ${this.#windowBytes} bytes in ${per} ms, below minReceiveRate (${bytes} bytes per ${per} ms)`));
      return;
    }
    this.#windowBytes = 0;
    this.#pausedInWindow = this.#paused;
    this.#timer = this.#clock.setTimeout(() => this.#check(), per);
  }

  #stop(): void {
    this.#done = true;
    if (this.#timer !== undefined) this.#clock.clearTimeout(this.#timer);
    this.#timer = undefined;
  }
}
