/**
 * The socket kernel: one implementation of the socket lifecycle and write
 * queue for every transport. An adapter supplies a {@link SocketDriver} that
 * only moves bytes; {@link createRawSocket} turns it into the core's
 * {@link RawSocket}.
 *
 * What lives here, once:
 * - the outbound queue: small writes coalesce into one driver write, and
 *   writability flips at the 64 KiB high and 32 KiB low watermarks (Netty's
 *   `WriteBufferWaterMark`), with hysteresis;
 * - `end()` and `close()` after flush; a graceful close (flush, FIN, linger
 *   until the peer's EOF, release) bounded by a close timeout;
 * - delivery: data, EOF and close that came before `start()` or while paused
 *   are held and replayed in order; EOF once; `onClose` once and last; what a
 *   driver reports past that is dropped here, so drivers report as they hear;
 *   a runtime that reads from the start is paused at the first chunk held;
 * - pull mode (`readInto`), where the driver reads into the receiver's buffer:
 *   the same delivery, one chunk per request;
 * - flush before STARTTLS, and the upgraded socket attached as soon as its
 *   driver exists, its handshake pending.
 *
 * @module
 */

import { realClock, type Clock } from "../timers/clock.ts";
import { SharedTimeouts, type SharedTimeout } from "../timers/shared-timeouts.ts";
import { NetError, toNetError, unsupported } from "../errors.ts";
import type { RawStartTlsOptions, TlsInfo } from "../tls.ts";
import { DEFAULT_HIGH_WATER_MARK, DETACHED_HANDLERS, type RawHandlers, type RawSocket, type UnsentWrites } from "../transport.ts";
import type { SocketAddress } from "../address.ts";
import type { DriverSink, SocketDriver } from "./driver.ts";

/** Below this many buffered bytes a blocked writer is told to go on (Netty's low watermark). */
const LOW_WATER_MARK = DEFAULT_HIGH_WATER_MARK / 2;
/** Queued chunks merge into one driver write up to this size: one system call instead of many. */
const COALESCE_LIMIT = 64 * 1024;
/** Held (undelivered) bytes past which the driver is asked to stop reading. */
const HOLD_LIMIT = 128 * 1024;
/** A long queue is compacted only past this many taken entries, keeping dequeue O(1). */
const COMPACT_AT = 1024;
/** Borrowed read buffers are checked against at most this many queued writes before being recycled. */
const RECYCLE_SCAN = 16;
/** Slots of the pump queue kept between bursts of closes; a larger store is let go once it empties. */
const MAX_KEPT_PUMP_SLOTS = 1024;
/** The queue of a socket that has not queued a write yet: most sockets never do. Replaced, never modified. */
const NO_WRITES: Uint8Array[] = Object.freeze([]) as unknown as Uint8Array[];

// KernelSocket's yes/no states, as bits of its #flags.
const BUSY = 1 << 0;
const NEED_DRAIN = 1 << 1;
const WRITE_SHUT = 1 << 2;
const END_REQUESTED = 1 << 3;
const SHUTDOWN_STARTED = 1 << 4;
const SHUTDOWN_DONE = 1 << 5;
const CLOSE_REQUESTED = 1 << 6;
const LINGERING = 1 << 7;
const PAUSED = 1 << 8;
const READING = 1 << 9;
const PEER_ENDED = 1 << 10;
const END_REPORTED = 1 << 11;
const DRIVER_CLOSED = 1 << 12;
const RELEASED = 1 << 13;
const RELEASED_HERE = 1 << 14;
const CLOSE_REPORTED = 1 << 15;
const SCHEDULED = 1 << 16;
const DETACHED = 1 << 17;
const PULLING = 1 << 18;
/** The driver was told to read or to pause: until then, a runtime may read on its own. */
const READ_TOLD = 1 << 19;

/**
 * Default bound, in ms, on a graceful close: flushing, FIN and lingering for
 * the peer's EOF. Past it the socket is destroyed (with ETIMEDOUT if bytes
 * were still unsent).
 *
 * @example
 * ```ts
 * import { createRawSocket, type SocketDriver } from "wireline/transport";
 * declare const driver: SocketDriver;
 * const socket = createRawSocket(driver, { closeTimeout: 2_000 }); // default 10 000
 * ```
 */
export const DEFAULT_CLOSE_TIMEOUT: number = 10_000;

