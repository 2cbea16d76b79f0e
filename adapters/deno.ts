/**
 * The Deno adapter: wireline's {@link Transport} over `Deno.connect` and
 * `Deno.listen`, for TCP and Unix domain sockets.
 *
 * It turns Deno's pull reads into pushed chunks, completes partial writes,
 * normalises Deno's errors and rejects options Deno cannot honour instead of
 * ignoring them.
 *
 * @module
 */

import type { Address } from "../src/address.ts";
import { formatAddress } from "../src/address.ts";
import { createNet, type Net } from "../src/net.ts";
import { NetError, toNetError, unsupported } from "../src/errors.ts";
import { toTlsError, type RawStartTlsOptions, type RawTlsClientOptions, type TlsInfo } from "../src/tls.ts";
import type {
  RawConnectOptions,
  RawHandlers,
  RawListener,
  RawListenOptions,
  RawSocket,
  SocketAddress,
  Transport,
} from "../src/transport.ts";
import { DEFAULT_HIGH_WATER_MARK } from "../src/transport.ts";

/** One read buffer; large enough that bulk transfers need few reads. */
const READ_SIZE = 64 * 1024;
/** Reads smaller than this are copied out so the 64 KiB buffer can be reused. */
const COPY_BELOW = 16 * 1024;
/** Queued chunks are merged into one write up to this many bytes (one syscall instead of many). */
const COALESCE_LIMIT = 64 * 1024;
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
interface DenoAddr {
  readonly transport: string;
  readonly hostname?: string;
  readonly port?: number;
  readonly path?: string | null;
}

interface DenoConn {
  readonly localAddr: DenoAddr;
  readonly remoteAddr: DenoAddr;
  read(p: Uint8Array): Promise<number | null>;
  write(p: Uint8Array): Promise<number>;
  closeWrite(): Promise<void>;
  close(): void;
  /** TcpConn only. */
  setNoDelay?(noDelay?: boolean): void;
  /** TcpConn only; there is no delay parameter. */
  setKeepAlive?(keepAlive?: boolean): void;
  /** TlsConn only. */
  handshake?(): Promise<{ alpnProtocol: string | null }>;
}

interface DenoTlsClientOptions {
  caCerts?: string[];
  alpnProtocols?: string[];
}

interface DenoListener {
  readonly addr: DenoAddr;
  accept(): Promise<DenoConn>;
  close(): void;
}

interface DenoTcpListenOptions {
  transport: "tcp";
  hostname: string;
  port: number;
  tcpBacklog?: number;
  /** Unstable (--unstable-net). */
  reusePort?: boolean;
}

interface DenoApi {
  connect(
    options: { transport: "tcp"; hostname: string; port: number; signal?: AbortSignal } | { transport: "unix"; path: string },
  ): Promise<DenoConn>;
  listen(options: DenoTcpListenOptions | { transport: "unix"; path: string }): DenoListener;
  connectTls(options: DenoTlsClientOptions & { hostname: string; port: number; cert?: string; key?: string }): Promise<DenoConn>;
  listenTls(options: DenoTcpListenOptions & { cert: string; key: string; alpnProtocols?: string[] }): DenoListener;
  startTls(conn: DenoConn, options: DenoTlsClientOptions & { hostname: string }): Promise<DenoConn>;
  /** Present only with --unstable-net. */
  readonly listenDatagram?: unknown;
}

function deno(): DenoApi {
  return (globalThis as unknown as { Deno: DenoApi }).Deno;
}

function toSocketAddress(addr: DenoAddr): SocketAddress | undefined {
  const { transport, hostname, port, path } = addr;
  if (transport === "tcp" && hostname !== undefined && port !== undefined) {
    return { transport: "tcp", hostname, port, family: hostname.includes(":") ? "IPv6" : "IPv4" };
  }
  // An unnamed (client-side) Unix socket has a null path: there is no address to show.
  if (transport === "unix" && path) return { transport: "unix", path };
  return undefined;
}

function describeAddress(addr: SocketAddress | undefined): string | undefined {
  if (!addr) return undefined;
  return addr.transport === "unix" ? addr.path : formatAddress(addr);
}

