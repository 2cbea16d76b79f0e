/**
 * The byte-level contract between wireline's runtime-agnostic core and one
 * runtime's sockets. An adapter (Node, Deno, Bun, memory) implements
 * {@link Transport}; everything else in wireline is written against it.
 *
 * Design rules every adapter follows:
 * - No Web Streams: data is pushed to {@link RawHandlers.onData} as it arrives.
 * - {@link RawSocket.write} always takes the whole chunk. Partial kernel writes
 *   are completed by the adapter, never lost. The return value only says
 *   whether the caller should wait for {@link RawHandlers.onDrain}.
 * - {@link RawHandlers.onClose} is called exactly once, last, with the error
 *   if the socket failed. After it, no other handler is called.
 * - Errors handed to the core are already {@link NetError}s with a stable code.
 *
 * @module
 */

import type { Address } from "./address.ts";
import type { NetError } from "./errors.ts";
import type { ResolvedAddress, SocketAddress } from "./address.ts";
import type { ProxyInfo } from "./proxy-protocol/types.ts";
import type { RawStartTlsOptions, RawTlsClientOptions, RawTlsServerOptions, TlsInfo } from "./tls.ts";

/**
 * Bytes accepted by `write()` that never reached the kernel because the
 * connection died first. `writes` counts the `write()` calls concerned (a
 * write partly sent counts as one).
 */
export interface UnsentWrites {
  readonly writes: number;
  readonly bytes: number;
}

/** Callbacks an adapter invokes; set once with {@link RawSocket.start}. */
export interface RawHandlers {
  /** A chunk arrived. The chunk belongs to the receiver: the adapter never reuses it. */
  onData(chunk: Uint8Array): void;
  /** The peer half-closed (FIN). The socket stays writable until closed. */
  onEnd(): void;
  /** Buffered bytes fell below the high-water mark after `write()` returned false. */
  onDrain(): void;
  /** The socket is gone. Called once, last; `error` is set if it failed. */
  onClose(error: NetError | undefined): void;
}

/**
 * One open connection as an adapter exposes it.
 *
 * @example
 * ```ts
 * import type { RawSocket } from "wireline/transport";
 * function send(raw: RawSocket, bytes: Uint8Array): boolean {
 *   return raw.write(bytes); // false: wait for onDrain before writing more
 * }
 * ```
 */
export interface RawSocket {
  /** Starts delivery to `handlers`. Data that arrived earlier is delivered first. */
  start(handlers: RawHandlers): void;
  /** Takes the whole chunk; returns false when buffered bytes reach the high-water mark. */
  write(chunk: Uint8Array): boolean;
  /** Bytes accepted by `write()` that the kernel has not taken yet. */
  readonly bufferedAmount: number;
  /** Sends FIN once buffered bytes are flushed; reading continues. */
  end(): void;
  /**
   * Closes gracefully: flushes buffered bytes, sends FIN, reads and discards
   * until the peer's EOF (briefly), then releases. Bounded by `timeout` ms
   * (default 10 000), after which the socket is destroyed: with ETIMEDOUT if
   * bytes were still unsent.
   */
  close(timeout?: number): void;
  /** Releases the socket at once, discarding buffered bytes. */
  destroy(error?: NetError): void;
  /** Stops delivering data (the kernel buffer then fills, and TCP slows the peer). */
  pause(): void;
  resume(): void;
  setNoDelay(enabled: boolean): void;
  /** What was still unsent when the socket was destroyed or failed; undefined if nothing was lost. */
  readonly unsent?: UnsentWrites | undefined;
  /**
   * Optional: the receiver is done with `chunk`, which came from `onData`,
   * and the adapter may read into its memory again. Called only for
   * connections that asked for borrowed chunks, once per chunk. Adapters
   * whose runtime hands out fresh memory anyway (Node, Bun) leave it out.
   */
  readonly recycle?: ((chunk: Uint8Array) => void) | undefined;
  /**
   * Optional, pull mode: stop reading on the socket's own schedule, and read
   * the next bytes straight into `into`; they arrive through `onData` as a
   * view of `into`. Bytes that were already read (held, or in flight) arrive
   * first instead, as ordinary chunks. One call asks for one chunk; reading
   * then stays paused until the next call or `resume()`, which returns to
   * push mode. Present only where the runtime reads into the caller's memory;
   * elsewhere the receiver copies from pushed chunks. Called as a method
   * (`raw.readInto(into)`): the kernel shares one function among its sockets.
   */
  readonly readInto?: ((into: Uint8Array) => void) | undefined;
  /** `initialDelay` in ms; adapters that cannot set the delay use the system default. */
  setKeepAlive(enabled: boolean, initialDelay?: number): void;
  /** Both ends; still readable after the socket closed. */
  readonly localAddress: SocketAddress | undefined;
  readonly remoteAddress: SocketAddress | undefined;
  /** The session of a TLS socket (set once its handshake is done); undefined for plain sockets. */
  readonly tls?: TlsInfo | undefined;
  /** The PROXY protocol header the connection arrived with (servers with `proxyProtocol`); adapters leave it out. */
  readonly proxy?: ProxyInfo | undefined;
  /**
   * A TLS socket handed over before its handshake (at accept, or at a
   * client's TCP connect): settles when the handshake is done (rejecting with
   * ERR_TLS or ERR_TLS_CERT, after which the socket reports onClose). The
   * server counts such a socket from accept and bounds the handshake with its
   * `handshakeTimeout`; a connect waits for it within its own timeout.
   */
  readonly handshake?: Promise<void>;
  /**
   * Upgrades a plain socket to TLS in place (STARTTLS). The adapter first
   * flushes buffered writes, stops calling the current handlers (not even
   * onClose), and resolves with a new, unstarted socket once the handshake has
   * succeeded. ERR_UNSUPPORTED leaves this socket untouched; any other
   * rejection (ERR_TLS_CERT, ERR_TLS) destroys it. Absent: the transport has no TLS.
   */
  startTls?(options: RawStartTlsOptions): Promise<RawSocket>;
  /** Optional: the socket stops keeping the process alive (where the transport declares `unref`). */
  unref?(): void;
  /** Optional: undoes {@link RawSocket.unref}. */
  ref?(): void;
}

