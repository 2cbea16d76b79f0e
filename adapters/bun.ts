/**
 * Bun adapter: wireline's {@link Transport} on `Bun.connect` / `Bun.listen`.
 *
 * Each Bun socket gets a {@link SocketDriver} that only moves bytes; the core's
 * kernel (`createRawSocket`) does the queueing, watermarks and lifecycle. Bun's
 * writes are synchronous and partial (no user-space buffer), which is exactly
 * the driver's `writeSome`.
 *
 * A pending `Bun.connect` cannot be cancelled, and it holds its descriptor and
 * the event loop until the OS gives up on the SYN (about 2 min with Linux's
 * default tcp_syn_retries=6). Probed on Bun 1.4.5: it takes no signal or
 * timeout option and returns no handle before `open`, so there is nothing to
 * close or `unref`. Bun's node:net can cancel (through an internal detached
 * socket), but adopting its handle costs about 3x per connect. So a connect
 * has no cancel hook: the core destroys an abandoned attempt's socket the
 * moment it opens (src/socket/dial.ts).
 *
 * @module
 */

import { lookup } from "node:dns/promises";
import type { Socket, SocketHandler, SocketListener, TCPSocketConnectOptions, TCPSocketListenOptions, TLSOptions, UnixSocketListener } from "bun";
import { formatAddress, tcpSocketAddress, type Address, type SocketAddress } from "../src/address.ts";
import { NetError, toNetError } from "../src/errors.ts";
import { acceptedLocal } from "../src/connect/known-addresses.ts";
import { createNet, type Net } from "../src/net.ts";
import type { DriverSink, SocketDriver } from "../src/socket/driver.ts";
import { SocketEnds } from "../src/socket/socket-ends.ts";
import { createRawSocket } from "../src/socket/socket.ts";
import type { RawStartTlsOptions, RawTlsClientOptions, RawTlsServerOptions, TlsInfo } from "../src/tls.ts";
import type { ConnectSink, RawConnectOptions, RawListener, RawListenOptions, RawSocket, Transport, TransportCapabilities } from "../src/transport.ts";
import { peerCertificateFrom, toOpenSslTlsError } from "./openssl-tls.ts";
import { onlyOn } from "./runtime-guard.ts";
import { systemResolve } from "./system-resolver.ts";
import { installDiagnostics } from "./diagnostics-node.ts";

// BunDriver's yes/no states, as bits of its `flags`: a server holds many idle sockets, and a field each costs
// every socket 8 bytes. (What it reports needs no state: the kernel passes on one EOF and one close.)
const RELEASED = 1 << 0;
/** Bun reads from `open`; paused only when the kernel says so, so that a socket never paused costs no native resume(). */
const NATIVE_PAUSED = 1 << 1;
/** A TLS socket: handed to the kernel with its `handshake` pending. */
const SECURE = 1 << 2;
const ACCEPTED = 1 << 3;
/** Bun sets TCP_NODELAY on every TCP socket it connects or accepts (strace, 1.4.5): no call while unchanged. */
const NO_DELAY = 1 << 4;

/** One Bun socket. It is the socket's `data`, so the shared handlers below reach it without a closure. */
class BunDriver extends SocketEnds implements SocketDriver {
  sock: Socket<BunDriver> | undefined;
  tls: TlsInfo | undefined;
  /** Formatted dialled or listening address, for error messages. */
  private readonly where: string;
  /** Unset before a client's connect is done, and once STARTTLS took the socket over. */
  private sink: DriverSink | undefined;
  private flags = NO_DELAY;
  /** A TLS socket's handshake, pending when the kernel gets the socket (at accept, at `open`, at STARTTLS). */
  handshake: Promise<void> | undefined;
  /** Reports once: a client's connect until `open`, then a TLS socket's handshake. */
  private settle: ((error?: NetError) => void) | undefined;

  /** `known`: see SocketEnds. */
  constructor(where: string, unixPath: string | undefined, accepted: boolean, known: SocketAddress | undefined, tls: boolean, connected?: (error?: NetError) => void) {
    super(unixPath, accepted, known);
    this.where = where;
    if (accepted) this.flags |= ACCEPTED;
    this.settle = connected;
    if (!tls) return;
    this.set(SECURE);
    if (connected === undefined) this.awaitHandshake();
  }

