/**
 * Bun adapter: wireline's {@link Transport} on `Bun.connect` / `Bun.listen`.
 *
 * Bun's sockets are unbuffered (a write may be partial), have no connect
 * timeout or AbortSignal, and close on FIN unless told otherwise; this module
 * hides those gaps behind the runtime-neutral contract in src/transport.ts.
 *
 * @module
 */

import type { Socket, SocketHandler, SocketListener, TCPSocketListenOptions, TLSOptions, UnixSocketListener } from "bun";
import type { Address } from "../src/address.ts";
import { formatAddress } from "../src/address.ts";
import { createNet, type Net } from "../src/net.ts";
import { NetError, toNetError, unsupported } from "../src/errors.ts";
import {
  peerCertificateFrom,
  toTlsError,
  type RawStartTlsOptions,
  type RawTlsClientOptions,
  type RawTlsServerOptions,
  type TlsInfo,
} from "../src/tls.ts";
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

// Write-side states. Numbers, not an enum: the build only allows erasable syntax.
const W_OPEN = 0;
const W_ENDING = 1; // end() called, FIN waits for the queue to flush
const W_ENDED = 2; // FIN sent
const W_CLOSING = 3; // close() called, release waits for the queue to flush
const W_DONE = 4; // released or destroyed
type WriteState = 0 | 1 | 2 | 3 | 4;

// Compacting the write queue only past this many sent chunks keeps a long queue O(1) per chunk.
const QUEUE_COMPACT_AT = 1024;

/**
 * Per-connection state. It is the Bun socket's `data`, so the shared handler
 * objects below reach it without a closure per connection, and it is also the
 * {@link RawSocket} handed to the core.
 */
class BunRawSocket implements RawSocket {
  /** Set at `open`; a connecting socket exists before Bun has one. */
  private sock: Socket<BunRawSocket> | undefined;
  /** Formatted peer or listen address, for error messages. */
  private readonly where: string;
  /** Unix socket path, or undefined for TCP. */
  private readonly unixPath: string | undefined;
  /** Accepted (server-side) socket: decides which end of a Unix socket has the path. */
  private readonly accepted: boolean;

  private handlers: RawHandlers | undefined = undefined;
  /** Started, not paused, nothing held back: chunks go straight to onData. */
  private live = false;
  private paused = false;
  /** Chunks that arrived before start() or while delivery was held back. */
  private backlog: Uint8Array[] | undefined = undefined;

  private queue: Uint8Array[] | undefined = undefined;
  private queueHead = 0;
  private buffered = 0;
  private needDrain = false;
  private wstate: WriteState = W_OPEN;

  /** The Bun socket is gone (or was never used, for an aborted connect). */
  private closed = false;
  /** We released it (close()/destroy()); the peer's last words no longer matter. */
  private localClose = false;
  private reported = false;
  private peerEnded = false;
  private endReported = false;
  private closeError: NetError | undefined = undefined;
  private scheduled = false;
  private local: SocketAddress | undefined = undefined;
  private remote: SocketAddress | undefined = undefined;
  /** Set once a TLS handshake succeeded. */
  private session: TlsInfo | undefined = undefined;
  /** Settles with the TLS handshake; undefined for plain sockets. */
  private readonly handshakeDone: Promise<void> | undefined;
  private settleHandshake: ((error: NetError | undefined) => void) | undefined = undefined;
  /** Resolved once the write queue is empty (or the socket is gone): STARTTLS waits on it. */
  private flushWaiters: (() => void)[] | undefined = undefined;

  constructor(where: string, unixPath: string | undefined, accepted: boolean, sock: Socket<BunRawSocket> | undefined, tls = false) {
    this.where = where;
    this.unixPath = unixPath;
    this.accepted = accepted;
    this.sock = sock;
    if (tls) {
      this.handshakeDone = new Promise<void>((resolve, reject) => {
        this.settleHandshake = (error) => (error ? reject(error) : resolve());
      });
      this.handshakeDone.catch(() => {});
    }
  }

  get tls(): TlsInfo | undefined {
    return this.session;
  }

  /** Resolves once the handshake succeeded and the peer was verified; rejects (and destroys) otherwise. */
  waitForHandshake(): Promise<void> {
    return this.handshakeDone ?? Promise.resolve();
  }