/**
 * Default time, in ms, a closing socket waits after its FIN for the peer's
 * EOF, reading and discarding what still arrives. Releasing a socket with
 * unread input makes the kernel send RST, which can destroy the response the
 * peer has not read yet; lingering avoids that.
 *
 * @example
 * ```ts
 * import { createRawSocket, type SocketDriver } from "wireline/transport";
 * declare const driver: SocketDriver;
 * const socket = createRawSocket(driver, { linger: 500 }); // default 2000
 * ```
 */
export const DEFAULT_LINGER: number = 2_000;

/** Tuning of one kernel socket; the defaults suit every transport. */
export interface KernelOptions {
  /** Time source for the close and linger timers. Default: the runtime's. */
  readonly clock?: Clock;
  /** Default bound on `close()`, in ms; see {@link DEFAULT_CLOSE_TIMEOUT}. */
  readonly closeTimeout?: number;
  /** Wait for the peer's EOF after our FIN, in ms; see {@link DEFAULT_LINGER}. */
  readonly linger?: number;
}

/**
 * Wraps an adapter's driver into the core's socket. Adapters call this for
 * every socket they connect or accept.
 *
 * @example
 * ```ts
 * import { createRawSocket, type SocketDriver } from "wireline/transport";
 * declare const driver: SocketDriver;
 * const socket = createRawSocket(driver);
 * socket.start({ onData: (c) => console.log(c.length), onEnd() {}, onDrain() {}, onClose() {} });
 * ```
 */
export function createRawSocket(driver: SocketDriver, options?: KernelOptions): RawSocket {
  return new KernelSocket(driver, options);
}

/** A kernel socket's state that an open, idle socket does not need: a field each would cost every socket 8 bytes. */
class RareState {
  /** STARTTLS waits here for the queue to flush. */
  flushWaiters: (() => void)[] | undefined = undefined;
  /** Shared timeouts: set by nearly every close and nearly always cleared, a runtime timer each would cost microseconds. */
  closeTimer: SharedTimeout | undefined = undefined;
  lingerTimer: SharedTimeout | undefined = undefined;
  /** close()'s bound, in ms. */
  closeTimeout: number = DEFAULT_CLOSE_TIMEOUT;
  closeError: NetError | undefined = undefined;
  unsent: UnsentWrites | undefined = undefined;
  /** The chunk an asynchronous driver write holds (only drivers whose writes are promises). */
  inflight: Uint8Array | undefined = undefined;
  /** The bound `recycle`, made when first asked for: only connections that borrow chunks ask. */
  recycle: ((chunk: Uint8Array) => void) | undefined = undefined;
}

class KernelSocket implements RawSocket, DriverSink {
  readonly #driver: SocketDriver;
  readonly #options: KernelOptions | undefined;

  // ---- outbound ----
  /** Accepted writes not yet taken by the driver; `#head` indexes the next one. NO_WRITES until the first. */
  #queue: Uint8Array[] = NO_WRITES;
  #head = 0;
  /** Bytes accepted by write() and not yet taken by the driver (queued plus in flight). */
  #pending = 0;
  /** write() calls whose bytes are not all taken yet (for loss reports). */
  #pendingWrites = 0;
  /**
   * State of closing, failing, STARTTLS, asynchronous writes and the bound recycle, made on first use:
   * an idle socket needs none of it, and eleven fields fit JavaScriptCore's 112-byte size class (fifteen took 160).
   */
  #rare: RareState | undefined;

  // ---- delivery ----
  #handlers: RawHandlers | undefined;
  /** Chunks received before start() or while paused; undefined while delivery is live. */
  #held: Uint8Array[] | undefined;
  #heldBytes = 0;