/** Options a transport's `connect` receives, already validated by the core. */
export interface RawConnectOptions {
  /** Open a TLS session: resolve only once the handshake and verification have succeeded. */
  readonly tls?: RawTlsClientOptions;
  /** Bind to this local IP literal before connecting (checked against the `localAddress` capability first). */
  readonly localAddress?: string;
  /**
   * The host name `address` (an IP literal) was resolved from, when the core
   * resolves names and races their addresses. For an adapter that can dial
   * some connections only by name (Deno's TLS with a client certificate).
   */
  readonly resolvedFrom?: string;
}

/**
 * Where a transport's `connect` reports how one connect attempt ended: `opened`
 * or `failed`, once. The core owns everything else about the attempt (its
 * timeout, the caller's AbortSignal, the error a given-up attempt rejects
 * with), so an adapter only starts its runtime's connect, reports here, and
 * returns a {@link CancelConnect}. A report after the attempt was cancelled is
 * ignored, and a socket opened then is destroyed.
 *
 * @example
 * ```ts
 * import type { ConnectSink, RawSocket } from "wireline/transport";
 * declare const pending: Promise<RawSocket>; // a runtime's connect, wrapped into the core's socket
 * function report(sink: ConnectSink): void {
 *   pending.then((socket) => sink.opened(socket), (error: unknown) => sink.failed(error));
 * }
 * ```
 */
export interface ConnectSink {
  /** The address dialled (the one `connect` received), for handlers shared by every socket. */
  readonly address: Address;
  /** The address dialled, formatted as errors name it ("127.0.0.1:6379"). */
  readonly label: string;
  /**
   * The peer of a socket connected to `address`, when the core knows it without
   * asking the runtime (a canonical IP literal; undefined for a name or a Unix
   * path): one frozen object that the connections to a target share, for
   * `remoteAddress`, so an adapter need not ask the runtime (a system call).
   * Optional, so that a sink wrapped by hand still type-checks: without it,
   * the adapter asks.
   */
  readonly peer?: SocketAddress | undefined;
  /**
   * The connection is open; with `tls`, its handshake succeeded and the peer
   * was verified, or it is still pending as {@link RawSocket.handshake}: the
   * core then waits for it, and destroys the socket if it fails or the
   * attempt is given up meanwhile.
   */
  opened(socket: RawSocket): void;
  /** The connect failed: a {@link NetError}, or a runtime error the core normalises with `toNetError`. */
  failed(error: unknown): void;
}

/**
 * Stops one connect in flight: the core gave up on it (timeout, abort, or
 * another address won the race). It releases at once whatever the attempt
 * holds (the half-open socket, a pending handshake), so that nothing keeps
 * the process alive; it reports nothing.
 */
export type CancelConnect = () => void;

/** Options a transport's `listen` receives, already validated by the core. */
export interface RawListenOptions {
  readonly address: Address;
  readonly backlog?: number;
  readonly reusePort?: boolean;
  readonly ipv6Only?: boolean;
  /** Serve TLS: sockets are handed over at accept, with {@link RawSocket.handshake} pending. */
  readonly tls?: RawTlsServerOptions;
}

/**
 * A bound listening socket.
 *
 * @example
 * ```ts
 * import type { RawListener } from "wireline/transport";
 * async function stop(listener: RawListener): Promise<void> {
 *   console.log("closing", listener.address);
 *   await listener.close();
 * }
 * ```
 */
export interface RawListener {
  /** The bound address, with the real port when port 0 was asked for. */
  readonly address: SocketAddress;
  /** Stops accepting and releases the port. Accepted sockets are left alone. */
  close(): Promise<void>;
  /** Optional: the listener stops keeping the process alive (where the transport declares `unref`). */
  unref?(): void;
  /** Optional: undoes {@link RawListener.unref}. */
  ref?(): void;
}

