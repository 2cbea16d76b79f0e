/**
 * The {@link SocketDriver} for a runtime whose sockets are pulled: each read
 * fills a buffer the caller passes (`read(into)` resolving with a count, or
 * null at EOF) and each write resolves with how much it took. The adapter
 * supplies the socket and a {@link PullRuntime} (addresses, error mapping,
 * TLS); everything else is here, once:
 * - the read loop, parked while the kernel pauses reading and woken on resume;
 * - pull mode (`readInto`): the caller's buffer, read into directly;
 * - the read-buffer policy (src/socket/read-buffer.ts), the reuse of lent
 *   buffers given back (`recycle`) and a pool of small first-read buffers;
 * - `closed` reported only after every pending operation (read loop, write,
 *   handshake) settled, since each holds the descriptor open until then.
 *
 * @module
 */

import { formatAddress, type SocketAddress } from "../address.ts";
import { unsupported, type NetError } from "../errors.ts";
import type { RawStartTlsOptions, TlsInfo } from "../tls.ts";
import type { DriverSink, SocketDriver } from "./driver.ts";
import { chunkOfRead, endsReadBuffer, nextReadBuffer, READ_BUFFER_SIZE } from "./read-buffer.ts";

/**
 * One runtime socket whose reads fill a buffer the caller passes.
 *
 * @example
 * ```ts
 * import type { PullSocket } from "wireline/transport";
 * declare const native: PullSocket; // e.g. a runtime's TCP connection object, as it is
 * const n = await native.read(new Uint8Array(4096)); // null: the peer's EOF
 * ```
 */
export interface PullSocket {
  /** Reads once into `into`: how many bytes arrived, or null at the peer's EOF. */
  read(into: Uint8Array): Promise<number | null>;
  /** Writes some of `chunk`: how many bytes were taken. */
  write(chunk: Uint8Array): Promise<number>;
  /** Sends FIN (TLS: close_notify) once everything written was sent. */
  closeWrite(): Promise<void>;
  /** Closes at once; pending operations then fail or end. May throw if already closed. */
  close(): void;
  setNoDelay?(enabled: boolean): void;
  setKeepAlive?(enabled: boolean): void;
  ref?(): void;
  unref?(): void;
}

/** Where a STARTTLS request finds a pull socket. */
export type PullUpgradeState = "ready" | "read-pending" | "not-upgradable";

/**
 * What a runtime adds to its {@link PullSocket}s, once per adapter.
 *
 * @example
 * ```ts
 * import { toNetError, type PullRuntime, type PullSocket } from "wireline/transport";
 * const runtime: PullRuntime<PullSocket> = {
 *   localAddress: () => undefined,
 *   remoteAddress: () => undefined,
 *   mapError: (error, where) => toNetError(error, where, "EUNKNOWN"),
 * };
 * ```
 */
export interface PullRuntime<S extends PullSocket> {
  localAddress(socket: S): SocketAddress | undefined;
  remoteAddress(socket: S): SocketAddress | undefined;
  /** A failed operation as a NetError. `tlsRead`: a read of a TLS socket failed (a TLS alert is a TLS failure). */
  mapError(error: unknown, where: string | undefined, tlsRead: boolean): NetError;
  /**
   * The handshake of a TLS socket accepted before it (a driver made with `tls: "pending"`, which needs
   * this hook): rejects with a TLS NetError, and closes the socket.
   */
  handshake?(socket: S, where: string | undefined): Promise<TlsInfo>;
  /**
   * For a runtime that cannot upgrade while a read is pending: an upgradable
   * socket's loop waits for `wait()` after each of its first `reads` reads, so
   * that the code that read the peer's go-ahead can call startTls() first.
   */
  readonly upgradeWindow?: { readonly reads: number; wait(): Promise<void> };
  /**
   * STARTTLS: throws ERR_UNSUPPORTED (leaving the socket usable) unless
   * `state` is "ready"; otherwise returns the upgrade, which the driver runs
   * once it has stopped reading and reporting.
   */
  startTls?(socket: S, options: RawStartTlsOptions, state: PullUpgradeState, where: string): () => Promise<SocketDriver>;
  /** Reports `closed` once every pending operation settled; default: at once. `tls`: the socket spoke TLS. */
  reportClosed?(report: () => void, tls: boolean): void;
}