  /**
   * The nineteen yes/no states below, as bits of one number: a server holds
   * many idle sockets, and a field each cost ~140 bytes per socket. Plain
   * (TypeScript-private) accessors, not `#` ones: V8 inlines these, while a
   * `#` accessor costs ~10 ns per access.
   */
  #flags = 0;
  /** A driver write is in flight (async), or the driver said "full" and owes writable(). */
  private get busy(): boolean { return (this.#flags & BUSY) !== 0; }
  private set busy(on: boolean) { this.#flags = on ? this.#flags | BUSY : this.#flags & ~BUSY; }
  private get needDrain(): boolean { return (this.#flags & NEED_DRAIN) !== 0; }
  private set needDrain(on: boolean) { this.#flags = on ? this.#flags | NEED_DRAIN : this.#flags & ~NEED_DRAIN; }
  /** end(), close() or destroy() was called: write() refuses from here on. */
  private get writeShut(): boolean { return (this.#flags & WRITE_SHUT) !== 0; }
  private set writeShut(on: boolean) { this.#flags = on ? this.#flags | WRITE_SHUT : this.#flags & ~WRITE_SHUT; }
  private get endRequested(): boolean { return (this.#flags & END_REQUESTED) !== 0; }
  private set endRequested(on: boolean) { this.#flags = on ? this.#flags | END_REQUESTED : this.#flags & ~END_REQUESTED; }
  private get shutdownStarted(): boolean { return (this.#flags & SHUTDOWN_STARTED) !== 0; }
  private set shutdownStarted(on: boolean) { this.#flags = on ? this.#flags | SHUTDOWN_STARTED : this.#flags & ~SHUTDOWN_STARTED; }
  private get shutdownDone(): boolean { return (this.#flags & SHUTDOWN_DONE) !== 0; }
  private set shutdownDone(on: boolean) { this.#flags = on ? this.#flags | SHUTDOWN_DONE : this.#flags & ~SHUTDOWN_DONE; }
  private get closeRequested(): boolean { return (this.#flags & CLOSE_REQUESTED) !== 0; }
  private set closeRequested(on: boolean) { this.#flags = on ? this.#flags | CLOSE_REQUESTED : this.#flags & ~CLOSE_REQUESTED; }
  /** Waiting, after our FIN, for the peer's EOF; input is discarded meanwhile. */
  private get lingering(): boolean { return (this.#flags & LINGERING) !== 0; }
  private set lingering(on: boolean) { this.#flags = on ? this.#flags | LINGERING : this.#flags & ~LINGERING; }
  private get paused(): boolean { return (this.#flags & PAUSED) !== 0; }
  private set paused(on: boolean) { this.#flags = on ? this.#flags | PAUSED : this.#flags & ~PAUSED; }
  private get reading(): boolean { return (this.#flags & READING) !== 0; }
  private set reading(on: boolean) { this.#flags = on ? this.#flags | READING : this.#flags & ~READING; }
  private get peerHasEnded(): boolean { return (this.#flags & PEER_ENDED) !== 0; }
  private set peerHasEnded(on: boolean) { this.#flags = on ? this.#flags | PEER_ENDED : this.#flags & ~PEER_ENDED; }
  private get endReported(): boolean { return (this.#flags & END_REPORTED) !== 0; }
  private set endReported(on: boolean) { this.#flags = on ? this.#flags | END_REPORTED : this.#flags & ~END_REPORTED; }
  /** The driver reported closed(); `closeError` is what onClose will carry. */
  private get driverClosed(): boolean { return (this.#flags & DRIVER_CLOSED) !== 0; }
  private set driverClosed(on: boolean) { this.#flags = on ? this.#flags | DRIVER_CLOSED : this.#flags & ~DRIVER_CLOSED; }
  private get released(): boolean { return (this.#flags & RELEASED) !== 0; }
  private set released(on: boolean) { this.#flags = on ? this.#flags | RELEASED : this.#flags & ~RELEASED; }
  /** Released by this side (close, destroy, a timeout), not by the runtime. */
  private get releasedHere(): boolean { return (this.#flags & RELEASED_HERE) !== 0; }
  private set releasedHere(on: boolean) { this.#flags = on ? this.#flags | RELEASED_HERE : this.#flags & ~RELEASED_HERE; }
  private get closeReported(): boolean { return (this.#flags & CLOSE_REPORTED) !== 0; }
  private set closeReported(on: boolean) { this.#flags = on ? this.#flags | CLOSE_REPORTED : this.#flags & ~CLOSE_REPORTED; }
  private get scheduled(): boolean { return (this.#flags & SCHEDULED) !== 0; }
  private set scheduled(on: boolean) { this.#flags = on ? this.#flags | SCHEDULED : this.#flags & ~SCHEDULED; }
  /** Detached by startTls(): the upgraded socket owns the connection. */
  private get detached(): boolean { return (this.#flags & DETACHED) !== 0; }
  private set detached(on: boolean) { this.#flags = on ? this.#flags | DETACHED : this.#flags & ~DETACHED; }
  /** Pull mode: the driver reads only when readInto() asks, until resume() returns to push mode. */
  private get pulling(): boolean { return (this.#flags & PULLING) !== 0; }
  private set pulling(on: boolean) { this.#flags = on ? this.#flags | PULLING : this.#flags & ~PULLING; }

  #rareState(): RareState {
    return (this.#rare ??= new RareState());
  }

  /** Read only when closing: not worth a field per socket. */
  get #clock(): Clock {
    return this.#options?.clock ?? realClock;
  }

  constructor(driver: SocketDriver, options: KernelOptions | undefined) {
    this.#driver = driver;
    this.#options = options;
    driver.attach(this);
  }

  get localAddress(): SocketAddress | undefined {
    return this.#driver.localAddress;
  }

  get remoteAddress(): SocketAddress | undefined {
    return this.#driver.remoteAddress;
  }

  get tls(): TlsInfo | undefined {
    return this.#driver.tls;
  }

  get handshake(): Promise<void> | undefined {
    return this.#driver.handshake;
  }

  get bufferedAmount(): number {
    return this.#pending + (this.#driver.heldBytes ?? 0);
  }

  get unsent(): UnsentWrites | undefined {
    return this.#rare?.unsent;
  }

  // ---- RawSocket: delivery ----

  start(handlers: RawHandlers): void {
    if (this.#handlers !== undefined || this.detached) throw new Error("RawSocket.start() called twice");
    this.#handlers = handlers;
    // Anything that came early is replayed from a microtask: never inside start().
    if (this.#held !== undefined || this.peerHasEnded || this.driverClosed) this.#schedule();
    else this.#read(true);
  }

  pause(): void {
    // A lingering socket must keep reading to see the peer's EOF.
    if (this.paused || this.lingering) return;
    this.paused = true;
    this.#read(false);
  }

  resume(): void {
    if (!this.paused && !this.pulling) return;
    this.paused = false;
    this.pulling = false;
    if (this.#handlers === undefined) return;
    if (this.#held !== undefined || (this.peerHasEnded && !this.endReported) || this.driverClosed) this.#schedule();
    else this.#read(true);
  }

  // ---- DriverSink ----

  received(chunk: Uint8Array): void {
    if (this.detached || this.closeReported) return;
    if (this.lingering || this.released) return; // closing: input is read only to reach the peer's EOF
    if (this.#held === undefined && !this.paused && this.#handlers !== undefined) {
      this.#handlers.onData(chunk);
      return;
    }
    (this.#held ??= []).push(chunk);
    this.#heldBytes += chunk.length;
    if ((this.#flags & READ_TOLD) === 0) {
      this.#flags |= READ_TOLD;
      this.#driver.pauseReading();
    } else if (this.#heldBytes >= HOLD_LIMIT) this.#read(false);
  }

  peerEnded(): void {
    if ((this.#flags & (DETACHED | PEER_ENDED | DRIVER_CLOSED)) !== 0) return;
    this.peerHasEnded = true;
    if (this.lingering) {
      this.#release(true);
      return;
    }
    if (this.#held === undefined && !this.paused && this.#handlers !== undefined) {
      this.endReported = true;
      this.#handlers.onEnd();
    }
  }

  writable(): void {
    if (this.detached || this.#rare?.inflight !== undefined) return;
    this.busy = false;
    this.#flush();
  }

  closed(error?: NetError): void {
    if (this.detached || this.driverClosed) return;
    // A runtime may close a socket by itself once both sides sent FIN: that is the peer's EOF, and the
    // socket stays the kernel's until it releases it (its driver reports closed again then).
    if (error === undefined && this.shutdownStarted && !this.released) return this.peerEnded();
    this.driverClosed = true;
    this.#clearTimers();
    if (!this.released) {
      // The runtime closed it under us: a failure, or a clean close that is also the peer's EOF.
      this.released = true;
      if (error !== undefined) {
        this.#rareState().closeError ??= error;
        this.#held = undefined;
        this.#heldBytes = 0;
      } else {
        this.peerHasEnded = true;
      }
    }
    this.#dropQueue();
    this.#schedule();
  }

  // ---- RawSocket: writing ----

  write(chunk: Uint8Array): boolean {
    if (this.writeShut) return false;
    const length = chunk.length;
    if (length > 0) {
      if (!this.busy && this.#pending === 0) {
        const taken = this.#driver.writeSome(chunk);
        if (typeof taken === "number") {
          if (taken < length) {
            this.#enqueue(taken === 0 ? chunk : chunk.subarray(taken));
            this.busy = true;
          }
        } else {
          this.#pending += length;
          this.#pendingWrites++;
          this.#await(chunk, 1, taken);
        }
      } else {
        this.#enqueue(chunk);
        if (!this.busy) this.#flush();
      }
    }
    const buffered = this.#pending + (this.#driver.heldBytes ?? 0);
    if (buffered < DEFAULT_HIGH_WATER_MARK) return true;
    this.needDrain = true;
    return false;
  }

  end(): void {
    if (this.writeShut) return;
    this.writeShut = true;
    this.endRequested = true;
    this.#afterWrite();
  }

  close(timeout?: number): void {
    if (this.closeRequested || this.released) return;
    this.writeShut = true;
    this.closeRequested = true;
    const ms = timeout ?? this.#options?.closeTimeout ?? DEFAULT_CLOSE_TIMEOUT;
    // The default is RareState's own: a close that releases at once (the peer ended first) then makes none.
    if (ms !== DEFAULT_CLOSE_TIMEOUT) this.#rareState().closeTimeout = ms;
    // After end() the FIN may be out already: go straight to lingering.
    if (this.shutdownDone) this.#afterShutdown();
    else this.#afterWrite();
    // Bytes still to flush, or a FIN still on its way: that wait is bounded here. A close that reached the
    // linger (or the release) at once needs no close timer: the linger timer keeps this bound too.
    if (ms !== Infinity && !this.released && !this.lingering) this.#rareState().closeTimer = SharedTimeouts.of(this.#clock).set(ms, KernelSocket.#closeTimedOut, this);
  }

  destroy(error?: NetError): void {
    if (this.released) return;
    if (error !== undefined) this.#rareState().closeError ??= error;
    this.writeShut = true;
    this.#held = undefined;
    this.#heldBytes = 0;
    this.#dropQueue();
    this.#release(false);
  }

  setNoDelay(enabled: boolean): void {
    if (!this.gone) this.#driver.setNoDelay(enabled);
  }

  setKeepAlive(enabled: boolean, initialDelay?: number): void {
    if (!this.gone) this.#driver.setKeepAlive(enabled, initialDelay);
  }

  unref(): void {
    if (!this.gone) this.#driver.unref?.();
  }

  ref(): void {
    if (!this.gone) this.#driver.ref?.();
  }

  /** Released, or detached by startTls(): the driver is not to be touched. */
  private get gone(): boolean {
    return (this.#flags & (RELEASED | DETACHED)) !== 0;
  }

  /**
   * Present only where the driver reads into memory it is given (pull mode). One function shared by every
   * socket, called as a method (`raw.readInto(into)`): receivers test for it on every read, and a bound
   * function per socket would cost a field or an allocation there.
   */
  get readInto(): ((into: Uint8Array) => void) | undefined {
    return this.#driver.readInto === undefined ? undefined : KernelSocket.#readIntoMethod;
  }

  static readonly #readIntoMethod = function (this: KernelSocket, into: Uint8Array): void {
    this.#readInto(into);
  };

  #readInto(into: Uint8Array): void {
    // Closing or closed: the close report settles the request. Lingering reads on its own, discarding.
    if (this.released || this.detached || this.closeReported || this.lingering || this.#handlers === undefined) return;
    // A request for data overrides a pause the receiver made for its own buffer limit.
    this.paused = false;
    this.pulling = true;
    if (this.#held !== undefined || (this.peerHasEnded && !this.endReported) || this.driverClosed) {
      this.#schedule(); // what was read earlier comes first, in order
      return;
    }
    this.#read(false);
    this.#driver.readInto!(into);
  }

  /** Present only where the driver reuses read memory (borrowed chunks). */
  get recycle(): ((chunk: Uint8Array) => void) | undefined {
    if (this.#driver.recycle === undefined) return undefined;
    return (this.#rareState().recycle ??= (chunk) => this.#recycle(chunk));
  }

  #recycle(chunk: Uint8Array): void {
    // A write still queued may point into this read buffer: reusing it would corrupt the write.
    if (this.released || this.#holds(chunk.buffer)) return;
    this.#driver.recycle!(chunk);
  }

  async startTls(options: RawStartTlsOptions): Promise<RawSocket> {
    const driver = this.#driver;
    if (driver.startTls === undefined) throw unsupported("startTls", "this transport has no TLS");
    // Bytes written before the upgrade go out in plain text, ahead of the handshake.
    if (this.busy || this.#pending > 0) await new Promise<void>((resolve) => (this.#rareState().flushWaiters ??= []).push(resolve));
    if (this.released) throw new NetError("ERR_SOCKET_CLOSED", "the connection closed before TLS could start");
    const held = this.#held;
    if (held !== undefined && held.length > 0) {
      if (!options.isServer) throw new NetError("ERR_TLS", `refusing to start TLS: ${this.#heldBytes} unread plain-text bytes arrived before the handshake`);
      // The client's handshake raced startTls(): it goes to the TLS layer, after what the caller held.
      const parts = options.received === undefined ? held : [options.received, ...held];
      const received = new Uint8Array(parts.reduce((n, c) => n + c.length, 0));
      let at = 0;
      for (const part of parts) {
        received.set(part, at);
        at += part.length;
      }
      options = { ...options, received };
    }
    this.#held = undefined;
    this.#heldBytes = 0;
    // Detached for good, unless refused with ERR_UNSUPPORTED: the old driver's reports reach nobody.
    this.detached = true;
    let upgraded: KernelSocket | undefined;
    try {
      const next = await driver.startTls(options);
      // A driver may hand its socket over with the handshake pending: what arrives meanwhile is held here.
      upgraded = new KernelSocket(next, this.#options);
      await next.handshake;
    } catch (error) {
      upgraded?.destroy(error as NetError);
      // Any refusal but ERR_UNSUPPORTED ends the connection: make sure the socket is let go.
      if ((error as NetError).code === "ERR_UNSUPPORTED") this.detached = false;
      else this.destroy(error as NetError);
      throw error;
    }
    return upgraded;
  }

  // ---- internals: outbound ----

  #enqueue(chunk: Uint8Array): void {
    if (this.#queue === NO_WRITES) this.#queue = [];
    this.#queue.push(chunk);
    this.#pending += chunk.length;
    this.#pendingWrites++;
  }

  /** Hands queued bytes to the driver until it is busy or the queue is empty. */
  #flush(): void {
    while (!this.busy && this.#head < this.#queue.length) {
      const writes = this.#coalescible();
      const chunk = this.#take(writes);
      const taken = this.#driver.writeSome(chunk);
      if (typeof taken !== "number") {
        this.#await(chunk, writes, taken);
        return;
      }
      this.#pending -= taken;
      if (taken < chunk.length) {
        // The rest goes back to the front, as one entry standing for the writes it carries.
        this.#unshift(chunk.subarray(taken));
        this.#pendingWrites -= writes - 1;
        this.busy = true;
      } else {
        this.#pendingWrites -= writes;
      }
    }
    this.#afterWrite();
  }

  /** Puts the unsent rest of a write back at the front of the queue. */
  #unshift(rest: Uint8Array): void {
    if (this.#head > 0) this.#queue[--this.#head] = rest;
    else if (this.#queue === NO_WRITES) this.#queue = [rest];
    else this.#queue.unshift(rest);
  }

  /** How many queued entries, from the head, fit in one coalesced write. */
  #coalescible(): number {
    const queue = this.#queue;
    let end = this.#head + 1;
    let total = queue[this.#head]!.length;
    while (end < queue.length && total + queue[end]!.length <= COALESCE_LIMIT) total += queue[end++]!.length;
    return end - this.#head;
  }

  #take(count: number): Uint8Array {
    const queue = this.#queue;
    const head = this.#head;
    let out: Uint8Array;
    if (count === 1) {
      out = queue[head]!;
    } else {
      let total = 0;
      for (let i = head; i < head + count; i++) total += queue[i]!.length;
      out = new Uint8Array(total);
      let at = 0;
      for (let i = head; i < head + count; i++) {
        out.set(queue[i]!, at);
        at += queue[i]!.length;
      }
    }
    for (let i = head; i < head + count; i++) queue[i] = undefined as unknown as Uint8Array;
    this.#head = head + count;
    if (this.#head === queue.length) {
      queue.length = 0;
      this.#head = 0;
    } else if (this.#head > COMPACT_AT && this.#head * 2 > queue.length) {
      queue.splice(0, this.#head);
      this.#head = 0;
    }
    return out;
  }

  /** Follows an asynchronous driver write; a partial one is re-issued with the rest. */
  #await(chunk: Uint8Array, writes: number, taken: Promise<number>): void {
    this.busy = true;
    const rare = this.#rareState();
    rare.inflight = chunk;
    taken.then(
      (n) => {
        if (rare.inflight !== chunk) return; // dropped by destroy()
        this.#pending -= n;
        if (n < chunk.length) {
          const rest = chunk.subarray(n);
          const more = this.#driver.writeSome(rest);
          if (typeof more !== "number") return this.#await(rest, writes, more);
          this.#pending -= more;
          if (more < rest.length) {
            rare.inflight = undefined;
            this.#unshift(rest.subarray(more));
            this.#pendingWrites -= writes - 1;
            return; // still busy: the driver owes writable()
          }
        }
        rare.inflight = undefined;
        this.#pendingWrites -= writes;
        this.busy = false;
        this.#flush();
      },
      (error: unknown) => {
        if (rare.inflight !== chunk) return;
        rare.inflight = undefined;
        this.destroy(this.#driver.writeError?.(error) ?? toNetError(error));
      },
    );
  }

  /** After bytes were taken: wake a blocked writer, STARTTLS, or the next step of end/close. */
  #afterWrite(): void {
    if (this.needDrain && this.#pending + (this.#driver.heldBytes ?? 0) < LOW_WATER_MARK) {
      this.needDrain = false;
      this.#handlers?.onDrain();
    }
    if (this.busy || this.#pending > 0) return;
    const waiters = this.#rare?.flushWaiters;
    if (waiters !== undefined) {
      this.#rare!.flushWaiters = undefined;
      for (const resolve of waiters) resolve();
    }
    if ((this.endRequested || this.closeRequested) && !this.shutdownStarted && !this.released) this.#shutdown();
  }

  #shutdown(): void {
    this.shutdownStarted = true;
    // Closing after the peer's EOF with nothing left to send: the release's close(2) sends our FIN, so a
    // separate shutdown (a system call, or an asynchronous operation) is saved. TLS must send close_notify first.
    if (this.closeRequested && this.peerHasEnded && (this.#driver.heldBytes ?? 0) === 0 && this.#driver.tls === undefined && this.#driver.handshake === undefined) {
      this.#afterShutdown();
      return;
    }
    let done: void | Promise<void>;
    try {
      done = this.#driver.shutdownWrite();
    } catch (error) {
      this.destroy(error as NetError);
      return;
    }
    if (done === undefined) this.#afterShutdown();
    else done.then(() => this.#afterShutdown(), (error: unknown) => this.destroy(error as NetError));
  }

  #afterShutdown(): void {
    this.shutdownDone = true;
    if (!this.closeRequested || this.released) return;
    if (this.peerHasEnded) {
      this.#release(true);
      return;
    }
    // Read on, discarding, until the peer's EOF: releasing with unread input would send RST.
    this.lingering = true;
    this.#held = undefined;
    this.#heldBytes = 0;
    this.#read(true);
    if (this.released) return;
    let linger = this.#options?.linger ?? DEFAULT_LINGER;
    // Reached within close() itself, before any close timer: the close timeout bounds the linger too.
    const rare = this.#rareState();
    if (rare.closeTimer === undefined) linger = Math.min(linger, rare.closeTimeout);
    rare.lingerTimer = SharedTimeouts.of(this.#clock).set(linger, KernelSocket.#lingered, this);
  }

  static #lingered(socket: KernelSocket): void {
    socket.#rare!.lingerTimer = undefined;
    socket.#release(true);
  }

  static #closeTimedOut(socket: KernelSocket): void {
    socket.#rare!.closeTimer = undefined;
    if (socket.released) return;
    const unsent = socket.bufferedAmount;
    if (socket.lingering || unsent === 0) socket.#release(true);
    else socket.destroy(new NetError("ETIMEDOUT", `close timed out after ${socket.#rare!.closeTimeout} ms with ${unsent} bytes unsent (the peer is not reading)`));
  }

  #dropQueue(): void {
    if (this.#rare?.unsent === undefined && (this.#pending > 0 || (this.#driver.heldBytes ?? 0) > 0)) {
      this.#rareState().unsent = { writes: this.#pendingWrites, bytes: this.#pending + (this.#driver.heldBytes ?? 0) };
    }
    this.#queue = NO_WRITES;
    this.#head = 0;
    this.#pending = 0;
    this.#pendingWrites = 0;
    if (this.#rare !== undefined) this.#rare.inflight = undefined;
    this.busy = false;
    this.needDrain = false;
    const waiters = this.#rare?.flushWaiters;
    if (waiters === undefined) return;
    this.#rare!.flushWaiters = undefined;
    for (const resolve of waiters) resolve();
  }

  /** True if a queued or in-flight write still refers to `buffer`. */
  #holds(buffer: ArrayBufferLike): boolean {
    if (this.#rare?.inflight?.buffer === buffer) return true;
    const queue = this.#queue;
    if (queue.length - this.#head > RECYCLE_SCAN) return true;
    for (let i = this.#head; i < queue.length; i++) if (queue[i]!.buffer === buffer) return true;
    return false;
  }

  // ---- internals: lifecycle and delivery ----

  #release(graceful: boolean): void {
    if (this.released) return;
    this.released = true;
    this.releasedHere = true;
    this.#held = undefined;
    this.#heldBytes = 0;
    this.lingering = false;
    this.#clearTimers();
    this.#driver.release(graceful);
  }

  #clearTimers(): void {
    const rare = this.#rare;
    if (rare === undefined || (rare.closeTimer === undefined && rare.lingerTimer === undefined)) return;
    const timeouts = SharedTimeouts.of(this.#clock);
    if (rare.closeTimer !== undefined) timeouts.clear(rare.closeTimer);
    if (rare.lingerTimer !== undefined) timeouts.clear(rare.lingerTimer);
    rare.closeTimer = rare.lingerTimer = undefined;
  }

  #read(on: boolean): void {
    if (on === this.reading || this.driverClosed) return;
    this.reading = on;
    this.#flags |= READ_TOLD;
    if (on) this.#driver.resumeReading();
    else this.#driver.pauseReading();
  }

  #schedule(): void {
    if (this.scheduled) return;
    this.scheduled = true;
    KernelSocket.#toPump[KernelSocket.#toPumpTail++] = this;
    queueMicrotask(KernelSocket.#pumpNext);
  }

  /**
   * Sockets whose #pump is due, in the order their microtasks were queued: each microtask pumps the oldest, so
   * order (and, where the runtime carries one, the async context of each schedule) is as with a closure per
   * schedule, which cost every close ~110 bytes on V8. Empty after every microtask checkpoint; its slots are
   * reused (emptying the array would free its store, and the next schedule allocate one again).
   */
  static readonly #toPump: (KernelSocket | undefined)[] = [];
  static #toPumpHead = 0;
  static #toPumpTail = 0;

  static #pumpNext(this: void): void {
    const queue = KernelSocket.#toPump;
    const socket = queue[KernelSocket.#toPumpHead]!;
    queue[KernelSocket.#toPumpHead++] = undefined;
    if (KernelSocket.#toPumpHead === KernelSocket.#toPumpTail) {
      KernelSocket.#toPumpHead = KernelSocket.#toPumpTail = 0;
      // A burst's store is not kept for good.
      if (queue.length > MAX_KEPT_PUMP_SLOTS) queue.length = 0;
    }
    socket.#pump();
  }

  /** Delivers what was held, then EOF, then close, stopping whenever the receiver pauses. */
  #pump(): void {
    this.scheduled = false;
    const handlers = this.#handlers;
    if (handlers === undefined || this.closeReported || this.detached) return;
    const held = this.#held;
    if (held !== undefined) {
      while (held.length > 0) {
        if (this.paused || this.#handlers !== handlers) return;
        const chunk = held.shift()!;
        this.#heldBytes -= chunk.length;
        handlers.onData(chunk);
      }
      if (this.#held === held) this.#held = undefined;
    }
    // A failure, or a close this side asked for, is reported even to a paused receiver: nothing held
    // is left to deliver, and a receiver that stopped reading must still learn that the socket is gone.
    const closeError = this.#rare?.closeError;
    if (this.paused && !(this.driverClosed && (closeError !== undefined || this.releasedHere))) return;
    if (this.peerHasEnded && !this.endReported && closeError === undefined) {
      this.endReported = true;
      handlers.onEnd();
    }
    if (this.driverClosed) {
      this.closeReported = true;
      this.#handlers = DETACHED_HANDLERS;
      handlers.onClose(closeError);
    } else if (!this.lingering && !this.pulling) {
      this.#read(true);
    }
  }
}
