/**
 * The Deno adapter: wireline's {@link Transport} over `Deno.connect`,
 * `Deno.listen` and Deno's TLS, for TCP and Unix domain sockets.
 *
 * Only the runtime mapping lives here: each Deno conn driven by the core's
 * PullDriver (`src/socket/pull-driver.ts`: the read loop, pull mode and the
 * read buffers), Deno's error classes mapped to stable codes, its TLS, and
 * what Deno cannot do declared in {@link TransportCapabilities}. The write
 * queue and the socket lifecycle are the kernel's (`src/socket/socket.ts`).
 *
 * @module
 */

import { formatAddress, tcpSocketAddress, type Address, type SocketAddress, type TcpAddress } from "../src/address.ts";
import { NetError, toNetError, unsupported, type NetErrorCode } from "../src/errors.ts";
import { createNet, type Net } from "../src/net.ts";
import { PullDriver, type PullRuntime } from "../src/socket/pull-driver.ts";
import { createRawSocket } from "../src/socket/socket.ts";
import { toTlsError, type RawStartTlsOptions, type RawTlsClientOptions, type TlsInfo } from "../src/tls.ts";
import type { CancelConnect, ConnectSink, RawConnectOptions, RawListener, RawListenOptions, RawSocket, Transport, TransportCapabilities } from "../src/transport.ts";
import { onlyOn } from "./runtime-guard.ts";
import { systemResolve } from "./system-resolver.ts";
import { installDiagnostics } from "./diagnostics-node.ts";

/** Reads during which a plain client may still call startTls (see `runtime.upgradeWindow`). */
const STARTTLS_READS = 64;
/** Pause before retrying after an accept error such as EMFILE, so a persistent failure does not spin. */
const ACCEPT_RETRY_MS = 100;

// The Deno API surface this adapter uses, typed locally: the repo's tsconfig (shared
// with tsc for Node and Bun) has no Deno lib, and `deno check` honours that tsconfig.

/** `Deno.NetAddr` / `Deno.UnixAddr` flattened; a client Unix socket has a null path. */
type DenoAddr = { readonly transport: string; readonly hostname?: string; readonly port?: number; readonly path?: string | null };

interface DenoConn {
  readonly localAddr: DenoAddr;
  readonly remoteAddr: DenoAddr;
  read(p: Uint8Array): Promise<number | null>;
  write(p: Uint8Array): Promise<number>;
  closeWrite(): Promise<void>;
  close(): void;
  /** TcpConn only (Nagle does not apply to Unix sockets). */
  setNoDelay?(noDelay?: boolean): void;
  /** TcpConn only; there is no delay parameter. */
  setKeepAlive?(keepAlive?: boolean): void;
  /** TlsConn only. */
  handshake?(): Promise<{ alpnProtocol: string | null }>;
  /** A pending read of an unref'd conn does not keep the process alive. */
  ref(): void;
  unref(): void;
}

type DenoListener = { readonly addr: DenoAddr; accept(): Promise<DenoConn>; close(): void; ref(): void; unref(): void };
type DenoTlsClientOptions = { hostname: string; caCerts?: string[]; alpnProtocols?: string[] };
/** `reusePort` is unstable (--unstable-net). */
type DenoTcpListenOptions = { transport: "tcp"; hostname: string; port: number; tcpBacklog?: number; reusePort?: boolean };

interface DenoApi {
  connect(options: { transport: "tcp"; hostname: string; port: number; signal?: AbortSignal } | { transport: "unix"; path: string }): Promise<DenoConn>;
  /** No AbortSignal: used only where startTls cannot do the job (a client certificate). */
  connectTls(options: DenoTlsClientOptions & { port: number; cert: string; key: string }): Promise<DenoConn>;
  startTls(conn: DenoConn, options: DenoTlsClientOptions): Promise<DenoConn>;
  listen(options: DenoTcpListenOptions | { transport: "unix"; path: string }): DenoListener;
  listenTls(options: DenoTcpListenOptions & { cert: string; key: string; alpnProtocols?: string[] }): DenoListener;
  /** Present only with --unstable-net. */
  readonly listenDatagram?: unknown;
}