  private awaitHandshake(): void {
    this.handshake = new Promise<void>((resolve, reject) => (this.settle = (error) => (error ? reject(error) : resolve())));
    this.handshake.catch(() => {}); // the server or the core's dial awaits it; never an unhandled rejection
  }

  private is(flag: number): boolean {
    return (this.flags & flag) !== 0;
  }

  private set(flag: number): void {
    this.flags |= flag;
  }

  private clear(flag: number): void {
    this.flags &= ~flag;
  }

  attach(sink: DriverSink): void {
    this.sink = sink;
  }

  writeSome(chunk: Uint8Array): number {
    const n = this.sock!.write(chunk);
    if (n >= 0) return n;
    // -1: Bun has closed the socket. Reported later, so the kernel first queues the chunk and counts it unsent.
    queueMicrotask(() => this.sink?.closed(new NetError("EPIPE", "broken pipe: the peer closed the connection", { address: this.errorAddress() })));
    return 0;
  }

  shutdownWrite(): void {
    this.sock!.shutdown();
  }

  release(graceful: boolean): void {
    this.set(RELEASED);
    // end(): FIN, and Bun closes the descriptor at once (it buffers nothing). terminate(): RST.
    if (graceful) this.sock?.end();
    else this.sock?.terminate();
    this.sink?.closed();
  }

  pauseReading(): void {
    if (this.sock !== undefined && !this.is(NATIVE_PAUSED)) {
      this.set(NATIVE_PAUSED);
      this.sock.pause();
    }
  }

  resumeReading(): void {
    if (this.is(NATIVE_PAUSED) && this.sock !== undefined) {
      this.clear(NATIVE_PAUSED);
      this.sock.resume();
    }
  }

  setNoDelay(enabled: boolean): void {
    if (this.isUnix || this.sock === undefined || enabled === this.is(NO_DELAY)) return;
    if (enabled) this.set(NO_DELAY);
    else this.clear(NO_DELAY);
    this.sock.setNoDelay(enabled);
  }

  setKeepAlive(enabled: boolean, initialDelay?: number): void {
    // Bun reads a delay of 0 as "leave the system default".
    if (!this.isUnix) this.sock?.setKeepAlive(enabled, initialDelay ?? 0);
  }

  unref(): void {
    this.sock?.unref();
  }

  ref(): void {
    this.sock?.ref();
  }

  /** Resolves with the upgraded socket's driver at once, its handshake pending: the kernel holds what comes before. */
  async startTls(options: RawStartTlsOptions): Promise<SocketDriver> {
    const sock = this.sock!;
    if (options.isServer && options.received !== undefined) {
      // upgradeTLS reads only from the socket: bytes already read cannot be handed to Bun's TLS layer.
      throw new NetError(
        "ERR_TLS",
        "Bun cannot start server-side TLS after the client's handshake bytes were read: call conn.pause() before sending the go-ahead (e.g. SMTP's 220), then startTls()",
        { address: this.where },
      );
    }
    const next = new BunDriver(this.where, undefined, false, undefined, true);
    this.passEndsTo(next);
    if (!this.is(NO_DELAY)) next.clear(NO_DELAY);
    // Bun keeps calling the plain socket's handlers (with ciphertext): this driver goes silent.
    this.sink = undefined;
    const tls = options.isServer ? { ...serverTlsOptions(options.server), isServer: true } : clientTlsOptions(options.client);
    try {
      next.sock = sock.upgradeTLS<BunDriver>({ data: next, tls, socket: BUN_HANDLERS })[1];
    } catch (error) {
      sock.terminate();
      throw toOpenSslTlsError(error, this.where);
    }
    return next;
  }

  // ---- called by the shared Bun handlers ----

  onOpen(sock: Socket<BunDriver>): void {
    this.sock = sock;
    // Each of Bun's address getters is a system call, and Bun forgets them at close: read once, now, unless known.
    this.readTcpEnds(sock);
  }

  /** A client's socket is open: the connect is done, a TLS one's with its handshake pending. */
  onDialled(sock: Socket<BunDriver>): void {
    const connected = this.settle;
    this.settle = undefined;
    this.onOpen(sock);
    if (this.is(SECURE)) this.awaitHandshake();
    connected?.();
  }

  onConnectError(error: Error): void {
    const settle = this.settle;
    this.settle = undefined;
    settle?.(toNetError(error, this.where));
  }