/** The first read buffer; the first read that fills it brings a full one. */
const FIRST_READ_SIZE = 4 * 1024;
/**
 * First-read buffers of ended read loops, for the next sockets: a fresh one costs ~1.8 µs where typed
 * arrays live outside the JavaScript heap, twice per connection pair. Bounded: at most 16 × 4 KiB kept.
 */
const firstReads: Uint8Array<ArrayBuffer>[] = [];
const FIRST_READS_KEPT = 16;

function closeQuietly(socket: PullSocket): void {
  try {
    socket.close();
  } catch {
    // Already closed: the goal is reached either way.
  }
}

/**
 * Turns a {@link PullSocket} into the kernel's {@link SocketDriver}.
 *
 * @example
 * ```ts
 * import { createRawSocket, PullDriver, type PullRuntime, type PullSocket } from "wireline/transport";
 * declare const runtime: PullRuntime<PullSocket>, native: PullSocket;
 * const socket = createRawSocket(new PullDriver(runtime, native));
 * ```
 */
export class PullDriver<S extends PullSocket = PullSocket> implements SocketDriver {
  readonly handshake: Promise<void> | undefined;
  tls: TlsInfo | undefined;

  readonly #runtime: PullRuntime<S>;
  readonly #socket: S;
  #sink: DriverSink | undefined;
  /** Reads left that wait for `upgradeWindow.wait()`; undefined: never upgradable. */
  #upgradeWindow: number | undefined;
  #loopStarted = false;
  /** The read loop has not ended yet: it holds the descriptor open until then, as does the last write or shutdown. */
  #loopRunning = false;
  /** What the read loop calls as it ends, once `#finish` waits for it. */
  #loopEnded: (() => void) | undefined;
  #lastWrite: Promise<unknown> | undefined;
  #readPending = false;
  #wantRead = false;
  #wake: (() => void) | undefined;
  #spare: Uint8Array<ArrayBuffer>[] | undefined;
  /** The caller's buffer for the next read (pull mode), until the loop's next report answers it. */
  #offer: Uint8Array | undefined;
  /** A pull read made outside the loop, while the loop is parked: the loop waits for it before reading again. */
  #pulling: Promise<void> | undefined;
  /** Closed, failed, or handed over to startTls: nothing more is read or reported. */
  #released = false;

  /**
   * `tls`: the session of a client, or "pending" for a TLS server socket whose handshake
   * (`runtime.handshake`) starts now. `upgradable`: a plain client that may call startTls.
   */
  constructor(runtime: PullRuntime<S>, socket: S, tls?: TlsInfo | "pending", upgradable = false) {
    this.#runtime = runtime;
    this.#socket = socket;
    this.#upgradeWindow = upgradable ? (runtime.upgradeWindow?.reads ?? 0) : undefined;
    if (tls !== "pending") {
      this.tls = tls;
      return;
    }
    this.handshake = runtime.handshake!(socket, this.#where).then(
      (info) => void (this.tls = info),
      (error: NetError) => {
        this.#finish(error);
        throw error;
      },
    );
    this.handshake.catch(() => {}); // the server awaits it; never an unhandled rejection
  }

  get localAddress(): SocketAddress | undefined {
    return this.#runtime.localAddress(this.#socket);
  }

  get remoteAddress(): SocketAddress | undefined {
    return this.#runtime.remoteAddress(this.#socket);
  }