const deno = (globalThis as unknown as { Deno: DenoApi }).Deno;

/** Deno's error classes (by `name`) and the stable codes they mean. */
const DENO_ERROR_CODES: Readonly<Record<string, NetErrorCode>> = {
  ConnectionRefused: "ECONNREFUSED",
  ConnectionReset: "ECONNRESET",
  ConnectionAborted: "ECONNRESET",
  BrokenPipe: "EPIPE",
  AddrInUse: "EADDRINUSE",
  AddrNotAvailable: "EADDRNOTAVAIL",
  PermissionDenied: "EACCES",
  NotCapable: "EACCES",
  NotFound: "ENOENT",
  TimedOut: "ETIMEDOUT",
  // A TLS peer that left without close_notify: the stream may be cut short.
  UnexpectedEof: "ECONNRESET",
  BadResource: "ERR_SOCKET_CLOSED",
  Interrupted: "ERR_SOCKET_CLOSED",
};

function mapError(error: unknown, address: string | undefined): NetError {
  const e = error as { name?: unknown; message?: unknown; code?: unknown } | undefined;
  // Deno's DNS failure is a plain Error with neither `code` nor a telling `name`.
  if (e?.code === undefined && typeof e?.message === "string" && e.message.includes("failed to lookup address information")) {
    return new NetError("ENOTFOUND", `host name could not be resolved (${e.message})`, { cause: error, address });
  }
  return toNetError(error, address, (typeof e?.name === "string" && DENO_ERROR_CODES[e.name]) || "EUNKNOWN");
}

/** rustls reports every refused certificate as "invalid peer certificate: <reason>". */
function tlsError(error: unknown, address: string | undefined): NetError {
  const message = (error as { message?: unknown } | undefined)?.message;
  return toTlsError(error, address, typeof message === "string" && /invalid peer certificate/i.test(message));
}

function closeQuietly(resource: { close(): void }): void {
  try {
    resource.close();
  } catch {
    // Already closed (BadResource): the goal is reached either way.
  }
}

function toSocketAddress(addr: DenoAddr): SocketAddress | undefined {
  const { transport, hostname, port, path } = addr;
  if (transport === "tcp") return tcpSocketAddress(hostname, port);
  // An unnamed (client-side) Unix socket has a null path: there is no address to show.
  return transport === "unix" && path ? { transport: "unix", path } : undefined;
}

/**
 * What Deno adds to its conns, which the core's PullDriver reads and writes: Deno's primitives are
 * `read(into)` and `write()` promises.
 */
const runtime: PullRuntime<DenoConn> = {
  // Deno keeps a conn's addresses in fields, past close: they are read only when asked for.
  localAddress: (conn) => toSocketAddress(conn.localAddr),
  remoteAddress: (conn) => toSocketAddress(conn.remoteAddr),
  // A TLS alert after the handshake (a server refusing our certificate) is a TLS failure, not an I/O one.
  mapError: (error, where, tlsRead) =>
    tlsRead && (error as { name?: unknown } | undefined)?.name === "InvalidData" ? tlsError(error, where) : mapError(error, where),
  handshake: (conn, where) => runHandshake(conn, where, false),
  // Deno.startTls fails ("Busy") while a read is pending, and a pending read cannot be cancelled. So during the
  // opening exchange of a plain client connection, where STARTTLS happens (SMTP, IMAP, PostgreSQL, XMPP), the next
  // read waits one macrotask, long enough for the code that just read the peer's go-ahead to call startTls().
  // Past these reads the loop runs at full speed.
  upgradeWindow: { reads: STARTTLS_READS, wait: () => new Promise((resolve) => setImmediate(resolve)) },
  startTls(conn, options, state, where) {
    // The core checked the capabilities (serverStartTls, skipVerification); what is left depends on this socket.
    // Each refusal leaves it usable.
    if (options.isServer) throw unsupported("server-side startTls", capabilities.serverStartTls as string);
    const o = options.client;
    if (o.cert !== undefined) throw unsupported("a client certificate on startTls", "Deno.startTls takes no certificate (connect with tls instead)");
    if (state === "not-upgradable") throw unsupported("startTls", "Deno upgrades plain TCP client connections only");
    if (state === "read-pending") {
      throw unsupported(
        "startTls at this point",
        `Deno cannot upgrade while a read is pending: call startTls() right after reading the peer's go-ahead, within the first ${STARTTLS_READS} reads`,
      );
    }
    return async () => {
      const upgraded = await upgrade(conn, o, where);
      return new PullDriver(runtime, upgraded, await runHandshake(upgraded, where, true));
    };
  },
  // A TLS stream sends close_notify from a background task that holds the descriptor one more event-loop turn.
  // A timer turn costs ~1 ms per close in Deno: only TLS needs it.
  reportClosed: (report, tls) => (tls ? void setTimeout(report, 0) : report()),
};