  onHandshake(sock: Socket<BunDriver>, success: boolean, authorizationError: Error | null): void {
    const settle = this.settle;
    if (settle === undefined) return;
    if (!success) {
      // Bun would close a refused peer without an error of its own: the refusal is raised here.
      this.fail(authorizationError === null
        ? new NetError("ERR_TLS_CERT", "the peer's certificate was refused", { address: this.where })
        : toOpenSslTlsError(authorizationError, this.errorAddress()));
      sock.end();
      return;
    }
    this.settle = undefined;
    const alpn = sock.alpnProtocol;
    this.tls = {
      alpnProtocol: typeof alpn === "string" && alpn !== "" ? alpn : undefined,
      tlsVersion: sock.getTLSVersion() || undefined,
      peerCertificate: peerCertificateFrom(sock.getPeerCertificate()),
      authorized: sock.authorized,
    };
    settle();
  }

  onData(chunk: Uint8Array): void {
    this.sink?.received(chunk); // no sink: ciphertext, for a socket STARTTLS took over
  }

  onEnd(): void {
    this.sink?.peerEnded();
  }

  onDrain(): void {
    this.sink?.writable();
  }

  /**
   * Bun's `error` gets exceptions thrown by the core's handlers, which stay uncaught as on
   * Node, and the socket's own failures: TLS alerts after the handshake (a server refusing
   * our missing certificate), system errors.
   */
  onError(error: Error): void {
    if (this.is(SECURE) && isTlsAlert(error)) this.fail(toOpenSslTlsError(error, this.errorAddress()));
    else if (!(error instanceof NetError) && ("syscall" in error || "errno" in error)) this.fail(toNetError(error, this.errorAddress()));
    else throw error;
    // The kernel now sees the socket as gone and will not release it: that is done here.
    this.sock?.terminate();
  }

  onClose(error: Error | undefined): void {
    if (this.settle !== undefined) {
      if (this.is(RELEASED)) return this.fail(new NetError("ERR_SOCKET_CLOSED", "closed during the TLS handshake", { address: this.errorAddress() }));
      // Before the handshake completed, a hang-up or a reset from the peer is a TLS failure.
      return this.fail(toOpenSslTlsError(error ?? new Error("the peer closed the connection"), this.errorAddress()));
    }
    // Also once both FINs are out (the peer's may have skipped `end`), which the kernel takes as the peer's EOF.
    this.sink?.closed(error === undefined ? undefined : toNetError(error, this.errorAddress()));
  }

  // ---- internals ----

  private fail(error: NetError): void {
    this.settle?.(error);
    this.settle = undefined;
    this.sink?.closed(error);
  }

  /** The peer of an accepted socket, else the dialled or listening address. */
  private errorAddress(): string {
    const r = this.is(ACCEPTED) ? this.remoteAddress : undefined;
    return r === undefined || r.transport !== "tcp" ? this.where : formatAddress(r);
  }
}

function isTlsAlert(error: Error): boolean {
  const code = (error as { code?: unknown }).code;
  return code === "EPROTO" || (typeof code === "string" && code.startsWith("ERR_SSL_"));
}

/** One handler object for every socket: per-connection state lives in `socket.data`. */
const HANDLERS: SocketHandler<BunDriver, "uint8array"> = {
  // Plain Uint8Array chunks, the same type Node's and Deno's adapters hand over.
  binaryType: "uint8array",
  open: (sock) => sock.data.onDialled(sock),
  data: (sock, chunk) => sock.data.onData(chunk),
  // Present so that Bun does not close on the peer's FIN (half-close).
  end: (sock) => sock.data.onEnd(),
  drain: (sock) => sock.data.onDrain(),
  // Its presence makes Bun call `open` before the handshake and report every outcome here.
  handshake: (sock, success, authorizationError) => sock.data.onHandshake(sock, success, authorizationError),
  close: (sock, error) => sock.data.onClose(error),
  error: (sock, error) => sock.data.onError(error),
  // Its presence also keeps Bun from reporting the rejected connect promise as unhandled.
  connectError: (sock, error) => sock.data.onConnectError(error),
};

/** @types/bun types `socket` as a "buffer" handler whatever `binaryType` says: one cast here. */
function forBun(handlers: SocketHandler<BunDriver, "uint8array">): SocketHandler<BunDriver> {
  return handlers as unknown as SocketHandler<BunDriver>;
}

