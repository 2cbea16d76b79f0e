/**
 * The I/O driver: the whole of what an adapter implements for one open socket.
 *
 * A driver only moves bytes and reports what its runtime saw. Everything that
 * must behave the same on every runtime lives once, in the kernel
 * (`src/socket/socket.ts`), which wraps a driver into the core's
 * {@link RawSocket}:
 * - the write queue, coalescing, and the 64/32 KiB watermarks with hysteresis;
 * - end and close after flush, graceful close (flush, FIN, linger) and its timeout;
 * - replay of data that arrived before `start()`, pause gating, EOF once,
 *   `onClose` once and last, detach;
 * - flush before STARTTLS.
 *
 * A runtime whose reads fill a buffer the caller passes (`read(into)`
 * promises) need not write a driver: `src/socket/pull-driver.ts` is one, over
 * any such socket, with the read loop, pull mode and read buffers included.
 *
 * Modelled on Netty's split between `ChannelOutboundBuffer` (one queue for
 * every transport) and the transports that only write what it hands them.
 *
 * @module
 */

import type { NetError } from "../errors.ts";
import type { RawStartTlsOptions, TlsInfo } from "../tls.ts";
import type { SocketAddress } from "../address.ts";

/**
 * What a driver reports to the kernel. The kernel passes it once, through
 * {@link SocketDriver.attach}, before it calls anything else. A driver may
 * report what its runtime says as it comes: the kernel passes on one EOF, one
 * close and nothing after it, and nothing once `startTls` detached it.
 *
 * @example
 * ```ts
 * import type { DriverSink } from "wireline/transport";
 * function onRuntimeData(sink: DriverSink, bytes: Uint8Array): void {
 *   sink.received(bytes); // the kernel now owns `bytes`
 * }
 * ```
 */
export interface DriverSink {
  /**
   * Bytes arrived. The kernel owns the chunk from here on (unless the driver
   * supports {@link SocketDriver.recycle} and the connection asked to borrow).
   * May be called before the kernel's `start()`: the kernel holds the data.
   */
  received(chunk: Uint8Array): void;
  /** The peer half-closed (FIN or TLS close_notify). */
  peerEnded(): void;
  /** After a short synchronous `writeSome`: the runtime can take bytes again. */
  writable(): void;
  /**
   * The socket is gone: released by the kernel, reset by the peer, or failed.
   * `error` is set for failures, already a {@link NetError} with a stable code.
   * A driver reports `closed` after {@link SocketDriver.release} too (the
   * kernel tolerates it being synchronous or later). A clean close after
   * {@link SocketDriver.shutdownWrite} and before the release (a runtime that
   * closes once both sides sent FIN) counts as the peer's EOF only: the socket
   * stays the kernel's until it releases it.
   */
  closed(error?: NetError): void;
}

/**
 * One open socket as a runtime adapter implements it. The kernel serialises
 * calls: at most one `writeSome` is outstanding, and `shutdownWrite` comes only
 * after every byte it handed over was taken.
 *
 * @example
 * ```ts
 * import type { DriverSink, SocketDriver } from "wireline/transport";
 * // A driver over a hypothetical runtime socket with a partial, synchronous write.
 * declare const native: { write(b: Uint8Array): number; shutdown(): void; close(): void; pause(): void; resume(): void };
 * const driver: SocketDriver = {
 *   localAddress: undefined,
 *   remoteAddress: undefined,
 *   attach(sink: DriverSink) {},
 *   writeSome: (chunk) => native.write(chunk),
 *   shutdownWrite: () => native.shutdown(),
 *   release: () => native.close(),
 *   pauseReading: () => native.pause(),
 *   resumeReading: () => native.resume(),
 *   setNoDelay() {},
 *   setKeepAlive() {},
 * };
 * ```
 */