/** `true`: the transport can do it. A string: it cannot, and why (the text of its ERR_UNSUPPORTED). */
export type Capability = true | string;

/**
 * What a transport can do, declared once per adapter. `connect`, `listen` and
 * `startTls` check these in one place, before any socket exists, and the
 * README's runtime table is tested against them.
 *
 * @example
 * ```ts
 * import type { TransportCapabilities } from "wireline/transport";
 * declare const caps: TransportCapabilities;
 * if (caps.reusePort !== true) console.log("no SO_REUSEPORT here:", caps.reusePort);
 * ```
 */
export interface TransportCapabilities {
  /** TLS at all (connect with `tls`, listen with `tls`). */
  readonly tls: Capability;
  /** `unref()`/`ref()` on connections, servers and reconnecting clients. */
  readonly unref: Capability;
  /** TLS over a Unix domain socket. */
  readonly tlsOverUnix: Capability;
  /** `rejectUnauthorized: false` on a client. */
  readonly skipVerification: Capability;
  /** A client certificate (`tls.cert`/`tls.key`) on connect. */
  readonly clientCertificate: Capability;
  /** `requestCert` (mutual TLS) on a server. */
  readonly requestCert: Capability;
  /** Client-side `startTls()`. */
  readonly clientStartTls: Capability;
  /** Server-side `startTls({ isServer: true })`. */
  readonly serverStartTls: Capability;
  /** A numeric `keepAlive` (the probe delay), not just on/off. */
  readonly keepAliveDelay: Capability;
  /** `reusePort` (SO_REUSEPORT) on a TCP listener. */
  readonly reusePort: Capability;
  /** `ipv6Only` on a TCP listener. */
  readonly ipv6Only: Capability;
  /** `backlog` on a TCP listener. */
  readonly backlog: Capability;
  /** `backlog` on a Unix-socket listener. */
  readonly unixBacklog: Capability;
  /** `localAddress` on connect: binding the client's end before connecting. */
  readonly localAddress: Capability;
  /**
   * `listen({ tls, proxyProtocol })`: the server reads the plain-text PROXY
   * header, then runs the TLS handshake on the same socket, handing the bytes
   * read after the header to the TLS layer (server-side `startTls` with
   * `received`).
   */
  readonly proxyProtocolWithTls: Capability;
}

/**
 * What a runtime adapter provides.
 *
 * @example
 * ```ts
 * import { memoryTransport } from "wireline/memory";
 * import { createNet } from "wireline";
 * const { connect, listen } = createNet(memoryTransport);
 * ```
 */
export interface Transport {
  /** "node", "deno", "bun" or "memory": shown in errors and the support table. */
  readonly name: string;
  /** What this transport can do; checked by the core before any socket is opened. */
  readonly capabilities: TransportCapabilities;
  /**
   * Starts opening a connection and reports how it ended to `sink` (at once,
   * or later), returning how to cancel the attempt. A connect that cannot be
   * cancelled returns nothing, or simply a promise of the socket instead of
   * reporting; the core then destroys a socket that opens after it gave up.
   */
  connect(address: Address, options: RawConnectOptions, sink: ConnectSink): CancelConnect | Promise<RawSocket> | void;
  /**
   * Optional: resolves a host name to its IPv4 and IPv6 addresses with the
   * runtime's resolver (/etc/hosts included), rejecting with ENOTFOUND. The
   * core then races the addresses (Happy Eyeballs) and hands `connect` IP
   * literals only. Absent (the memory transport): host names go to `connect`
   * as they are.
   */
  resolve?(hostname: string): Promise<readonly ResolvedAddress[]>;
  /** Binds and listens; each accepted socket is handed to `onAccept` unstarted. */
  listen(options: RawListenOptions, onAccept: (socket: RawSocket) => void): Promise<RawListener>;
}

/**
 * Default write high-water mark, in bytes: `write()` returns false once this
 * much is buffered in user space (Netty's default high watermark).
 *
 * @example
 * ```ts
 * import { connect } from "wireline";
 * const conn = await connect("127.0.0.1:7000");
 * await conn.write(new Uint8Array(1024 * 1024)); // resolves once under 64 KiB are buffered
 * ```
 */
export const DEFAULT_HIGH_WATER_MARK: number = 64 * 1024;

/**
 * Handlers that ignore every event. Adapters start with them and switch back
 * to them after `onClose`, so a late event from the runtime reaches nobody.
 *
 * @example
 * ```ts
 * import type { RawHandlers } from "wireline/transport";
 * import { DETACHED_HANDLERS } from "./transport.ts"; // internal to the socket kernel
 * let handlers: RawHandlers = DETACHED_HANDLERS; // until start(handlers)
 * ```
 */
export const DETACHED_HANDLERS: RawHandlers = Object.freeze({ onData() {}, onEnd() {}, onDrain() {}, onClose() {} });