/** Deno's DNS failure is a plain Error with neither `code` nor a telling `name`. */
function mapError(error: unknown, address: string | undefined): NetError {
  if (
    error instanceof Error && !(error instanceof NetError) && !("code" in error) &&
    error.message.includes("failed to lookup address information")
  ) {
    return new NetError("ENOTFOUND", `host name could not be resolved (${error.message})`, { cause: error, address });
  }
  return toNetError(error, address);
}

function abortError(signal: AbortSignal, address: string): NetError {
  const reason: unknown = signal.reason;
  const timedOut = reason instanceof DOMException && reason.name === "TimeoutError";
  return new NetError(timedOut ? "ETIMEDOUT" : "ABORT_ERR", timedOut ? "connect timed out" : "connect aborted", {
    cause: reason,
    address,
  });
}

/** Errors that only mean "we closed this resource ourselves". */
function isLocalClose(error: unknown): boolean {
  const name = (error as { name?: unknown } | undefined)?.name;
  return name === "BadResource" || name === "Interrupted";
}

/** rustls reports every refused certificate as "invalid peer certificate: <reason>". */
function tlsError(error: unknown, address: string | undefined): NetError {
  const message = (error as { message?: unknown } | undefined)?.message;
  return toTlsError(error, address, typeof message === "string" && /invalid peer certificate/i.test(message));
}

function denoTlsClientOptions(o: RawTlsClientOptions): DenoTlsClientOptions {
  return { caCerts: o.ca ? [...o.ca] : undefined, alpnProtocols: o.alpn ? [...o.alpn] : undefined };
}

/** Runs the handshake now, so that verification fails at connect (or accept), not at the first read. */
async function handshake(conn: DenoConn, address: string, authorized: boolean): Promise<TlsInfo> {
  let info: { alpnProtocol: string | null };
  try {
    info = await conn.handshake!();
  } catch (err) {
    try {
      conn.close();
    } catch {
      // Already gone.
    }
    throw tlsError(err, address);
  }
  // Deno reports neither the protocol version nor certificates.
  return { alpnProtocol: info.alpnProtocol ?? undefined, tlsVersion: undefined, peerCertificate: undefined, authorized };
}

function refuseRejectUnauthorized(o: RawTlsClientOptions): void {
  if (!o.rejectUnauthorized) {
    throw unsupported("rejectUnauthorized: false", "Deno cannot skip certificate verification per connection (only process-wide, with --unsafely-ignore-certificate-errors)");
  }
}

class DenoSocket implements RawSocket {
  readonly localAddress: SocketAddress | undefined;
  readonly remoteAddress: SocketAddress | undefined;
  readonly tls: TlsInfo | undefined;

  #conn: DenoConn;
  #where: string | undefined;
  #handlers: RawHandlers | undefined;

  // Write queue: a head index instead of shift() keeps dequeuing O(1) on long queues.
  #queue: Uint8Array[] = [];
  #head = 0;
  #buffered = 0;
  #writing = false;
  #needDrain = false;

  #paused = false;
  #wake: (() => void) | undefined;

  #endRequested = false;
  #closeRequested = false;
  #writeShut = false;
  #eof = false;
  #closed = false;
  #closeError: NetError | undefined;

  /** A plain TCP client connection: the only kind Deno.startTls can upgrade. */
  readonly #upgradable: boolean;
  /** Reads left in the STARTTLS window (see STARTTLS_READS). */
  #upgradeWindow: number;
  #readPending = false;
  #upgrading = false;
  #onWriteIdle: (() => void) | undefined;

  constructor(conn: DenoConn, tls?: TlsInfo, upgradable = false) {
    this.#conn = conn;
    this.tls = tls;
    this.#upgradable = upgradable;
    this.#upgradeWindow = upgradable ? STARTTLS_READS : 0;
    this.localAddress = toSocketAddress(conn.localAddr);
    this.remoteAddress = toSocketAddress(conn.remoteAddr);
    this.#where = describeAddress(this.remoteAddress) ?? describeAddress(this.localAddress);
  }

  get bufferedAmount(): number {
    return this.#buffered;
  }

