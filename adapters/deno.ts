/**
 * The Deno adapter: wireline's {@link Transport} over `Deno.connect`,
 * `Deno.listen` and Deno's TLS, for TCP and Unix domain sockets.
 *
 * Only the runtime mapping lives here: a {@link SocketDriver} per socket that
 * turns Deno's pull reads into pushed chunks (or, for `conn.read(into)`, reads
 * straight into the caller's buffer) and hands writes to
 * `conn.write()`, Deno's error classes mapped to stable codes, and what Deno
 * cannot do declared in {@link TransportCapabilities}. The write queue and the
 * socket lifecycle are the kernel's (`src/socket/socket.ts`).
 *
 * @module
 */

import { formatAddress, type Address, type SocketAddress, type TcpAddress } from "../src/address.ts";
import { NetError, toNetError, unsupported, type NetErrorCode } from "../src/errors.ts";
import { createNet, type Net } from "../src/net.ts";
import type { DriverSink, SocketDriver } from "../src/socket/driver.ts";
import { createRawSocket } from "../src/socket/socket.ts";
import { toTlsError, type RawStartTlsOptions, type RawTlsClientOptions, type TlsInfo } from "../src/tls.ts";
import type { CancelConnect, ConnectSink, RawConnectOptions, RawListener, RawListenOptions, RawSocket, Transport, TransportCapabilities } from "../src/transport.ts";
import { onlyOn } from "./runtime-guard.ts";
import { copySmallRead, SMALL_READ_MAX } from "./small-read-slab.ts";
import { systemResolve } from "./system-resolver.ts";
import { installDiagnostics } from "./diagnostics-node.ts";

/**
 * One read buffer; large enough that bulk transfers need few reads. Each read
 * hands its bytes on as a view and the next read fills the rest of the buffer:
 * a TLS read brings one 16 KiB record, so four share one buffer (a fresh,
 * zero-filled 64 KiB per record cost TLS bulk ~2,300 ms CPU per GB instead of
 * ~1,700). A kept chunk holds its whole buffer, at most 64 KiB, as before.
 */
const READ_SIZE = 64 * 1024;
/** Reads smaller than this are copied out so the buffer can be reused; a rest smaller than this is not read into. */
const COPY_BELOW = 16 * 1024;
/** The first read buffer; the first read that fills it brings the full READ_SIZE. */
const FIRST_READ_SIZE = 4 * 1024;
/**
 * First-read buffers of ended read loops, for the next sockets: a fresh one costs ~1.8 µs on Deno,
 * twice per connection pair. Bounded: at most 16 × 4 KiB kept.
 */
const firstReads: Uint8Array<ArrayBuffer>[] = [];
const FIRST_READS_KEPT = 16;
/**
 * Deno.startTls fails ("Busy") while a read is pending, and a pending read cannot
 * be cancelled. So during the opening exchange of a plain client connection,
 * where STARTTLS happens (SMTP, IMAP, PostgreSQL, XMPP), the next read waits one
 * macrotask, long enough for the code that just read the peer's go-ahead to call
 * startTls(). Past these reads the loop runs at full speed.
 */
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
  if (transport === "tcp" && hostname !== undefined && port !== undefined) {
    return { transport: "tcp", hostname, port, family: hostname.includes(":") ? "IPv6" : "IPv4" };
  }
  // An unnamed (client-side) Unix socket has a null path: there is no address to show.
  return transport === "unix" && path ? { transport: "unix", path } : undefined;
}

class DenoDriver implements SocketDriver {
  readonly handshake: Promise<void> | undefined;
  tls: TlsInfo | undefined;

  readonly #conn: DenoConn;
  #sink: DriverSink | undefined;
  /** Reads left in the STARTTLS window (see STARTTLS_READS); undefined: not a plain TCP client, never upgradable. */
  #upgradeWindow: number | undefined;
  /** The read loop, and the last write or shutdown: each holds the descriptor open until it ends. */
  #loop: Promise<void> | undefined;
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