/** Runs the handshake now, so that verification fails at connect (or accept), not at the first read. */
async function runHandshake(conn: DenoConn, where: string | undefined, authorized: boolean): Promise<TlsInfo> {
  try {
    const info = await conn.handshake!();
    // Deno reports neither the protocol version nor certificates.
    return { alpnProtocol: info.alpnProtocol ?? undefined, tlsVersion: undefined, peerCertificate: undefined, authorized };
  } catch (error) {
    closeQuietly(conn);
    throw tlsError(error, where);
  }
}

async function upgrade(conn: DenoConn, o: RawTlsClientOptions, where: string): Promise<DenoConn> {
  try {
    return await deno.startTls(conn, { hostname: o.serverName, caCerts: o.ca && [...o.ca], alpnProtocols: o.alpn && [...o.alpn] });
  } catch (error) {
    closeQuietly(conn);
    throw tlsError(error, where);
  }
}

/** A controller whose signal never aborted: Deno.connect leaves it as it was, so the next connect reuses it. */
let spareController: AbortController | undefined;

function rawConnect(address: Address, options: RawConnectOptions, sink: ConnectSink): CancelConnect | void {
  if (options.tls !== undefined && address.transport === "tcp") return connectTls(address, options, options.tls, sink);
  // Deno.connect cancels a TCP connect through its signal, leaving nothing to keep the process alive; a Unix connect completes at once.
  const controller = address.transport === "tcp" ? (spareController ?? new AbortController()) : undefined;
  if (controller !== undefined) spareController = undefined;
  const attempt = address.transport === "tcp"
    ? deno.connect({ transport: "tcp", hostname: address.hostname, port: address.port, signal: controller!.signal })
    : deno.connect({ transport: "unix", path: address.path });
  attempt.then(
    (conn) => (keepSpare(controller), sink.opened(createRawSocket(new PullDriver(runtime, conn, undefined, address.transport === "tcp")))),
    (error: unknown) => (keepSpare(controller), sink.failed(mapError(error, sink.label))),
  );
  return controller && (() => controller.abort());
}

function keepSpare(controller: AbortController | undefined): void {
  if (controller !== undefined && !controller.signal.aborted) spareController = controller;
}

/**
 * Dials, upgrades and verifies; a cancel aborts the TCP connect, or closes the conn to end its handshake.
 * Deno 2.9 then keeps the TCP socket until the peer sends or leaves: its handshake task owns the socket,
 * and no public call reaches it (Deno.startTls consumed the TCP conn).
 */