export interface SocketDriver {
  /**
   * Called once by the kernel, first. Reading starts at the first
   * {@link resumeReading}; a runtime that reads from the start may report
   * data before: the kernel calls {@link pauseReading} at the first chunk it
   * must hold.
   */
  attach(sink: DriverSink): void;
  /**
   * Hands bytes to the runtime and returns how many it took: synchronously
   * (a runtime with partial, non-blocking writes) or as a promise (a runtime
   * whose writes are asynchronous operations). A synchronous count below
   * `chunk.length` (0 included) means "full": the kernel calls again only
   * after {@link DriverSink.writable}. A promise may also take fewer bytes;
   * the kernel then calls again with the rest. A failed write rejects or
   * reports {@link DriverSink.closed}; it never throws synchronously.
   * The driver may keep a reference to the bytes it took until they are sent.
   */
  writeSome(chunk: Uint8Array): number | Promise<number>;
  /**
   * The NetError for a rejection of a {@link writeSome} promise, where that
   * promise is the runtime's own (absent: the rejection is mapped generically).
   * Mapping here, once a write failed, spares a promise and a microtask per write.
   */
  writeError?(error: unknown): NetError;
  /**
   * Bytes the runtime took through `writeSome` but has not sent yet (a
   * runtime's own user-space write buffer); absent or 0 where the runtime buffers nothing.
   * Counted in the kernel's `bufferedAmount` and watermarks.
   */
  readonly heldBytes?: number;
  /** Sends FIN (TLS: close_notify) once everything taken was sent; reading goes on. */
  shutdownWrite(): void | Promise<void>;
  /**
   * Releases the socket. `graceful`: the kernel flushed, and either shut the
   * write side down or got the peer's EOF with nothing left to send: a plain
   * close, which must still give the peer our FIN (as TCP's close does). Not
   * graceful (`destroy`, a timeout):
   * drop what is unsent, as abortively as the runtime allows.
   */
  release(graceful: boolean): void;
  /** Stop reading from the runtime; data in flight may still arrive (the kernel holds it). */
  pauseReading(): void;
  /** Start or resume reading. */
  resumeReading(): void;
  setNoDelay(enabled: boolean): void;
  /** `initialDelay` in ms; only called where the transport declared `keepAliveDelay`. */
  setKeepAlive(enabled: boolean, initialDelay?: number): void;
  /**
   * Both ends, still readable after release: a driver whose runtime forgets
   * them at close reads them before (or knows them, src/connect/known-addresses.ts).
   * Read only when asked for, so they may be getters.
   */
  readonly localAddress: SocketAddress | undefined;
  readonly remoteAddress: SocketAddress | undefined;
  /** The TLS session once the handshake is done; undefined for plain sockets. */
  readonly tls?: TlsInfo | undefined;
  /**
   * For a TLS socket handed over before its handshake (at accept, at a
   * client's TCP connect, or by `startTls`): settles when the handshake is
   * done (rejects with ERR_TLS / ERR_TLS_CERT). The server counts an accepted
   * socket from accept and bounds this with its handshake timeout; a connect
   * waits for it.
   */
  readonly handshake?: Promise<void>;
  /**
   * STARTTLS. The kernel has flushed every queued byte and detached: what
   * this driver reports from here reaches nobody. It upgrades and resolves
   * with a new driver, either once the handshake succeeded or at once with
   * its {@link SocketDriver.handshake} pending (the kernel attaches it and
   * holds what arrives until the handshake is done). ERR_UNSUPPORTED leaves
   * this driver usable; any other rejection means it was released.
   */
  startTls?(options: RawStartTlsOptions): Promise<SocketDriver>;
  /**
   * Optional: `chunk`, which came from {@link DriverSink.received}, is free for
   * reuse (borrowed-chunk mode; the pull driver reads into memory of its own).
   */
  recycle?(chunk: Uint8Array): void;
  /**
   * Optional, pull mode (a runtime whose reads fill a buffer the caller
   * passes): read once, straight into `into`, and report the
   * result as usual: {@link DriverSink.received} with a view of `into`,
   * {@link DriverSink.peerEnded}, or {@link DriverSink.closed}. The kernel
   * calls it only while reading is paused and owes nothing else; a read the
   * driver already had in flight answers it instead (its report comes
   * first, and `into` is then left untouched). One call, one report.
   */
  readInto?(into: Uint8Array): void;
  /** Optional: the socket stops keeping the process alive (the runtime's own `unref()` on the socket). */
  unref?(): void;
  /** Optional: undoes {@link SocketDriver.unref}. */
  ref?(): void;
}