  /** `tls`: the session of a client, or "pending" for a TLS server socket whose handshake starts now. */
  constructor(conn: DenoConn, tls: TlsInfo | "pending" | undefined, upgradable = false) {
    this.#conn = conn;
    this.#upgradeWindow = upgradable ? STARTTLS_READS : undefined;
    if (tls !== "pending") {
      this.tls = tls;
      return;
    }
    this.handshake = runHandshake(conn, this.#where, false).then(
      (info) => void (this.tls = info),
      (error: NetError) => {
        this.#finish(error);
        throw error;
      },
    );
    this.handshake.catch(() => {}); // the server awaits it; never an unhandled rejection
  }

  // Deno keeps a conn's addresses in fields, past close: they are read only when asked for.
  get localAddress(): SocketAddress | undefined {
    return toSocketAddress(this.#conn.localAddr);
  }

  get remoteAddress(): SocketAddress | undefined {
    return toSocketAddress(this.#conn.remoteAddr);
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
    return this.#mapped((this.#lastWrite = this.#conn.write(chunk)));
  }

  shutdownWrite(): Promise<void> {
    return this.#mapped((this.#lastWrite = this.#conn.closeWrite()));
  }

  /** Deno has no abortive close (SO_LINGER 0): graceful or not, the conn is closed. */
  release(): void {
    this.#finish(undefined);
  }

  pauseReading(): void {
    this.#wantRead = false;
  }

  resumeReading(): void {
    this.#wantRead = true;
    if (this.#loop) return this.#unpark();
    // A throwing receiver fails this socket rather than leaving an unhandled rejection.
    this.#loop = this.#readLoop().catch((error: unknown) => this.#finish(mapError(error, this.#where)));
  }

  setNoDelay(enabled: boolean): void {
    if (!this.#released) this.#conn.setNoDelay?.(enabled);
  }

  setKeepAlive(enabled: boolean): void {
    if (!this.#released) this.#conn.setKeepAlive?.(enabled);
  }

  unref(): void {
    if (!this.#released) this.#conn.unref();
  }

  ref(): void {
    if (!this.#released) this.#conn.ref();
  }

  readInto(into: Uint8Array): void {
    if (this.#released) return;
    // The loop is parked, past any handshake: read here, without the promise and turn that waking it costs.
    if (this.#wake !== undefined && !this.#readPending) return this.#pull(into);
    this.#offer = into;
    if (this.#loop) return this.#unpark();
    this.#loop = this.#readLoop().catch((error: unknown) => this.#finish(mapError(error, this.#where)));
  }

  recycle(chunk: Uint8Array): void {
    // A read buffer is cut into consecutive chunks; it is free again when the one that ended its use comes back
    // (lent in order, the ones before it came back first). A small read was a copy and is simply dropped.
    const { buffer } = chunk;
    if (buffer.byteLength !== READ_SIZE || buffer.byteLength - (chunk.byteOffset + chunk.length) >= COPY_BELOW) return;
    const spare = (this.#spare ??= []);
    if (spare.length < 2) spare.push(new Uint8Array(buffer as ArrayBuffer));
  }

  async startTls(options: RawStartTlsOptions): Promise<SocketDriver> {
    // The core checked the capabilities (serverStartTls, skipVerification); what is left depends on this socket.
    // Each refusal leaves it usable.
    if (options.isServer) throw unsupported("server-side startTls", capabilities.serverStartTls as string);
    const o = options.client;
    if (o.cert !== undefined) throw unsupported("a client certificate on startTls", "Deno.startTls takes no certificate (connect with tls instead)");
    if (this.#upgradeWindow === undefined) throw unsupported("startTls", "Deno upgrades plain TCP client connections only");
    if (this.#readPending) {
      throw unsupported(
        "startTls at this point",
        `Deno cannot upgrade while a read is pending: call startTls() right after reading the peer's go-ahead, within the first ${STARTTLS_READS} reads`,
      );
    }
    // The upgraded driver owns the connection from here: this one neither reads nor reports again.
    this.#released = true;
    this.#sink = undefined;
    this.#unpark();
    const where = this.#where ?? "";
    const conn = await upgrade(this.#conn, o, where);
    return new DenoDriver(conn, await runHandshake(conn, where, true));
  }

  #mapped<T>(op: Promise<T>): Promise<T> {
    return op.catch((error: unknown): never => {
      throw mapError(error, this.#where);
    });
  }

  /** A TLS alert after the handshake (a server refusing our certificate) is a TLS failure, not an I/O one. */
  #readError(error: unknown): NetError {
    const tlsAlert = this.tls !== undefined && (error as { name?: unknown } | undefined)?.name === "InvalidData";
    return tlsAlert ? tlsError(error, this.#where) : mapError(error, this.#where);
  }

  #pull(into: Uint8Array): void {
    this.#readPending = true;
    this.#pulling = this.#conn.read(into).then(
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
    if (error !== undefined) this.#finish(this.#readError(error));
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
    let buf = first;
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
          n = await this.#conn.read(into ?? buf);
        } catch (error) {
          return void this.#report(null, error);
        }
        // Whatever this read brought answers a pending offer: an offer made during a read of our own is dropped.
        this.#offer = undefined;
        let chunk: Uint8Array | null = null;
        if (n !== null && !this.#released) {
          if (into !== undefined) {
            chunk = into.subarray(0, n);
          } else if (n < COPY_BELOW) {
            chunk = n <= SMALL_READ_MAX ? copySmallRead(buf, n) : buf.slice(0, n);
            if (n === buf.length) buf = this.#spare?.pop() ?? new Uint8Array(READ_SIZE);
          } else {
            chunk = buf.subarray(0, n);
            // The next read goes on behind this chunk while the buffer has room for one that is not copied.
            const end = buf.byteOffset + n;
            const rest = buf.buffer.byteLength - end;
            buf = rest >= COPY_BELOW ? new Uint8Array(buf.buffer, end, rest) : (this.#spare?.pop() ?? new Uint8Array(READ_SIZE));
          }
        }
        if (!this.#report(chunk)) return;
        if (this.#upgradeWindow) {
          this.#upgradeWindow--;
          await new Promise((resolve) => setImmediate(resolve));
        }
      }
    } finally {
      // No read is pending into it now, and no chunk refers to it (reads from it are copied): the next socket takes it.
      if (firstReads.length < FIRST_READS_KEPT) firstReads.push(first);
    }
  }

  /**
   * Closes the conn, then reports `closed` only once the descriptor is gone,
   * so that a server's close() cannot resolve before: a pending read, write or
   * handshake holds it until Deno has cancelled the operation, and a TLS
   * stream sends close_notify from a background task that holds it one more
   * event-loop turn.
   */
  #finish(error: NetError | undefined): void {
    if (this.#released) return;
    this.#released = true;
    const sink = this.#sink!;
    closeQuietly(this.#conn);
    this.#unpark();
    const tls = this.tls !== undefined || this.handshake !== undefined;
    const report = (): void => sink.closed(error);
    // A timer turn costs ~1 ms per close in Deno: only TLS needs it, for the close_notify task.
    const closed = tls ? () => void setTimeout(report, 0) : report;
    void whenSettled(this.#loop, this.#pulling, this.#lastWrite, this.handshake).then(closed, closed);
  }
}

/**
 * Settles once every operation given has settled, whatever the outcome (each has its own handler).
 * Promise.allSettled made ~4 µs of work per closed socket on Deno (V8), a chain of `then` < 1 µs.
 */
function whenSettled(...ops: (Promise<unknown> | undefined)[]): Promise<unknown> {
  let all: Promise<unknown> | undefined;
  for (const op of ops) {
    if (op !== undefined) all = all === undefined ? op : all.then(() => op, () => op);
  }
  return all ?? Promise.resolve();
}

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
    (conn) => (keepSpare(controller), sink.opened(createRawSocket(new DenoDriver(conn, undefined, address.transport === "tcp")))),
    (error: unknown) => (keepSpare(controller), sink.failed(mapError(error, sink.label))),
  );
  return controller && (() => controller.abort());
}

function keepSpare(controller: AbortController | undefined): void {
  if (controller !== undefined && !controller.signal.aborted) spareController = controller;
}

/** Dials, upgrades and verifies; a cancel aborts the TCP connect, or closes the conn to end its handshake. */
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
    return createRawSocket(new DenoDriver(conn, await runHandshake(conn, where, true)));
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
      onAccept(createRawSocket(new DenoDriver(conn, tls ? "pending" : undefined)));
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