const BUN_HANDLERS: SocketHandler<BunDriver> = forBun(HANDLERS);

/** ALPN as Bun wants it: length-prefixed bytes (a plain string list silently negotiates nothing). */
function alpnWire(protocols: readonly string[] | undefined): Uint8Array | undefined {
  if (protocols === undefined) return undefined;
  const wire: number[] = [];
  for (const name of protocols) {
    const bytes = new TextEncoder().encode(name);
    wire.push(bytes.length, ...bytes);
  }
  return Uint8Array.from(wire);
}

function clientTlsOptions(o: RawTlsClientOptions): TLSOptions {
  const ca = o.ca ? [...o.ca] : undefined;
  return { serverName: o.serverName, ca, cert: o.cert, key: o.key, ALPNProtocols: alpnWire(o.alpn), rejectUnauthorized: o.rejectUnauthorized };
}

function serverTlsOptions(o: RawTlsServerOptions): TLSOptions {
  const ca = o.ca ? [...o.ca] : undefined;
  return { cert: o.cert, key: o.key, ca, requestCert: o.requestCert, rejectUnauthorized: o.requestCert, ALPNProtocols: alpnWire(o.alpn) };
}

function rawConnect(address: Address, options: RawConnectOptions, sink: ConnectSink): void {
  const tls = options.tls;
  const report = (error?: NetError): void => (error === undefined ? sink.opened(createRawSocket(driver)) : sink.failed(error));
  const driver = new BunDriver(sink.label, address.transport === "unix" ? address.path : undefined, false, sink.peer, tls !== undefined, report);
  const secure = tls && clientTlsOptions(tls);
  // The outcome comes through the handlers (open, connectError), not the promise Bun returns; a TLS socket is
  // reported at `open`, its handshake pending (the core waits for it).
  // One object literal each, no spreads: ~0.3 µs less per connect. Bun honours localAddress (an undefined one is
  // none), which its types lack.
  try {
    if (address.transport === "unix") void Bun.connect<BunDriver>({ unix: address.path, data: driver, allowHalfOpen: true, tls: secure, socket: BUN_HANDLERS });
    else {
      const tcp: TCPSocketConnectOptions<BunDriver> & { localAddress: string | undefined } = { hostname: address.hostname, port: address.port, localAddress: options.localAddress, data: driver, allowHalfOpen: true, tls: secure, socket: BUN_HANDLERS };
      void Bun.connect<BunDriver>(tcp);
    }
  } catch (error) {
    // Bun validates some options synchronously (e.g. the port range).
    sink.failed(error);
  }
}

function bunListener(listener: SocketListener<BunDriver>, address: SocketAddress): RawListener {
  // stop(false): accepted sockets live on. Bun releases the port (and unlinks a Unix path) at once.
  return { address, close: () => Promise.resolve(listener.stop(false)), unref: () => listener.unref(), ref: () => listener.ref() };
}

function rawListen(options: RawListenOptions, onAccept: (socket: RawSocket) => void): Promise<RawListener> {
  const { address } = options;
  // Updated to the bound address (real port) once listening; accepted sockets keep it for messages.
  let where = formatAddress(address);
  /** The local end of every accepted socket, when the listener's address is a specific one. */
  let local: SocketAddress | undefined;
  const unixPath = address.transport === "unix" ? address.path : undefined;
  const tls = options.tls ? serverTlsOptions(options.tls) : undefined;
  // One handler object per listener: only `open` differs, to hand sockets to this listener's onAccept.
  // A TLS socket is handed over at once, before its handshake, with `handshake` pending.
  const socket = forBun({
    ...HANDLERS,
    open(sock) {
      const driver = new BunDriver(where, unixPath, true, local, tls !== undefined);
      sock.data = driver;
      driver.onOpen(sock);
      onAccept(createRawSocket(driver));
    },
  });
  try {
    if (address.transport === "unix") {
      const l = Bun.listen<BunDriver>({ unix: address.path, allowHalfOpen: true, tls, socket });
      return Promise.resolve(bunListener(l, { transport: "unix", path: (l as UnixSocketListener<BunDriver>).unix }));
    }
    // Bun 1.4.5 honours reusePort and ipv6Only on listen (probed), though @types/bun lists them for connect only.
    const tcpOptions: TCPSocketListenOptions<BunDriver> & { reusePort?: boolean; ipv6Only?: boolean } = {
      hostname: address.hostname, port: address.port, reusePort: options.reusePort, ipv6Only: options.ipv6Only,
      allowHalfOpen: true, tls, socket,
    };
    const l = Bun.listen<BunDriver>(tcpOptions);
    // Bun echoes the hostname it was given; a name (e.g. "localhost") is reported as IPv4.
    const bound = tcpSocketAddress(l.hostname, l.port)!;
    where = formatAddress(bound);
    local = acceptedLocal(bound);
    return Promise.resolve(bunListener(l, bound));
  } catch (error) {
    // Bun throws bind errors (EADDRINUSE, EACCES) synchronously; a host name it could not
    // resolve comes without a code ("Failed to listen at <host>"): the lookup says why.
    const failed = toNetError(error, where);
    if (failed.code !== "EUNKNOWN" || address.transport !== "tcp") return Promise.reject(failed);
    return lookup(address.hostname).then(() => Promise.reject(failed), (dnsError: unknown) => Promise.reject(toNetError(dnsError, where)));
  }
}