  async startTls(options: RawStartTlsOptions): Promise<RawSocket> {
    if (this.buffered > 0 && !this.closed) await new Promise<void>((resolve) => (this.flushWaiters ??= []).push(resolve));
    const sock = this.sock;
    if (this.closed || sock === undefined) throw new NetError("ERR_SOCKET_CLOSED", "the connection closed before TLS could start", { address: this.where });
    const next = new BunRawSocket(this.where, this.unixPath, this.accepted, undefined, true);
    next.local = this.localAddress;
    next.remote = this.remoteAddress;
    this.detach();
    const tls = options.isServer ? { ...serverTlsOptions(options.server), isServer: true } : clientTlsOptions(options.client);
    let upgraded: Socket<BunRawSocket>;
    try {
      [, upgraded] = sock.upgradeTLS<BunRawSocket>({ data: next, tls, socket: BUN_HANDLERS });
    } catch (err) {
      sock.terminate();
      throw toTlsError(err, this.where);
    }
    next.sock = upgraded;
    await next.waitForHandshake();
    return next;
  }

  /** After an upgrade Bun keeps calling the plain socket's handlers with ciphertext: this side must ignore everything. */
  private detach(): void {
    this.reported = true;
    this.handlers = undefined;
    this.live = false;
    this.localClose = true;
    this.closed = true;
    this.backlog = undefined;
    this.dropQueue();
  }

  get bufferedAmount(): number {
    return this.buffered;
  }

  get localAddress(): SocketAddress | undefined {
    if (this.unixPath !== undefined) return this.accepted ? { transport: "unix", path: this.unixPath } : undefined;
    // Cached: Bun reports no address once the socket is closed.
    const s = this.sock;
    if (this.local === undefined && s !== undefined) this.local = tcpAddress(s.localAddress, s.localPort, s.localFamily);
    return this.local;
  }

  get remoteAddress(): SocketAddress | undefined {
    if (this.unixPath !== undefined) return this.accepted ? undefined : { transport: "unix", path: this.unixPath };
    const s = this.sock;
    if (this.remote === undefined && s !== undefined) this.remote = tcpAddress(s.remoteAddress, s.remotePort, s.remoteFamily);
    return this.remote;
  }

  start(handlers: RawHandlers): void {
    if (this.handlers !== undefined || this.reported) throw new Error("RawSocket.start() may be called only once");
    this.handlers = handlers;
    if (this.backlog === undefined && !this.paused && !this.closed && !this.peerEnded) this.live = true;
    // Held-back events go out in a microtask, like the other runtimes' delivery: never inside start().
    else this.schedule();
  }

  write(chunk: Uint8Array): boolean {
    if (this.wstate !== W_OPEN) return false;
    if (this.buffered === 0) {
      const n = this.sock!.write(chunk);
      if (n === chunk.byteLength) return true;
      if (n < 0) {
        this.writeRefused();
        return false;
      }
      // write(buf, offset) without a length throws in Bun 1.4.5; a view is cheaper anyway.
      this.enqueue(n === 0 ? chunk : chunk.subarray(n));
    } else {
      this.enqueue(chunk);
    }
    if (this.buffered < DEFAULT_HIGH_WATER_MARK) return true;
    this.needDrain = true;
    return false;
  }

  end(): void {
    if (this.wstate !== W_OPEN) return;
    this.wstate = W_ENDING;
    if (this.buffered === 0) this.afterFlush();
  }

  close(): void {
    if (this.wstate >= W_CLOSING) return;
    this.wstate = W_CLOSING;
    if (this.buffered === 0 || this.closed) this.release();
  }

  destroy(error?: NetError): void {
    if (this.reported || (this.localClose && this.wstate === W_DONE)) return;
    if (error !== undefined && this.closeError === undefined) this.closeError = error;
    this.wstate = W_DONE;
    this.localClose = true;
    this.live = false;
    this.backlog = undefined;
    this.dropQueue();
    if (!this.closed) {
      // Marked first: Bun runs the close handler synchronously, which must not report.
      this.closed = true;
      // end(), not terminate(): Bun keeps no user-space buffer, so end() closes the descriptor at once
      // and the peer sees FIN, as with Node's destroy() and Deno's close(); terminate() would send RST.
      this.sock?.end();
    }
    this.schedule();
  }