function connectTls(address: TcpAddress, options: RawConnectOptions, tls: RawTlsClientOptions, sink: ConnectSink): CancelConnect {
  const where = sink.label;
  const controller = new AbortController();
  let conn: DenoConn | undefined;
  const open = async (): Promise<RawSocket> => {
    if (tls.cert === undefined) {
      conn = await deno.connect({ transport: "tcp", hostname: address.hostname, port: address.port, signal: controller.signal });
      conn = await upgrade(conn, tls, where);
    } else {
      // Only connectTls takes a client certificate, and it takes no signal: the attempt is abandoned on cancel, not cancelled.
      // connectTls verifies the host it dials: an address the core resolved is dialled by its name again.
      const hostname = options.resolvedFrom ?? address.hostname;
      if (tls.serverName !== hostname) {
        throw unsupported("a client certificate with a serverName other than the host dialled", "Deno.startTls takes no certificate; dial the server by that name");
      }
      conn = await deno.connectTls({ hostname, port: address.port, cert: tls.cert, key: tls.key!, caCerts: tls.ca && [...tls.ca], alpnProtocols: tls.alpn && [...tls.alpn] });
      // Given up meanwhile: closed, its handshake fails at once, and the core ignores that.
      if (controller.signal.aborted) closeQuietly(conn);
    }
    return createRawSocket(new PullDriver(runtime, conn, await runHandshake(conn, where, true)));
  };
  open().then((socket) => sink.opened(socket), (error: unknown) => sink.failed(mapError(error, where)));
  return () => {
    controller.abort();
    if (conn !== undefined) closeQuietly(conn);
  };
}

class DenoRawListener implements RawListener {
  readonly address: SocketAddress;
  readonly #listener: DenoListener;
  #closed = false;
  readonly #loop: Promise<void>;