  /** The peer (else the local end) as errors name it; only ever needed for an error. */
  get #where(): string | undefined {
    const named = this.remoteAddress ?? this.localAddress;
    return named && (named.transport === "unix" ? named.path : formatAddress(named));
  }

  attach(sink: DriverSink): void {
    this.#sink = sink;
  }

  writeSome(chunk: Uint8Array): Promise<number> {
    // The runtime's own promise: the kernel maps a rejection through writeError().
    return (this.#lastWrite = this.#socket.write(chunk));
  }

  writeError(error: unknown): NetError {
    return this.#runtime.mapError(error, this.#where, false);
  }

  shutdownWrite(): Promise<void> {
    return this.#mapped((this.#lastWrite = this.#socket.closeWrite()));
  }

  /** Graceful or not, the socket is closed: a pull socket has no abortive close. */
  release(): void {
    this.#finish(undefined);
  }

  pauseReading(): void {
    this.#wantRead = false;
  }

  resumeReading(): void {
    this.#wantRead = true;
    if (this.#loopStarted) return this.#unpark();
    this.#startLoop();
  }

  setNoDelay(enabled: boolean): void {
    if (!this.#released) this.#socket.setNoDelay?.(enabled);
  }

  setKeepAlive(enabled: boolean): void {
    if (!this.#released) this.#socket.setKeepAlive?.(enabled);
  }

  unref(): void {
    if (!this.#released) this.#socket.unref?.();
  }

  ref(): void {
    if (!this.#released) this.#socket.ref?.();
  }

  readInto(into: Uint8Array): void {
    if (this.#released) return;
    // The loop is parked, past any handshake: read here, without the promise and turn that waking it costs.
    if (this.#wake !== undefined && !this.#readPending) return this.#pull(into);
    this.#offer = into;
    if (this.#loopStarted) return this.#unpark();
    this.#startLoop();
  }

  recycle(chunk: Uint8Array): void {
    // A copied read is simply dropped.
    if (!endsReadBuffer(chunk)) return;
    const spare = (this.#spare ??= []);
    if (spare.length < 2) spare.push(new Uint8Array(chunk.buffer as ArrayBuffer));
  }

  startTls(options: RawStartTlsOptions): Promise<SocketDriver> {
    const state: PullUpgradeState = this.#upgradeWindow === undefined ? "not-upgradable" : this.#readPending ? "read-pending" : "ready";
    const runtime = this.#runtime;
    if (runtime.startTls === undefined) return Promise.reject(unsupported("startTls", "this transport cannot upgrade a connection"));
    let upgrade: () => Promise<SocketDriver>;
    try {
      upgrade = runtime.startTls(this.#socket, options, state, this.#where ?? "");
    } catch (error) {
      return Promise.reject(error);
    }
    // The upgraded driver owns the socket from here: this one neither reads nor reports again.
    this.#released = true;
    this.#unpark();
    return upgrade();
  }

  #startLoop(): void {
    this.#loopStarted = this.#loopRunning = true;
    void this.#readLoop();
  }

  #mapped<T>(op: Promise<T>): Promise<T> {
    return op.catch((error: unknown): never => {
      throw this.#runtime.mapError(error, this.#where, false);
    });
  }

  #pull(into: Uint8Array): void {
    this.#readPending = true;
    this.#pulling = this.#socket.read(into).then(
      (n) => void this.#report(n === null ? null : into.subarray(0, n)),
      (error: unknown) => void this.#report(null, error),
    );
  }

  /**
   * Reports how one read ended: its bytes, the peer's EOF (`null`), or its `error`. After our own
   * close the read was merely cancelled: nothing is reported. Returns whether reading goes on.
   */
  #report(chunk: Uint8Array | null, error?: unknown): boolean {
    this.#readPending = false;
    this.#pulling = undefined;
    if (this.#released) return false;
    if (error !== undefined) this.#finish(this.#runtime.mapError(error, this.#where, this.tls !== undefined));
    else if (chunk === null) this.#sink!.peerEnded();
    else {
      this.#sink!.received(chunk);
      return true;
    }
    return false;
  }

  #unpark(): void {
    const wake = this.#wake;
    this.#wake = undefined;
    wake?.();
  }

  async #readLoop(): Promise<void> {
    // A TLS server socket is handed over before its handshake: no data before it succeeded.
    if (this.handshake) await this.handshake.catch(() => {});
    // Small until a read fills it: an idle connection holds 4 KiB of read buffer, not 64 (RSS per idle socket 56 -> 15 KiB).
    const first = firstReads.pop() ?? new Uint8Array(FIRST_READ_SIZE);
    let buf: Uint8Array<ArrayBuffer> = first;
    // The loop catches what it throws itself: a wrapping `catch` would cost a promise and a closure per socket.
    try {
      while (!this.#released) {
        if (this.#pulling !== undefined) {
          await this.#pulling;
          continue;
        }
        // Pull mode: the caller's buffer, read into directly; no allocation and no copy.
        const into = this.#offer;
        if (into === undefined && !this.#wantRead) {
          await new Promise<void>((resolve) => (this.#wake = resolve));
          continue;
        }
        let n: number | null;
        this.#readPending = true;
        try {
          n = await this.#socket.read(into ?? buf);
        } catch (error) {
          return void this.#report(null, error);
        }
        // Whatever this read brought answers a pending offer: an offer made during a read of our own is dropped.
        this.#offer = undefined;
        let chunk: Uint8Array | null = null;
        if (n !== null && !this.#released) {
          if (into !== undefined) {
            chunk = into.subarray(0, n);
          } else {
            chunk = chunkOfRead(buf, n, true);
            buf = nextReadBuffer(buf, n) ?? this.#spare?.pop() ?? new Uint8Array(READ_BUFFER_SIZE);
          }
        }
        if (!this.#report(chunk)) return;
        if (this.#upgradeWindow) {
          this.#upgradeWindow--;
          await this.#runtime.upgradeWindow!.wait();
        }
      }
    } catch (error) {
      // A throwing receiver fails this socket rather than leaving an unhandled rejection.
      this.#finish(this.#runtime.mapError(error, this.#where, false));
    } finally {
      // No read is pending into it now, and no chunk refers to it (reads from it are copied): the next socket takes it.
      if (firstReads.length < FIRST_READS_KEPT) firstReads.push(first);
      this.#loopRunning = false;
      this.#loopEnded?.();
    }
  }

  /** Closes the socket, then reports `closed` only once every pending operation settled (see the module doc). */
  #finish(error: NetError | undefined): void {
    if (this.#released) return;
    this.#released = true;
    const sink = this.#sink!;
    closeQuietly(this.#socket);
    this.#unpark();
    const runtime = this.#runtime;
    const tls = this.tls !== undefined || this.handshake !== undefined;
    // A count of what is pending, not a chain of `then` with a closure per operation: ~0.5 KB less garbage
    // per connection pair on Deno (Promise.allSettled before the chain: ~4 µs per socket).
    let pending = 0;
    const settled = (): void => {
      if (--pending !== 0) return;
      const report = (): void => sink.closed(error);
      if (runtime.reportClosed === undefined) report();
      else runtime.reportClosed(report, tls);
    };
    // The loop ends on its own once released: it is parked, or its read settles now that the socket is closed.
    if (this.#loopRunning) {
      pending++;
      this.#loopEnded = settled;
    }
    // Each by name, not a loop over an array of them: no array and iterator per socket.
    const pulling = this.#pulling;
    const lastWrite = this.#lastWrite;
    const handshake = this.handshake;
    if (pulling !== undefined) {
      pending++;
      pulling.then(settled, settled);
    }
    if (lastWrite !== undefined) {
      pending++;
      lastWrite.then(settled, settled);
    }
    if (handshake !== undefined) {
      pending++;
      handshake.then(settled, settled);
    }
    // Never from within the release itself: the kernel expects `closed` after it.
    if (pending === 0) {
      pending = 1;
      queueMicrotask(settled);
    }
  }
}