  pause(): void {
    if (this.paused) return;
    this.paused = true;
    this.live = false;
    if (!this.closed) this.sock?.pause();
  }

  resume(): void {
    if (!this.paused) return;
    this.paused = false;
    if (!this.closed) this.sock?.resume();
    if (this.handlers === undefined || this.reported) return;
    if (this.backlog === undefined && !this.closed && this.peerEnded === this.endReported) this.live = true;
    else this.schedule();
  }

  setNoDelay(enabled: boolean): void {
    if (this.unixPath === undefined && !this.closed) this.sock?.setNoDelay(enabled);
  }

  setKeepAlive(enabled: boolean, initialDelay?: number): void {
    // Bun reads a delay of 0 as "leave the system default".
    if (this.unixPath === undefined && !this.closed) this.sock?.setKeepAlive(enabled, initialDelay ?? 0);
  }

  // ---- called by the shared Bun handlers ----

  /** @internal */
  handleHandshake(sock: Socket<BunRawSocket>, success: boolean, authorizationError: Error | null): void {
    const settle = this.settleHandshake;
    if (settle === undefined) return;
    this.settleHandshake = undefined;
    // Bun closes a refused peer without an error of its own: the refusal is raised here.
    if (!success) {
      const cause = authorizationError ?? new Error("the peer's certificate was not accepted");
      settle(toTlsError(cause, this.where, true));
      this.destroy();
      return;
    }
    const alpn = sock.alpnProtocol;
    this.session = {
      alpnProtocol: typeof alpn === "string" && alpn !== "" ? alpn : undefined,
      tlsVersion: sock.getTLSVersion() || undefined,
      peerCertificate: peerCertificateFrom(sock.getPeerCertificate()),
      authorized: sock.authorized,
    };
    settle(undefined);
  }

  /** @internal */
  handleOpen(sock: Socket<BunRawSocket>): void {
    this.sock = sock;
    // An aborted connect that completes anyway must not leak a socket.
    if (this.closed) sock.terminate();
  }

  /** @internal */
  handleData(chunk: Uint8Array): void {
    if (this.live) this.handlers!.onData(chunk);
    else if (!this.localClose) (this.backlog ??= []).push(chunk);
  }

  /** @internal */
  handleEnd(): void {
    if (this.peerEnded) return;
    this.peerEnded = true;
    if (this.live) {
      this.endReported = true;
      this.handlers!.onEnd();
    }
  }

  /** @internal */
  handleDrain(): void {
    const q = this.queue;
    // Bun also fires drain after writes that were not short: nothing queued, nothing to do.
    if (q === undefined || this.closed) return;
    const sock = this.sock!;
    let head = this.queueHead;
    while (head < q.length) {
      const chunk = q[head]!;
      const n = sock.write(chunk);
      if (n < 0) {
        this.queueHead = head;
        this.writeRefused();
        return;
      }
      this.buffered -= n;
      if (n < chunk.byteLength) {
        q[head] = chunk.subarray(n);
        break;
      }
      head++;
    }
    if (head === q.length) {
      this.queue = undefined;
      this.queueHead = 0;
    } else if (head >= QUEUE_COMPACT_AT || head * 2 >= q.length) {
      q.splice(0, head);
      this.queueHead = 0;
    } else {
      this.queueHead = head;
    }
    if (this.buffered === 0) this.afterFlush();
    if (this.needDrain && this.buffered < DEFAULT_HIGH_WATER_MARK && this.wstate === W_OPEN && this.handlers !== undefined) {
      this.needDrain = false;
      this.handlers.onDrain();
    }
  }

  /** @internal */
  handleClose(error: Error | undefined): void {
    if (this.settleHandshake !== undefined) {
      const settle = this.settleHandshake;
      this.settleHandshake = undefined;
      settle(
        error
          ? toTlsError(error, this.where)
          : new NetError("ERR_TLS", "TLS handshake failed: the peer closed the connection", { address: this.where }),
      );
    }
    if (this.closed) return;
    this.closed = true;
    this.live = false;
    this.dropQueue();
    if (this.localClose) {
      this.schedule();
      return;
    }
    if (error !== undefined) {
      // A reset arrives here (Bun does not call `error` for it).
      if (this.closeError === undefined) this.closeError = toNetError(error, this.errorAddress());
    } else {
      // Bun skips `end` when the peer's FIN arrives after our own shutdown(): a clean close is an EOF.
      this.peerEnded = true;
    }
    this.pump();
  }