  start(handlers: RawHandlers): void {
    if (this.#handlers) throw new Error("RawSocket.start() called twice");
    this.#handlers = handlers;
    if (this.#closed) {
      // Closed before anyone listened: onClose is still owed, exactly once.
      const error = this.#closeError;
      queueMicrotask(() => handlers.onClose(error));
      return;
    }
    // Reading starts only now, so bytes that arrived earlier wait in the kernel buffer.
    this.#readLoop().catch((err: unknown) => this.#finish(mapError(err, this.#where)));
  }

  write(chunk: Uint8Array): boolean {
    // After end/close/destroy the bytes can never be sent; dropping them is all that is left.
    if (this.#closed || this.#endRequested || this.#closeRequested) return false;
    if (chunk.length > 0) {
      // Not copied, like Node's socket.write: the caller must not mutate a chunk it handed over.
      this.#queue.push(chunk);
      this.#buffered += chunk.length;
      if (!this.#writing) this.#startFlush();
    }
    const ok = this.#buffered < DEFAULT_HIGH_WATER_MARK;
    if (!ok) this.#needDrain = true;
    return ok;
  }

  end(): void {
    if (this.#closed || this.#endRequested || this.#closeRequested) return;
    this.#endRequested = true;
    if (!this.#writing) this.#startFlush();
  }

  close(): void {
    if (this.#closed || this.#closeRequested) return;
    this.#closeRequested = true;
    if (!this.#writing) this.#startFlush();
  }

  destroy(error?: NetError): void {
    this.#finish(error);
  }

  pause(): void {
    this.#paused = true;
  }

  resume(): void {
    this.#paused = false;
    const wake = this.#wake;
    this.#wake = undefined;
    wake?.();
  }

  setNoDelay(enabled: boolean): void {
    // Unix conns have no such method: Nagle does not apply to them.
    if (this.#closed || typeof this.#conn.setNoDelay !== "function") return;
    try {
      this.#conn.setNoDelay(enabled);
    } catch {
      // The conn may be torn down concurrently by the peer; the read loop reports that.
    }
  }

  /** Deno cannot set the keep-alive delay: a delay is ERR_UNSUPPORTED (the core refuses it first). */
  setKeepAlive(enabled: boolean, initialDelay?: number): void {
    // Deno can only toggle keep-alive; honouring a delay silently with the system's 2 h default would mislead.
    if (initialDelay !== undefined) throw unsupported("keepAlive delay", "Deno can turn keep-alive on (keepAlive: true) but cannot set its delay");
    if (this.#closed || typeof this.#conn.setKeepAlive !== "function") return;
    try {
      this.#conn.setKeepAlive(enabled);
    } catch {
      // See setNoDelay.
    }
  }

  /** Read buffers the receiver handed back (borrowed chunks), reused before allocating. */
  #spare: Uint8Array<ArrayBuffer>[] | undefined;

  recycle(chunk: Uint8Array): void {
    // Only whole read buffers come back for reuse; a small read was a copy and is simply dropped.
    if (chunk.byteOffset !== 0 || chunk.buffer.byteLength !== READ_SIZE) return;
    const spare = (this.#spare ??= []);
    if (spare.length < 2) spare.push(new Uint8Array(chunk.buffer as ArrayBuffer));
  }

  #waitForResume(): Promise<void> {
    return new Promise((resolve) => (this.#wake = resolve));
  }

  async #readLoop(): Promise<void> {
    const conn = this.#conn;
    let buf = new Uint8Array(READ_SIZE);
    for (;;) {
      if (this.#paused) await this.#waitForResume();
      if (this.#closed || this.#upgrading) return;
      let n: number | null;
      try {
        this.#readPending = true;
        n = await conn.read(buf);
        this.#readPending = false;
      } catch (err) {
        if (this.#closed && isLocalClose(err)) return;
        this.#finish(mapError(err, this.#where));
        return;
      }
      // A read already in flight when pause() was called must not deliver until resume().
      if (this.#paused) await this.#waitForResume();
      if (this.#closed) return;
      if (n === null) {
        this.#eof = true;
        this.#handlers!.onEnd();
        if (this.#writeShut) this.#finish(undefined);
        return;
      }
      let chunk: Uint8Array;
      if (n < COPY_BELOW) {
        chunk = buf.slice(0, n);
      } else {
        chunk = buf.subarray(0, n);
        buf = this.#spare?.pop() ?? new Uint8Array(READ_SIZE);
      }
      this.#handlers!.onData(chunk);
      if (this.#upgradeWindow > 0) {
        this.#upgradeWindow--;
        await new Promise((resolve) => setImmediate(resolve));
      }
    }
  }

  async startTls(options: RawStartTlsOptions): Promise<RawSocket> {
    if (options.isServer) {
      throw unsupported("server-side startTls", "Deno.startTls is client-only: Deno cannot run the server side of a handshake on an accepted connection");
    }
    const o = options.client;
    refuseRejectUnauthorized(o);
    if (!this.#upgradable) throw unsupported("startTls", "Deno upgrades plain TCP client connections only");
    if (o.cert !== undefined) throw unsupported("a client certificate on startTls", "Deno.startTls takes no certificate (use connect with tls instead)");
    if (this.#readPending) {
      throw unsupported(
        "startTls at this point",
        `Deno cannot upgrade while a read is pending: call startTls() right after reading the peer's go-ahead, within the first ${STARTTLS_READS} reads`,
      );
    }
    this.#upgrading = true;
    this.#handlers = undefined;
    // Bytes written before the upgrade go out in plain text, ahead of the handshake.
    if (this.#writing) await new Promise<void>((resolve) => (this.#onWriteIdle = resolve));
    this.#closed = true;
    const where = this.#where ?? "";
    let upgraded: DenoConn;
    try {
      upgraded = await deno().startTls(this.#conn, { hostname: o.serverName, ...denoTlsClientOptions(o) });
    } catch (err) {
      try {
        this.#conn.close();
      } catch {
        // Already gone.
      }
      throw tlsError(err, where);
    }
    return new DenoSocket(upgraded, await handshake(upgraded, where, true));
  }

  #startFlush(): void {
    this.#writing = true;
    this.#flush().catch((err: unknown) => this.#finish(mapError(err, this.#where)));
  }

  /** Takes the next chunk to write, merging small queued chunks into one buffer. */
  #dequeue(): Uint8Array {
    const queue = this.#queue;
    const first = queue[this.#head]!;
    let end = this.#head + 1;
    let total = first.length;
    while (end < queue.length && total + queue[end]!.length <= COALESCE_LIMIT) total += queue[end++]!.length;
    let out: Uint8Array;
    if (end - this.#head === 1) {
      out = first;
    } else {
      out = new Uint8Array(total);
      let at = 0;
      for (let i = this.#head; i < end; i++) {
        out.set(queue[i]!, at);
        at += queue[i]!.length;
      }
    }
    for (let i = this.#head; i < end; i++) queue[i] = undefined as unknown as Uint8Array;
    this.#head = end;
    if (end === queue.length) {
      queue.length = 0;
      this.#head = 0;
    } else if (this.#head > 1024 && this.#head * 2 > queue.length) {
      queue.splice(0, this.#head);
      this.#head = 0;
    }
    return out;
  }

  async #flush(): Promise<void> {
    const conn = this.#conn;
    try {
      while (this.#head < this.#queue.length) {
        const data = this.#dequeue();
        let off = 0;
        while (off < data.length) {
          const n = await conn.write(off === 0 ? data : data.subarray(off));
          if (this.#closed) return;
          off += n;
          this.#buffered -= n;
          if (this.#needDrain && this.#buffered < DEFAULT_HIGH_WATER_MARK) {
            this.#needDrain = false;
            // onDrain may write more (queued behind us) or destroy the socket (checked below).
            this.#handlers?.onDrain();
            if (this.#closed) return;
          }
        }
      }
    } catch (err) {
      this.#writing = false;
      this.#writeIdle();
      if (this.#closed && isLocalClose(err)) return;
      this.#finish(mapError(err, this.#where));
      return;
    }
    this.#writing = false;
    this.#writeIdle();
    if (this.#closeRequested) {
      this.#finish(undefined);
    } else if (this.#endRequested && !this.#writeShut) {
      await this.#shutdownWrite();
    }
  }

  async #shutdownWrite(): Promise<void> {
    try {
      await this.#conn.closeWrite();
    } catch (err) {
      if (this.#closed) return;
      this.#finish(mapError(err, this.#where));
      return;
    }
    this.#writeShut = true;
    // Both directions are done: nothing can happen on this socket any more.
    if (this.#eof) this.#finish(undefined);
  }

  #writeIdle(): void {
    const resolve = this.#onWriteIdle;
    this.#onWriteIdle = undefined;
    resolve?.();
  }

  #finish(error: NetError | undefined): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#closeError = error;
    this.#queue = [];
    this.#head = 0;
    this.#buffered = 0;
    try {
      this.#conn.close();
    } catch {
      // Already closed by Deno (BadResource): the goal is reached either way.
    }
    // Lets a read loop parked in pause() see #closed and exit.
    this.resume();
    const handlers = this.#handlers;
    // Deferred so that destroy()/close() never re-enter the caller's code synchronously.
    if (handlers) queueMicrotask(() => handlers.onClose(error));
  }
}

class DenoListener implements RawListener {
  readonly address: SocketAddress;
  #listener: DenoListener;
  #closed = false;
  #loop: Promise<void>;

  readonly #tls: boolean;

  constructor(listener: DenoListener, address: SocketAddress, onAccept: (socket: RawSocket) => void, tls = false) {
    this.#listener = listener;
    this.#tls = tls;
    this.address = address;
    this.#loop = this.#acceptLoop(onAccept).catch(() => {
      // A throwing onAccept is the caller's bug; the listener keeps its port until close().
    });
  }

  async #acceptLoop(onAccept: (socket: RawSocket) => void): Promise<void> {
    for (;;) {
      let conn: DenoConn;
      try {
        conn = await this.#listener.accept();
      } catch (err) {
        if (this.#closed || isLocalClose(err)) return;
        // Transient failures (EMFILE, ECONNABORTED) must not stop the server.
        await new Promise((r) => setTimeout(r, ACCEPT_RETRY_MS));
        if (this.#closed) return;
        continue;
      }
      if (this.#closed) {
        // Accepted in the same instant as close(): nobody will own it.
        try {
          conn.close();
        } catch {
          // Already gone.
        }
        return;
      }
      if (this.#tls) {
        // Each handshake runs on its own so one slow client does not hold up the accept loop.
        const where = formatAddress(this.address);
        handshake(conn, where, false).then((info) => {
          if (!this.#closed) onAccept(new DenoSocket(conn, info));
          else conn.close();
        }, () => {});
      } else {
        onAccept(new DenoSocket(conn));
      }
    }
  }

  async close(): Promise<void> {
    if (this.#closed) return this.#loop;
    this.#closed = true;
    try {
      this.#listener.close();
    } catch {
      // A second close throws BadResource; the port is released already.
    }
    await this.#loop;
  }
}

async function tlsConnect(address: Address, o: RawTlsClientOptions, where: string): Promise<RawSocket> {
  refuseRejectUnauthorized(o);
  if (address.transport !== "tcp") throw unsupported("TLS over a Unix socket", "Deno.connectTls is TCP-only");
  // connectTls checks the certificate against the host it dials; another name needs a plain connect plus startTls.
  const sameName = o.serverName === address.hostname;
  if (!sameName && o.cert !== undefined) {
    throw unsupported("a client certificate with a serverName other than the host dialled", "Deno.startTls takes no certificate; dial the server by that name");
  }
  let conn: DenoConn;
  try {
    conn = sameName
      ? await deno().connectTls({ hostname: address.hostname, port: address.port, cert: o.cert, key: o.key, ...denoTlsClientOptions(o) })
      : await deno().connect({ transport: "tcp", hostname: address.hostname, port: address.port });
  } catch (err) {
    throw mapError(err, where);
  }
  if (!sameName) {
    try {
      conn = await deno().startTls(conn, { hostname: o.serverName, ...denoTlsClientOptions(o) });
    } catch (err) {
      try {
        conn.close();
      } catch {
        // Already gone.
      }
      throw tlsError(err, where);
    }
  }
  return new DenoSocket(conn, await handshake(conn, where, true));
}

async function rawConnect(address: Address, options: RawConnectOptions): Promise<RawSocket> {
  const where = formatAddress(address);
  const signal = options.signal;
  if (signal?.aborted) throw abortError(signal, where);
  // No signal for connectTls: the core's race enforces timeout and abort, and destroys a late socket.
  if (options.tls) return tlsConnect(address, options.tls, where);
  let conn: DenoConn;
  try {
    conn = address.transport === "unix"
      ? await deno().connect({ transport: "unix", path: address.path })
      : await deno().connect({ transport: "tcp", hostname: address.hostname, port: address.port, signal });
  } catch (err) {
    if (signal?.aborted) throw abortError(signal, where);
    throw mapError(err, where);
  }
  if (signal?.aborted) {
    // Unix connects ignore the signal; do not leak a conn the caller gave up on.
    try {
      conn.close();
    } catch {
      // Already gone.
    }
    throw abortError(signal, where);
  }
  return new DenoSocket(conn, undefined, address.transport === "tcp");
}

/** `reusePort` is only honoured with --unstable-net; without it Deno exits the process instead of throwing. */
function hasUnstableNet(): boolean {
  return typeof deno().listenDatagram === "function";
}

function rawListen(options: RawListenOptions, onAccept: (socket: RawSocket) => void): Promise<RawListener> {
  const { address, backlog, reusePort, ipv6Only, tls } = options;
  const where = formatAddress(address);
  if (ipv6Only) return Promise.reject(unsupported("ipv6Only", "Deno.listen has no IPV6_V6ONLY option"));
  if (tls?.requestCert) return Promise.reject(unsupported("requestCert (mutual TLS)", "Deno.listenTls cannot request or verify client certificates"));
  if (tls && address.transport === "unix") return Promise.reject(unsupported("TLS over a Unix socket", "Deno.listenTls is TCP-only"));
  let listener: DenoListener;
  try {
    if (address.transport === "unix") {
      if (reusePort) return Promise.reject(unsupported("reusePort", "it applies to TCP listeners only"));
      if (backlog !== undefined) return Promise.reject(unsupported("backlog", "Deno cannot set it for Unix sockets"));
      listener = deno().listen({ transport: "unix", path: address.path });
    } else {
      if (reusePort && !hasUnstableNet()) {
        return Promise.reject(unsupported("reusePort", "Deno needs --unstable-net"));
      }
      const tcp: DenoTcpListenOptions = {
        transport: "tcp",
        hostname: address.hostname,
        port: address.port,
      };
      if (backlog !== undefined) tcp.tcpBacklog = backlog;
      // Passed only when asked for: without --unstable-net even `false` is fatal.
      if (reusePort) tcp.reusePort = true;
      listener = tls
        ? deno().listenTls({ ...tcp, cert: tls.cert, key: tls.key, alpnProtocols: tls.alpn ? [...tls.alpn] : undefined })
        : deno().listen(tcp);
    }
  } catch (err) {
    // Deno throws bind errors (EADDRINUSE, EACCES) synchronously; the contract wants a rejection.
    return Promise.reject(mapError(err, where));
  }
  const bound = toSocketAddress(listener.addr);
  if (!bound) {
    try {
      listener.close();
    } catch {
      // Already gone.
    }
    return Promise.reject(new NetError("EUNKNOWN", `Deno reported no usable listen address`, { address: where }));
  }
  return Promise.resolve(new DenoListener(listener, bound, onAccept, tls !== undefined));
}

/**
 * The Deno transport: TCP and Unix sockets through `Deno.connect` / `Deno.listen`.
 * `setKeepAlive` with a delay is ERR_UNSUPPORTED (Deno cannot set it; `keepAlive: true` works);
 * `ipv6Only` is unsupported and `reusePort` needs `--unstable-net`.
 *
 * @example
 * ```ts
 * import { denoTransport } from "wireline/deno";
 * const listener = await denoTransport.listen(
 *   { address: { transport: "tcp", hostname: "127.0.0.1", port: 0 } },
 *   (socket) => socket.close(),
 * );
 * console.log(listener.address);
 * await listener.close();
 * ```
 */
export const denoTransport: Transport = { name: "deno", keepAliveDelay: false, connect: rawConnect, listen: rawListen };

export * from "../src/mod.ts";

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