  constructor(listener: DenoListener, address: SocketAddress, onAccept: (socket: RawSocket) => void, tls: boolean) {
    this.#listener = listener;
    this.address = address;
    this.#loop = this.#acceptLoop(onAccept, tls).catch(() => {
      // A throwing onAccept is the caller's bug; the listener keeps its port until close().
    });
  }

  async #acceptLoop(onAccept: (socket: RawSocket) => void, tls: boolean): Promise<void> {
    for (;;) {
      let conn: DenoConn;
      try {
        conn = await this.#listener.accept();
      } catch (error) {
        if (this.#closed) return;
        // Transient failures (EMFILE, ECONNABORTED) must not stop the server.
        await new Promise((resolve) => setTimeout(resolve, ACCEPT_RETRY_MS));
        if (this.#closed) return;
        continue;
      }
      // Accepted in the same instant as close(): nobody will own it.
      if (this.#closed) return closeQuietly(conn);
      // A TLS socket is handed over now, with its handshake pending, so the server counts it and bounds the handshake.
      onAccept(createRawSocket(new PullDriver(runtime, conn, tls ? "pending" : undefined)));
    }
  }

  unref(): void {
    if (!this.#closed) this.#listener.unref();
  }

  ref(): void {
    if (!this.#closed) this.#listener.ref();
  }

  async close(): Promise<void> {
    if (!this.#closed) {
      this.#closed = true;
      // The pending accept holds the listening descriptor until it rejects (BadResource).
      closeQuietly(this.#listener);
    }
    await this.#loop;
  }
}

function rawListen(options: RawListenOptions, onAccept: (socket: RawSocket) => void): Promise<RawListener> {
  // The core has refused what `capabilities` declares unsupported (ipv6Only, Unix backlog, TLS over Unix, requestCert).
  const { address, backlog, reusePort, tls } = options;
  let listener: DenoListener;
  try {
    if (address.transport === "unix") {
      listener = deno.listen({ transport: "unix", path: address.path });
    } else {
      const tcp: DenoTcpListenOptions = { transport: "tcp", hostname: address.hostname, port: address.port };
      if (backlog !== undefined) tcp.tcpBacklog = backlog;
      // Passed only when asked for: without --unstable-net even `false` is fatal.
      if (reusePort) tcp.reusePort = true;
      listener = tls ? deno.listenTls({ ...tcp, cert: tls.cert, key: tls.key, alpnProtocols: tls.alpn && [...tls.alpn] }) : deno.listen(tcp);
    }
  } catch (error) {
    // Deno throws bind errors (EADDRINUSE, EACCES) synchronously; the contract wants a rejection.
    return Promise.reject(mapError(error, formatAddress(address)));
  }
  // A listener's address is always named (a TCP address, or the Unix path it bound).
  return Promise.resolve(new DenoRawListener(listener, toSocketAddress(listener.addr)!, onAccept, tls !== undefined));
}

const capabilities: TransportCapabilities = {
  tls: true,
  unref: true,
  tlsOverUnix: "Deno.connectTls, Deno.listenTls and Deno.startTls work over TCP only",
  skipVerification: "Deno's TLS always verifies the server's certificate; only the process-wide --unsafely-ignore-certificate-errors flag turns that off",
  clientCertificate: true,
  requestCert: "Deno.listenTls cannot request or verify client certificates",
  clientStartTls: true,
  serverStartTls: "Deno.startTls is client-only: Deno cannot run the server side of a handshake on an accepted connection",
  keepAliveDelay: "Deno can turn keep-alive on (keepAlive: true) but cannot set its delay",
  // Without --unstable-net Deno ends the process on a reusePort listen instead of throwing.
  reusePort: typeof deno?.listenDatagram === "function" ? true : "Deno needs the --unstable-net flag for it",
  ipv6Only: "Deno.listen has no IPV6_V6ONLY option",
  backlog: true,
  unixBacklog: "Deno.listen takes no backlog for a Unix socket",
  proxyProtocolWithTls: "Deno cannot run the server side of a TLS handshake on a connection it has read from (Deno.startTls is client-only); terminate TLS at the balancer",
  localAddress: "Deno.connect has no option to bind the local address before connecting",
};

/**
 * The Deno transport: TCP, Unix sockets and TLS through `Deno.connect`,
 * `Deno.listen`, `Deno.listenTls` and `Deno.startTls`. What Deno cannot do is
 * declared in `capabilities` and refused with ERR_UNSUPPORTED.
 *
 * @example
 * ```ts
 * import { denoTransport } from "wireline/deno";
 * console.log(denoTransport.capabilities.requestCert); // why mutual TLS is unsupported on Deno
 * const listener = await denoTransport.listen(
 *   { address: { transport: "tcp", hostname: "127.0.0.1", port: 0 } },
 *   (socket) => socket.close(),
 * );
 * await listener.close();
 * ```
 */
// Elsewhere (JSR serves this adapter to Node and Bun too) connect and listen refuse with ERR_UNSUPPORTED naming the right import.
export const denoTransport: Transport = onlyOn("deno", { name: "deno", capabilities, connect: rawConnect, resolve: systemResolve, listen: rawListen });

export * from "../src/mod.ts";

installDiagnostics();
const api: Net = createNet(denoTransport);

/**
 * Opens a connection over the deno transport.
 *
 * @example
 * ```ts
 * import { connect } from "wireline/deno";
 * const conn = await connect("127.0.0.1:6379", { timeout: 2000 });
 * ```
 */
export const connect: Net["connect"] = api.connect;

/**
 * Listens over the deno transport.
 *
 * @example
 * ```ts
 * import { listen } from "wireline/deno";
 * const server = await listen({ port: 0 }, async (conn) => {
 *   for await (const chunk of conn) await conn.write(chunk);
 * });
 * ```
 */
export const listen: Net["listen"] = api.listen;

/**
 * A client that keeps its connection up over the deno transport: reconnects
 * with capped, jittered backoff, and queues writes while disconnected (bounded).
 *
 * @example
 * ```ts
 * import { reconnecting } from "wireline/deno";
 * const client = reconnecting("127.0.0.1:6379", { backoff: { initial: 100, max: 5_000 } });
 * client.on("reconnecting", ({ attempt, delay }) => console.log(`attempt ${attempt} in ${delay} ms`));
 * await client.write("PING\r\n");
 * ```
 */
export const reconnecting: Net["reconnecting"] = api.reconnecting;