  // ---- internals ----

  /** The peer for an accepted socket whose address was read (the core reads it at once), else the dialled or bound address. */
  private errorAddress(): string {
    const r = this.accepted ? this.remote : undefined;
    return r === undefined || r.transport !== "tcp" ? this.where : formatAddress(r);
  }

  private enqueue(chunk: Uint8Array): void {
    (this.queue ??= []).push(chunk);
    this.buffered += chunk.byteLength;
  }

  private dropQueue(): void {
    this.queue = undefined;
    this.queueHead = 0;
    this.buffered = 0;
    this.needDrain = false;
    this.releaseFlushWaiters();
  }

  private releaseFlushWaiters(): void {
    const waiters = this.flushWaiters;
    this.flushWaiters = undefined;
    if (waiters !== undefined) for (const w of waiters) w();
  }

  /** Bun returned -1: the socket is closed or closing underneath us. */
  private writeRefused(): void {
    if (this.closed) return; // the close handler has reported, or will
    this.destroy(new NetError("EPIPE", "broken pipe: the peer closed the connection", { address: this.errorAddress() }));
  }

  private afterFlush(): void {
    this.releaseFlushWaiters();
    if (this.wstate === W_ENDING) {
      this.wstate = W_ENDED;
      if (!this.closed) this.sock!.shutdown();
    } else if (this.wstate === W_CLOSING) {
      this.release();
    }
  }

  /** Graceful release: Bun's end() sends FIN and closes the descriptor without waiting for the peer. */
  private release(): void {
    this.wstate = W_DONE;
    this.localClose = true;
    this.live = false;
    this.backlog = undefined;
    if (!this.closed) {
      this.closed = true;
      this.sock!.end();
    }
    this.schedule();
  }

  private schedule(): void {
    if (this.scheduled) return;
    this.scheduled = true;
    queueMicrotask(() => this.pump());
  }

  /** Delivers held-back data, then EOF, then close, as far as pause() allows. */
  private pump(): void {
    this.scheduled = false;
    const h = this.handlers;
    if (h === undefined || this.reported) return;
    const b = this.backlog;
    if (b !== undefined) {
      // Handlers may pause or destroy from inside onData.
      while (b.length > 0 && !this.paused && !this.localClose) h.onData(b.shift()!);
      if (b.length > 0 && !this.localClose) return; // paused: resume() pumps again
      this.backlog = undefined;
    }
    if (this.peerEnded && !this.endReported && !this.localClose) {
      if (this.paused) return;
      this.endReported = true;
      h.onEnd();
    }
    if (this.closed) this.report();
    else if (!this.paused && !this.localClose) this.live = true;
  }

  private report(): void {
    const h = this.handlers;
    if (this.reported || h === undefined) return;
    this.reported = true;
    this.live = false;
    this.backlog = undefined;
    // Let go of the core's objects: nothing is delivered after onClose.
    this.handlers = undefined;
    h.onClose(this.closeError);
  }
}

function tcpAddress(
  hostname: string | undefined,
  port: number | undefined,
  family: "IPv4" | "IPv6" | undefined,
): SocketAddress | undefined {
  // Bun reports undefined once the socket is closed.
  if (!hostname || port === undefined) return undefined;
  return { transport: "tcp", hostname, port, family: family ?? (hostname.includes(":") ? "IPv6" : "IPv4") };
}

/** One handler object for every socket: per-connection state lives in `socket.data`. */
const HANDLERS: SocketHandler<BunRawSocket, "uint8array"> = {
  // Plain Uint8Array chunks, the same type Node's and Deno's adapters hand over.
  binaryType: "uint8array",
  open(sock) {
    sock.data.handleOpen(sock);
  },
  data(sock, chunk) {
    sock.data.handleData(chunk);
  },
  end(sock) {
    sock.data.handleEnd();
  },
  drain(sock) {
    sock.data.handleDrain();
  },
  // Only TLS sockets get it. Its presence makes Bun call `open` before the handshake, so the
  // outcome (including a refused certificate, which Bun would otherwise swallow) is seen here.
  handshake(sock, success, authorizationError) {
    sock.data.handleHandshake(sock, success, authorizationError);
  },
  close(sock, error) {
    sock.data.handleClose(error);
  },
  // Present so Bun does not also report the rejection as unhandled; connect() maps the rejection.
  connectError() {},
  // No `error` handler on purpose: an exception thrown by the core's handlers stays uncaught, as on Node.
};