/** Probed on Bun 1.4.5 (Linux): `ss -l` shows a listen queue of 512 whatever is passed. */
const FIXED_BACKLOG = "Bun.listen takes no backlog: its accept queue is fixed at 512";

const capabilities: TransportCapabilities = {
  tls: true,
  unref: true,
  tlsOverUnix: true,
  skipVerification: true,
  clientCertificate: true,
  requestCert: true,
  clientStartTls: true,
  serverStartTls: true,
  keepAliveDelay: true,
  reusePort: true,
  ipv6Only: true,
  backlog: FIXED_BACKLOG,
  unixBacklog: FIXED_BACKLOG,
  localAddress: true,
  proxyProtocolWithTls: "Bun's upgradeTLS reads only from the socket, so the bytes read with the PROXY header cannot reach its TLS layer; terminate TLS at the balancer",
};

/**
 * The Bun transport: TCP, Unix and TLS sockets through `Bun.connect` /
 * `Bun.listen`, each driven by the core's socket kernel.
 *
 * @example
 * ```ts
 * import { bunTransport } from "wireline/bun";
 * const listener = await bunTransport.listen(
 *   { address: { transport: "tcp", hostname: "127.0.0.1", port: 0 } },
 *   (socket) => socket.start({ onData: (c) => socket.write(c), onEnd: () => socket.close(), onDrain() {}, onClose() {} }),
 * );
 * console.log(listener.address, bunTransport.capabilities.backlog);
 * await listener.close();
 * ```
 */
// Elsewhere (JSR serves this adapter to Node and Bun too) connect and listen refuse with ERR_UNSUPPORTED naming the right import.
export const bunTransport: Transport = onlyOn("bun", { name: "bun", capabilities, connect: rawConnect, resolve: systemResolve, listen: rawListen });

export * from "../src/mod.ts";

installDiagnostics();
const api: Net = createNet(bunTransport);

/**
 * Opens a connection over the bun transport.
 *
 * @example
 * ```ts
 * import { connect } from "wireline/bun";
 * const conn = await connect("127.0.0.1:6379", { timeout: 2000 });
 * ```
 */
export const connect: Net["connect"] = api.connect;

/**
 * Listens over the bun transport.
 *
 * @example
 * ```ts
 * import { listen } from "wireline/bun";
 * const server = await listen({ port: 0 }, async (conn) => {
 *   for await (const chunk of conn) await conn.write(chunk);
 * });
 * ```
 */
export const listen: Net["listen"] = api.listen;

/**
 * A client that keeps its connection up over the bun transport: reconnects
 * with capped, jittered backoff, and queues writes while disconnected (bounded).
 *
 * @example
 * ```ts
 * import { reconnecting } from "wireline/bun";
 * const client = reconnecting("127.0.0.1:6379", { backoff: { initial: 100, max: 5_000 } });
 * client.on("reconnecting", ({ attempt, delay }) => console.log(`attempt ${attempt} in ${delay} ms`));
 * await client.write("PING\r\n");
 * ```
 */
export const reconnecting: Net["reconnecting"] = api.reconnecting;