/**
 * @types/bun types `socket` as a "buffer" handler whatever `binaryType` says,
 * so the "uint8array" handlers are passed through this one cast.
 */
function forBun(handlers: SocketHandler<BunRawSocket, "uint8array">): SocketHandler<BunRawSocket> {
  return handlers as unknown as SocketHandler<BunRawSocket>;
}

const BUN_HANDLERS: SocketHandler<BunRawSocket> = forBun(HANDLERS);

function abortError(signal: AbortSignal, where: string): NetError {
  const reason: unknown = signal.reason;
  const timedOut = (reason as { name?: unknown } | undefined)?.name === "TimeoutError";
  return new NetError(timedOut ? "ETIMEDOUT" : "ABORT_ERR", timedOut ? "connect timed out" : "connect aborted", {
    cause: reason,
    address: where,
  });
}

/** ALPN as Bun wants it: length-prefixed bytes (a plain string list silently negotiates nothing). */
function alpnWire(protocols: readonly string[] | undefined): Uint8Array | undefined {
  if (protocols === undefined) return undefined;
  const encoder = new TextEncoder();
  const parts = protocols.map((p) => encoder.encode(p));
  const out = new Uint8Array(parts.reduce((n, p) => n + 1 + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out[at++] = p.length;
    out.set(p, at);
    at += p.length;
  }
  return out;
}

function clientTlsOptions(o: RawTlsClientOptions): TLSOptions {
  return {
    serverName: o.serverName,
    ca: o.ca ? [...o.ca] : undefined,
    cert: o.cert,
    key: o.key,
    ALPNProtocols: alpnWire(o.alpn),
    rejectUnauthorized: o.rejectUnauthorized,
  };
}

function serverTlsOptions(o: RawTlsServerOptions): TLSOptions {
  return {
    cert: o.cert,
    key: o.key,
    ca: o.ca ? [...o.ca] : undefined,
    requestCert: o.requestCert,
    rejectUnauthorized: o.requestCert,
    ALPNProtocols: alpnWire(o.alpn),
  };
}

function rawConnect(address: Address, options: RawConnectOptions): Promise<RawSocket> {
  const where = formatAddress(address);
  const signal = options.signal;
  if (signal?.aborted) return Promise.reject(abortError(signal, where));
  const unixPath = address.transport === "unix" ? address.path : undefined;
  const conn = new BunRawSocket(where, unixPath, false, undefined, options.tls !== undefined);
  const tls = options.tls ? clientTlsOptions(options.tls) : undefined;
  let pending: Promise<unknown>;
  try {
    pending =
      address.transport === "unix"
        ? Bun.connect<BunRawSocket>({ unix: address.path, data: conn, allowHalfOpen: true, tls, socket: BUN_HANDLERS })
        : Bun.connect<BunRawSocket>({
            hostname: address.hostname,
            port: address.port,
            data: conn,
            allowHalfOpen: true,
            tls,
            socket: BUN_HANDLERS,
          });
  } catch (err) {
    // Bun validates some options synchronously (e.g. port range).
    return Promise.reject(toNetError(err, where));
  }
  // A TLS connection is ready only once its handshake succeeded; TCP errors keep their own codes.
  if (tls) pending = pending.then(() => conn.waitForHandshake(), (err: unknown) => Promise.reject(toNetError(err, where)));
  if (signal === undefined) {
    return pending.then(
      () => conn,
      (err: unknown) => Promise.reject(toNetError(err, where)),
    );
  }
  return new Promise<RawSocket>((resolve, reject) => {
    // Bun cannot cancel a connect: drop the attempt and terminate the socket if it still opens.
    const onAbort = (): void => {
      conn.destroy();
      reject(abortError(signal, where));
    };
    signal.addEventListener("abort", onAbort, { once: true });
    pending.then(
      () => {
        signal.removeEventListener("abort", onAbort);
        resolve(conn);
      },
      (err: unknown) => {
        signal.removeEventListener("abort", onAbort);
        reject(toNetError(err, where));
      },
    );
  });
}

class BunListener implements RawListener {
  readonly address: SocketAddress;
  private listener: SocketListener<BunRawSocket> | undefined;

  constructor(listener: SocketListener<BunRawSocket>, address: SocketAddress) {
    this.listener = listener;
    this.address = address;
  }

  close(): Promise<void> {
    const l = this.listener;
    if (l !== undefined) {
      this.listener = undefined;
      // false: accepted sockets live on. Bun releases the port (and unlinks a Unix path) at once.
      l.stop(false);
    }
    return Promise.resolve();
  }
}

function rawListen(options: RawListenOptions, onAccept: (socket: RawSocket) => void): Promise<RawListener> {
  const { address } = options;
  // Updated to the bound address (real port) once listening; accepted sockets read it at open.
  let where = formatAddress(address);
  if (options.backlog !== undefined) {
    return Promise.reject(unsupported("backlog", "Bun's listen backlog is fixed at 512"));
  }
  const unixPath = address.transport === "unix" ? address.path : undefined;
  if (unixPath !== undefined) {
    if (options.reusePort) return Promise.reject(unsupported("reusePort", "it applies to TCP only, not Unix sockets"));
    if (options.ipv6Only) return Promise.reject(unsupported("ipv6Only", "it applies to TCP only, not Unix sockets"));
  }
  // One handler object per listener: only `open` differs, to hand sockets to this listener's onAccept.
  const tls = options.tls ? serverTlsOptions(options.tls) : undefined;
  const bunHandlers = forBun({
    ...HANDLERS,
    open(sock) {
      const conn = new BunRawSocket(where, unixPath, true, sock, tls !== undefined);
      sock.data = conn;
      // A TLS client is handed over once its handshake succeeded; one that fails it was destroyed already.
      if (tls) conn.waitForHandshake().then(() => onAccept(conn), () => {});
      else onAccept(conn);
    },
  });
  try {
    if (address.transport === "unix") {
      const l = Bun.listen<BunRawSocket>({ unix: address.path, allowHalfOpen: true, tls, socket: bunHandlers });
      return Promise.resolve(new BunListener(l, { transport: "unix", path: (l as UnixSocketListener<BunRawSocket>).unix }));
    }
    // Bun 1.4.5 honours reusePort and ipv6Only on listen (probed), though @types/bun lists them for connect only.
    const tcpOptions: TCPSocketListenOptions<BunRawSocket> & { reusePort?: boolean; ipv6Only?: boolean } = {
      hostname: address.hostname,
      port: address.port,
      reusePort: options.reusePort,
      ipv6Only: options.ipv6Only,
      allowHalfOpen: true,
      tls,
      socket: bunHandlers,
    };
    const l = Bun.listen<BunRawSocket>(tcpOptions);
    const hostname = l.hostname;
    const bound: SocketAddress = {
      transport: "tcp",
      hostname,
      port: l.port,
      // Bun echoes the hostname it was given; a name (e.g. "localhost") is reported as IPv4.
      family: hostname.includes(":") ? "IPv6" : "IPv4",
    };
    where = formatAddress(bound);
    return Promise.resolve(new BunListener(l, bound));
  } catch (err) {
    // Bun throws bind errors (EADDRINUSE, EACCES) synchronously.
    return Promise.reject(toNetError(err, where));
  }
}

/**
 * The Bun transport: TCP and Unix sockets through `Bun.connect` / `Bun.listen`,
 * with user-space write buffering, half-close, abortable connects and
 * normalised {@link NetError}s.
 *
 * @example
 * ```ts
 * import { bunTransport } from "wireline/bun";
 * const listener = await bunTransport.listen(
 *   { address: { transport: "tcp", hostname: "127.0.0.1", port: 0 } },
 *   (socket) => socket.start({ onData: (c) => socket.write(c), onEnd: () => socket.close(), onDrain() {}, onClose() {} }),
 * );
 * console.log(listener.address);
 * await listener.close();
 * ```
 */
export const bunTransport: Transport = { name: "bun", connect: rawConnect, listen: rawListen };

export * from "../src/mod.ts";

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
