/**
 * The user-facing connection: promise-based writes with backpressure, async
 * iteration over received chunks, half-close, and a close promise that never
 * rejects.
 *
 * @module
 */

import { NetError, toNetError, unsupported } from "./errors.ts";
import { checkTlsClientOptions, checkTlsServerOptions, type PeerCertificate, type RawStartTlsOptions, type StartTlsOptions, type TlsInfo } from "./tls.ts";
import { checkStartTlsCapabilities } from "./capabilities.ts";
import type { ProxyInfo } from "./proxy-protocol/types.ts";
import { describeConnection, inspectAs } from "./observability/inspect.ts";
import { checkKnownKeys } from "./options.ts";
import { checkUnrefCapability } from "./timers/unref.ts";
import type { RawHandlers, RawSocket, TransportCapabilities, UnsentWrites } from "./transport.ts";
import type { SocketAddress } from "./address.ts";

/**
 * Read-side buffer limit, in bytes: past it the socket is paused until the
 * consumer catches up, so a slow reader makes TCP slow the peer down instead
 * of growing memory.
 */
const READ_HIGH_WATER_MARK = 128 * 1024;

/**
 * Default hard cap on bytes buffered in user space per connection (16 MiB).
 * `write()` only asks callers to wait past 64 KiB; a caller that does not
 * wait would otherwise grow memory without bound for a peer that never reads.
 *
 * @example
 * ```ts
 * import { connect } from "wireline";
 * const conn = await connect("127.0.0.1:7000", { maxBufferedBytes: 64 * 1024 * 1024 }); // default 16 MiB
 * ```
 */
export const DEFAULT_MAX_BUFFERED_BYTES: number = 16 * 1024 * 1024;

const RESOLVED: Promise<void> = Promise.resolve();

const DONE: IteratorResult<Uint8Array> = Object.freeze({ value: undefined, done: true });
const encoder = new TextEncoder();
const noop = (): void => {};

function concatChunks(chunks: readonly Uint8Array[]): Uint8Array {
  if (chunks.length === 1) return chunks[0]!;
  const out = new Uint8Array(chunks.reduce((n, c) => n + c.length, 0));
  let at = 0;
  for (const c of chunks) {
    out.set(c, at);
    at += c.length;
  }
  return out;
}

// Connection's yes/no states, as bits of its #flags.
const UPGRADING = 1 << 0;
const PAUSED = 1 << 1;
const EOF = 1 << 2;
/** Set once iteration starts: from then on EOF closes only after the consumer has seen every chunk. */
const READING = 1 << 3;
const WRITE_CLOSED = 1 << 4;
const CLOSE_REQUESTED = 1 << 5;
const CLOSED = 1 << 6;
/** forEach()'s callback returned a promise that has not settled: chunks wait, and the socket is paused. */
const WAITING = 1 << 7;
/** The close watcher waits for the running forEach()'s promise (see {@link adoptForEach}): told before it settles. */
const FOREACH_ADOPTED = 1 << 8;

/** A connection's options, normalised. Connections made with equal options share one (see {@link settingsOf}). */
interface ConnectionSettings {
  readonly allowHalfOpen: boolean;
  readonly serverName: string | undefined;
  readonly borrowedChunks: boolean;
  readonly maxBufferedBytes: number;
  readonly capabilities: TransportCapabilities | undefined;
}

/** The frozen options given last, and the settings made of them: a server's connections come with one frozen object. */
let lastOptions: ConnectionOptions | undefined;
let lastSettings: ConnectionSettings = Object.freeze({
  allowHalfOpen: false,
  serverName: undefined,
  borrowedChunks: false,
  maxBufferedBytes: DEFAULT_MAX_BUFFERED_BYTES,
  capabilities: undefined,
});
/** The settings made most recently, newest first: a process that is both server and client alternates between a few. */
const recentSettings: ConnectionSettings[] = [lastSettings];
const RECENT_SETTINGS = 4;

/** Normalises `options`, sharing equal settings made before: an object per connection would cost ~64 bytes. */
function settingsOf(options: ConnectionOptions): ConnectionSettings {
  if (options === lastOptions) return lastSettings; // a server's (frozen) options, every time
  const allowHalfOpen = options.allowHalfOpen ?? false;
  const borrowedChunks = options.borrowedChunks === true;
  const maxBufferedBytes = options.maxBufferedBytes ?? DEFAULT_MAX_BUFFERED_BYTES;
  const { serverName, capabilities } = options;
  let settings: ConnectionSettings | undefined;
  // An index, not for-of: an iterator per connection where the optimiser does not remove it.
  for (let i = 0; i < recentSettings.length; i++) {
    const known = recentSettings[i]!;
    if (known.allowHalfOpen === allowHalfOpen && known.borrowedChunks === borrowedChunks && known.maxBufferedBytes === maxBufferedBytes && known.serverName === serverName && known.capabilities === capabilities) {
      settings = known;
      break;
    }
  }
  if (settings === undefined) {
    settings = Object.freeze({ allowHalfOpen, serverName, borrowedChunks, maxBufferedBytes, capabilities });
    if (recentSettings.unshift(settings) > RECENT_SETTINGS) recentSettings.pop();
  }
  // Only a frozen object is remembered (an unfrozen one may change before its next use), and an unfrozen one
  // leaves it in place: a process that both serves and connects keeps its server's settings at hand.
  if (Object.isFrozen(options)) {
    lastOptions = options;
    lastSettings = settings;
  }
  return settings;
}

/** A connection's state that most connections never need, made on first use: a field each would cost every connection 8 bytes. */
class RareState {
  /** Set by startTls(): the connection that now owns the socket. */
  upgradedTo: Connection | undefined = undefined;
  closed: Promise<NetError | undefined> | undefined = undefined;
  resolveClosed: ((error: NetError | undefined) => void) | undefined = undefined;
  /** What `closed` resolves with, once the connection is closed. */
  closeResult: NetError | undefined = undefined;
  resolveDrain: (() => void) | undefined = undefined;
  rejectDrain: ((e: NetError) => void) | undefined = undefined;
  readable: ReadableStream<Uint8Array> | undefined = undefined;
  writable: WritableStream<Uint8Array> | undefined = undefined;
  /** Why reads fail: the connection's error, or the upgrade's. */
  readError: NetError | undefined = undefined;
  /** What write() returns while the send buffer is past its high-water mark. */
  drain: Promise<void> | undefined = undefined;
  /** Set in borrowed mode: the raw socket takes chunks back once the reader has moved on. */
  recycle: ((chunk: Uint8Array) => void) | undefined = undefined;
  /** The chunk the reader holds in borrowed mode; handed back at the next step. */
  lent: Uint8Array | undefined = undefined;
}

/** What forEach() calls with each chunk. */
type ChunkCallback = (chunk: Uint8Array) => void | PromiseLike<void>;

/** A promise and the function that resolves it. */
interface Resolvers<T> {
  promise: Promise<T>;
  resolve: (value: T | PromiseLike<T>) => void;
}

/** `Promise.withResolvers` where the runtime has it (ES2024; not Node 20): on JSC its pair costs ~35 bytes less than an executor's. */
const nativeWithResolvers = (Promise as { withResolvers?: <T>() => Resolvers<T> }).withResolvers;

function withResolvers<T>(): Resolvers<T> {
  if (nativeWithResolvers !== undefined) return nativeWithResolvers.call(Promise) as Resolvers<T>;
  let resolve!: (value: T | PromiseLike<T>) => void;
  const promise = new Promise<T>((r) => (resolve = r));
  return { promise, resolve };
}

/** A promise whose rejection is observed, so an ignored write never crashes the process. */
function quietReject(error: unknown): Promise<never> {
  const p = Promise.reject(error);
  p.catch(noop);
  return p;
}

/**
 * The method a {@link CloseWatcher} is told through. A symbol, not a name: the
 * server's watcher is the context its handlers get, which must not offer it.
 */
export const CONNECTION_CLOSED: unique symbol = Symbol("wireline.connectionClosed");

/**
 * Something told when a connection closes; the server watches each
 * connection it serves this way. See {@link watchClose}.
 */
export interface CloseWatcher {
  [CONNECTION_CLOSED](): void;
}

/**
 * Calls `watcher[CONNECTION_CLOSED]()` on a microtask once `conn` is closed,
 * as `conn.closed.then()` would, without making a promise for it: a server
 * watches every connection it serves. One watcher per connection.
 *
 * @example
 * ```ts
 * import { CONNECTION_CLOSED, watchClose, type Connection } from "./connection.ts";
 * declare const conn: Connection;
 * watchClose(conn, { [CONNECTION_CLOSED]: () => console.log("gone") });
 * ```
 */
// Assigned in Connection's static block, the one place that may touch its private fields.
export let watchClose: (conn: Connection, watcher: CloseWatcher) => void;

/** Called on a {@link ForEachWatcher} just before the forEach() promise it adopted settles. */
export const FOREACH_SETTLING: unique symbol = Symbol("wireline.forEachSettling");

/** A close watcher that can wait for a connection's forEach() promise without a reaction on it while it is pending. */
export interface ForEachWatcher extends CloseWatcher {
  [FOREACH_SETTLING](): void;
}

/**
 * If `promise` is what `conn`'s running forEach() returned, and `watcher` watches
 * `conn`'s close, makes `watcher[FOREACH_SETTLING]()` be called just before that
 * promise settles, and returns true: a server whose handler returns
 * `conn.forEach(fn)` then puts its reaction on the promise only when it
 * settles, so an idle connection holds none (on JSC two bound methods, a
 * reaction and a derived promise: ~270 bytes). Whether it is called before or
 * after close, it is called once.
 *
 * @example
 * ```ts
 * import { adoptForEach, FOREACH_SETTLING, CONNECTION_CLOSED, watchClose, type Connection } from "./connection.ts";
 * declare const conn: Connection;
 * const watcher = { [CONNECTION_CLOSED]() {}, [FOREACH_SETTLING]() { void done.then(() => console.log("read all")); } };
 * watchClose(conn, watcher);
 * const done = conn.forEach(() => {});
 * if (!adoptForEach(conn, done, watcher)) void done.then(() => console.log("read all"));
 * ```
 */
export let adoptForEach: (conn: Connection, promise: Promise<void>, watcher: ForEachWatcher) => boolean;

/** The promise the latest forEach() returned, and its connection: how {@link adoptForEach} knows it, without a field per connection. */
let latestForEach: Promise<void> | undefined;
let latestForEachOf: Connection | undefined;

/**
 * Starts a graceful close, as `conn.close()` does, for a caller that does not
 * wait for it: no promise is made (a server closes every connection it served).
 *
 * @example
 * ```ts
 * import { closeWithoutWaiting, type Connection } from "./connection.ts";
 * declare const conn: Connection;
 * closeWithoutWaiting(conn);
 * ```
 */
// Assigned in Connection's static block.
export let closeWithoutWaiting: (conn: Connection) => void;

/** Options that shape a connection once it is open. */
export interface ConnectionOptions {
  /** Keep the write side open after the peer half-closes. Default false: EOF closes the connection. */
  allowHalfOpen?: boolean;
  /** The host name dialled: the default TLS server name for a client-side `startTls()`. */
  serverName?: string;
  /** Chunks are valid until the next iteration step only (see `SocketOptions.borrowedChunks`). */
  borrowedChunks?: boolean;
  /** Hard cap on buffered bytes; see {@link DEFAULT_MAX_BUFFERED_BYTES}. */
  maxBufferedBytes?: number;
  /** What the transport can do: `startTls()` refuses what it cannot, before touching the socket. */
  capabilities?: TransportCapabilities;
}

const CLOSE_KEYS: readonly (keyof CloseOptions)[] = ["timeout"];

/** Options of {@link Connection.close}. */
export interface CloseOptions {
  /**
   * Bound on the graceful close (flush, FIN, waiting briefly for the peer's
   * EOF), in ms. Default 10 000. Past it the connection is destroyed, and
   * `closed` carries ETIMEDOUT if bytes were still unsent.
   */
  timeout?: number;
}

/**
 * One open TCP or Unix-socket connection, the same on every runtime.
 *
 * - `write()` resolves at once while buffered bytes are under the high-water
 *   mark (64 KiB), otherwise when they drain; it rejects with a {@link NetError}
 *   if the connection is closed first.
 * - `for await (const chunk of conn)` yields received `Uint8Array` chunks and
 *   throws the connection's error, if any, after the last chunk. Leaving the
 *   loop early does not close the connection; the peer's EOF still does
 *   (unless `allowHalfOpen`).
 * - `closed` resolves (never rejects) with the error that closed the
 *   connection, or `undefined` for a clean close.
 *
 * @example
 * ```ts
 * import { connect } from "wireline";
 * await using conn = await connect("127.0.0.1:7");
 * await conn.write("ping\n");
 * for await (const chunk of conn) {
 *   console.log(new TextDecoder().decode(chunk));
 *   break;
 * }
 * ```
 */
export class Connection implements AsyncIterable<Uint8Array>, AsyncDisposable {
  static {
    // `console.log(conn)`: its addresses, state and counters.
    inspectAs(Connection, describeConnection);
  }

  readonly #raw: RawSocket;
  readonly #label: string;
  /** The options, shared by every connection made with equal ones. */
  readonly #settings: ConnectionSettings;
  /**
   * What few connections need (an upgrade, `closed`, backpressure, a failure, borrowed chunks, streams), made on
   * first use: twelve fields fit JavaScriptCore's 112-byte size class, sixteen took 160.
   */
  #rare: RareState | undefined;
  #closeWatcher: CloseWatcher | undefined;

  static {
    watchClose = (conn, watcher) => {
      if ((conn.#flags & CLOSED) !== 0) queueMicrotask(() => watcher[CONNECTION_CLOSED]());
      else conn.#closeWatcher = watcher;
    };
    adoptForEach = (conn, promise, watcher) => {
      const mine = promise === latestForEach && conn === latestForEachOf;
      latestForEach = latestForEachOf = undefined;
      if (!mine || conn.#consumer === undefined || conn.#closeWatcher !== watcher) return false;
      conn.#flags |= FOREACH_ADOPTED;
      return true;
    };
    closeWithoutWaiting = (conn) => {
      const upgradedTo = conn.#rare?.upgradedTo;
      if (upgradedTo !== undefined) closeWithoutWaiting(upgradedTo);
      else if ((conn.#flags & (CLOSED | CLOSE_REQUESTED)) === 0) conn.#requestClose();
    };
  }

  /** Chunks received and not yet read; created when a chunk has to wait. */
  #chunks: Uint8Array[] | undefined;
  #queuedBytes = 0;

  /** The yes/no states (UPGRADING, PAUSED, EOF, ...), as bits of one number: a field each cost every connection 8 bytes. */
  #flags = 0;

  /**
   * The pending read's resolver (iteration, read(into), or a running forEach()). Only the resolver: a failure resolves
   * it with a rejected promise, which rejects the read all the same, and an idle reader then holds one function fewer (~56 bytes).
   */
  #resolveRead:
    | ((r: IteratorResult<Uint8Array> | Promise<never>) => void)
    | ((n: number | null | Promise<never>) => void)
    | ((r: undefined | Promise<never>) => void)
    | undefined;
  /**
   * Where the pending read puts what arrives: the caller's buffer of a read(into), or the callback of a running
   * forEach() (chunks go to it straight from delivery; its promise's resolver is #resolveRead, so forEach() needs no
   * object of its own). Undefined while an iterator step (or nothing) is pending. One field for both: the readers
   * exclude each other, and a field costs every connection 8 bytes.
   */
  #reader: Uint8Array | ChunkCallback | undefined;

  /** The callback of the forEach() reading this connection, if one is. */
  get #consumer(): ChunkCallback | undefined {
    const reader = this.#reader;
    return typeof reader === "function" ? reader : undefined;
  }

  #bytesRead = 0;
  #bytesWritten = 0;

  /**
   * Wraps a started-nowhere raw socket. Users get connections from `connect()`
   * and `listen()`; adapters and tests may build one directly.
   */
  constructor(raw: RawSocket, label: string, options: ConnectionOptions = {}) {
    this.#raw = raw;
    this.#label = label;
    this.#settings = settingsOf(options);
    const recycle = this.#settings.borrowedChunks ? raw.recycle : undefined;
    if (recycle !== undefined) this.#rareState().recycle = recycle;
    // Addresses are not read here: most connections never ask, and the socket keeps them past close.
    raw.start(new Connection.#Handlers(this));
  }

  /**
   * The raw socket's handlers: one small object per connection on a shared prototype, no closures. A class
   * rather than `Object.create(proto)`: V8 fits its instances to their one field (32 bytes, not 56).
   */
  static readonly #Handlers = class implements RawHandlers {
    readonly conn: Connection;
    constructor(conn: Connection) {
      this.conn = conn;
    }
    onData(chunk: Uint8Array): void {
      this.conn.#onData(chunk);
    }
    onEnd(): void {
      this.conn.#onEnd();
    }
    onDrain(): void {
      this.conn.#onDrain();
    }
    onClose(error: NetError | undefined): void {
      this.conn.#onClose(error);
    }
  };

  /** The iterator `for await` gets; a class for the same reason as the handlers'. */
  static readonly #Iterator = class implements AsyncIterator<Uint8Array> {
    readonly conn: Connection;
    constructor(conn: Connection) {
      this.conn = conn;
    }
    next(): Promise<IteratorResult<Uint8Array>> {
      return this.conn.#next();
    }
    // Leaving the loop means "done reading": a pending or later EOF may then close the connection.
    return(): Promise<IteratorResult<Uint8Array>> {
      const conn = this.conn;
      // This iterator never read: a running forEach() is the reader, and its lent chunk is not ours to give back.
      if (conn.#consumer !== undefined) return Promise.resolve(DONE);
      conn.#giveBack();
      conn.#flags &= ~READING;
      if ((conn.#flags & EOF) !== 0) conn.#closeAfterEof();
      return Promise.resolve(DONE);
    }
  };

  /** Resolves when the connection is gone, with its error if it failed. Never rejects. */
  get closed(): Promise<NetError | undefined> {
    const rare = this.#rareState();
    if (rare.closed !== undefined) return rare.closed;
    if ((this.#flags & CLOSED) !== 0) return (rare.closed = Promise.resolve(rare.closeResult));
    // No executor closure: one fewer function and scope per connection that asks.
    const { promise, resolve } = withResolvers<NetError | undefined>();
    rare.resolveClosed = resolve;
    return (rare.closed = promise);
  }

  #rareState(): RareState {
    return (this.#rare ??= new RareState());
  }

  /** The local end, or undefined where the runtime does not report it. */
  get localAddress(): SocketAddress | undefined {
    return this.#raw.localAddress;
  }

  /** The remote end. */
  get remoteAddress(): SocketAddress | undefined {
    return this.#raw.remoteAddress;
  }

  /**
   * The PROXY protocol header this connection arrived with, on a server
   * with `proxyProtocol`: version, command, source, destination, TLVs, and
   * `via`, the balancer's own address. `remoteAddress` and `localAddress`
   * already report the header's source and destination.
   */
  get proxy(): ProxyInfo | undefined {
    return this.#raw.proxy;
  }

  /** Bytes received so far. */
  get bytesRead(): number {
    return this.#bytesRead;
  }

  /** Bytes handed to `write()` so far. */
  get bytesWritten(): number {
    return this.#bytesWritten;
  }

  /** Bytes accepted by `write()` and not yet taken by the kernel. */
  get bufferedAmount(): number {
    return this.#raw.bufferedAmount;
  }

  /**
   * What was lost: the writes (and their bytes) that `write()` had accepted
   * but that never reached the operating system because the connection was
   * destroyed or failed first. Undefined while open and when nothing was lost.
   * Bytes that did reach the operating system may still be lost in the network
   * or the peer: only a reply from the peer proves delivery.
   */
  get unsent(): UnsentWrites | undefined {
    return this.#rare?.upgradedTo ? this.#rare.upgradedTo.unsent : this.#raw.unsent;
  }

  /** The TLS session, or undefined for a plain connection. */
  get tls(): TlsInfo | undefined {
    return this.#raw.tls;
  }

  /** The negotiated ALPN protocol (TLS only). */
  get alpnProtocol(): string | undefined {
    return this.#raw.tls?.alpnProtocol;
  }

  /** e.g. "TLSv1.3"; undefined for plain connections and where the runtime does not report it (Deno). */
  get tlsVersion(): string | undefined {
    return this.#raw.tls?.tlsVersion;
  }

  /** The peer's certificate, where the runtime reports it (not on Deno). */
  get peerCertificate(): PeerCertificate | undefined {
    return this.#raw.tls?.peerCertificate;
  }

  /** False once `end()`, `close()` or a failure closed the write side: `write()` would then reject. */
  get isWritable(): boolean {
    return (this.#flags & WRITE_CLOSED) === 0;
  }

  /** True once the connection is fully closed. */
  get isClosed(): boolean {
    return (this.#flags & CLOSED) !== 0;
  }

  /**
   * Sends bytes (strings are UTF-8 encoded). Resolves at once while the send
   * buffer is under its high-water mark (64 KiB), otherwise once it drains
   * below 32 KiB. Resolved means accepted into wireline's buffer, not received
   * by the peer. Rejects with `ERR_SOCKET_CLOSED` after `end()`/`close()`,
   * with the connection's error, or with `ERR_BUFFER_FULL` when the caller
   * did not wait and `maxBufferedBytes` are already buffered.
   */
  write(data: Uint8Array | string): Promise<void> {
    if ((this.#flags & WRITE_CLOSED) !== 0) {
      return quietReject(
        (this.#flags & UPGRADING) !== 0
          ? this.#upgradedError()
          : new NetError("ERR_SOCKET_CLOSED", "write after the connection was closed or ended", { address: this.#label, cause: this.#rare?.readError }),
      );
    }
    const bytes = typeof data === "string" ? encoder.encode(data) : data;
    // Only a writer that ignored backpressure can be past the cap, so the check waits for a pending drain.
    if (this.#rare?.drain !== undefined && this.#raw.bufferedAmount >= this.#settings.maxBufferedBytes) {
      return quietReject(
        new NetError("ERR_BUFFER_FULL", `write refused: ${this.#raw.bufferedAmount} bytes already buffered (maxBufferedBytes ${this.#settings.maxBufferedBytes}); await write() before writing more`, {
          address: this.#label,
        }),
      );
    }
    this.#bytesWritten += bytes.length;
    if (this.#raw.write(bytes)) return this.#rare?.drain ?? RESOLVED;
    const rare = this.#rareState();
    return (rare.drain ??= this.#newDrain(rare));
  }

  #newDrain(rare: RareState): Promise<void> {
    const p = new Promise<void>((resolve, reject) => {
      rare.resolveDrain = resolve;
      rare.rejectDrain = reject;
    });
    p.catch(noop);
    return p;
  }

  /** Half-closes: sends FIN after buffered bytes; reading goes on until the peer closes. */
  end(): void {
    const upgradedTo = this.#rare?.upgradedTo;
    if (upgradedTo) return upgradedTo.end();
    if ((this.#flags & WRITE_CLOSED) !== 0) return;
    if ((this.#flags & EOF) !== 0) this.#requestClose();
    else {
      this.#flags |= WRITE_CLOSED;
      this.#raw.end();
    }
  }

  /**
   * Closes gracefully and resolves once the socket is released: flushes what
   * was written, sends FIN, reads and discards until the peer's EOF (briefly,
   * so that the peer's unread data does not make the kernel reset the
   * connection and destroy our last bytes), then releases. Bounded by
   * `timeout` (default 10 s), after which the connection is destroyed.
   */
  close(options?: CloseOptions): Promise<void> {
    const upgradedTo = this.#rare?.upgradedTo;
    if (upgradedTo) return upgradedTo.close(options);
    if (options !== undefined && (options === null || typeof options !== "object")) {
      return Promise.reject(new NetError("ERR_INVALID_OPTION", `close() takes { timeout }, got ${String(options)}`));
    }
    try {
      if (options !== undefined) checkKnownKeys(options, CLOSE_KEYS, "close");
    } catch (error) {
      return Promise.reject(error);
    }
    const timeout = options?.timeout;
    if (timeout !== undefined && (typeof timeout !== "number" || !(timeout >= 0))) {
      return Promise.reject(new NetError("ERR_INVALID_OPTION", `option "timeout" must be a number of milliseconds ≥ 0, got ${String(timeout)}`));
    }
    if ((this.#flags & (CLOSED | CLOSE_REQUESTED)) === 0) this.#requestClose(timeout);
    return this.closed.then(noop);
  }

  /** Closes at once, discarding unsent bytes. `closed` resolves with `error` if given. */
  destroy(error?: unknown): void {
    const upgradedTo = this.#rare?.upgradedTo;
    if (upgradedTo) return upgradedTo.destroy(error);
    if ((this.#flags & CLOSED) !== 0) return;
    this.#flags |= WRITE_CLOSED;
    this.#raw.destroy(error === undefined ? undefined : toNetError(error, this.#label));
  }

  /**
   * Upgrades this plain connection to TLS (STARTTLS, as in SMTP, IMAP or
   * PostgreSQL) and resolves with the TLS connection. Call it once the peer has
   * agreed and every byte it sent before has been read: unread plain-text bytes
   * make it reject with ERR_TLS, since they could have been injected before the
   * handshake. From the call on, this object only forwards `close()`,
   * `destroy()`, `end()` and `closed` to the new connection; writing to or
   * reading from it rejects with ERR_SOCKET_CLOSED.
   *
   * A refused certificate rejects with ERR_TLS_CERT and closes the connection.
   * The server side (`isServer: true`) is ERR_UNSUPPORTED on Deno, which
   * leaves the connection usable.
   *
   * @example
   * ```ts
   * import { connect } from "wireline";
   * const plain = await connect("mail.example.com:587");
   * // ... read the greeting, send "STARTTLS\r\n", read "220 ready" ...
   * const conn = await plain.startTls({ serverName: "mail.example.com" });
   * await conn.write("EHLO me\r\n");
   * ```
   */
  async startTls(options: StartTlsOptions = {}): Promise<Connection> {
    if ((this.#flags & UPGRADING) !== 0) throw this.#upgradedError();
    if ((this.#flags & (CLOSED | WRITE_CLOSED | EOF)) !== 0) {
      throw new NetError("ERR_SOCKET_CLOSED", "cannot start TLS on a closed or half-closed connection", { address: this.#label });
    }
    if (this.#raw.tls) throw new NetError("ERR_TLS", "the connection is already TLS", { address: this.#label });
    if (!this.#raw.startTls) throw unsupported("startTls", "this transport has no TLS");
    if (options === null || typeof options !== "object") throw new NetError("ERR_INVALID_OPTION", `option "startTls" must be an object of TLS options, got ${String(options)}`);
    let raw: RawStartTlsOptions = options.isServer === true
      ? { isServer: true, server: checkTlsServerOptions(options, "startTls") }
      : { isServer: false, client: checkTlsClientOptions(options, this.#settings.serverName, "startTls") };
    const { capabilities } = this.#settings;
    if (capabilities) checkStartTlsCapabilities(capabilities, raw, this.#raw.remoteAddress?.transport === "unix" || this.#raw.localAddress?.transport === "unix");
    if (this.#queuedBytes > 0) {
      // A client that reads plain text it did not ask for could be fooled by injected bytes. A server's
      // unread bytes are the client's ClientHello, racing startTls(): they belong to the TLS layer.
      if (!raw.isServer) {
        throw new NetError("ERR_TLS", `refusing to start TLS: ${this.#queuedBytes} unread plain-text bytes arrived before the handshake (read them first; they may be injected)`, {
          address: this.#label,
        });
      }
      raw = { ...raw, received: concatChunks(this.#chunks!.splice(0)) };
      this.#queuedBytes = 0;
    }
    this.#flags |= UPGRADING | WRITE_CLOSED;
    let upgraded: RawSocket;
    try {
      upgraded = await this.#raw.startTls(raw);
    } catch (error) {
      const netError = toNetError(error, this.#label);
      if (netError.code === "ERR_UNSUPPORTED") {
        this.#flags &= ~(UPGRADING | WRITE_CLOSED);
      } else {
        this.#onClose(netError);
      }
      throw netError;
    }
    // Reads on this object now end with the "upgraded" error; the new connection owns the socket.
    this.#flags |= EOF;
    this.#rareState().readError = this.#upgradedError();
    this.#settleWaiter();
    const next = new Connection(upgraded, this.#label, this.#settings);
    this.#rareState().upgradedTo = next;
    next.closed.then((error) => this.#settleClosed(error));
    return next;
  }

  #upgradedError(): NetError {
    return new NetError("ERR_SOCKET_CLOSED", "this connection was upgraded to TLS by startTls(): use the connection it returned", { address: this.#label });
  }

  /** Stops reading from the socket until {@link Connection.resume}. Iteration waits meanwhile. */
  pause(): void {
    this.#flags |= PAUSED;
    this.#raw.pause();
  }

  /** Undoes {@link Connection.pause}. */
  resume(): void {
    this.#flags &= ~PAUSED;
    if (this.#queuedBytes < READ_HIGH_WATER_MARK) this.#raw.resume();
  }

  /** Enables or disables Nagle's algorithm (wireline enables TCP_NODELAY by default). */
  setNoDelay(enabled: boolean): void {
    this.#raw.setNoDelay(enabled);
  }

  /** Turns TCP keep-alive on or off; `initialDelay` in ms where the runtime can set it. */
  setKeepAlive(enabled: boolean, initialDelay?: number): void {
    this.#raw.setKeepAlive(enabled, initialDelay);
  }

  /**
   * Lets the process exit while this connection is open, as Node's
   * `socket.unref()`. ERR_UNSUPPORTED where the transport cannot.
   */
  unref(): void {
    checkUnrefCapability(this.#settings.capabilities);
    this.#raw.unref?.();
  }

  /** Undoes {@link Connection.unref}. */
  ref(): void {
    checkUnrefCapability(this.#settings.capabilities);
    this.#raw.ref?.();
  }

  /**
   * Reads the next bytes into `into`, and resolves with how many it filled:
   * at least 1, at most `into.length`, as many as have arrived. Resolves
   * with `null` at the peer's EOF (and again on every later call), rejects
   * with the connection's {@link NetError} if it failed. A `close()` while a
   * read is pending settles it with `null`.
   *
   * Where the runtime reads into memory it is given (plain and TLS), the
   * bytes go straight into `into`: no allocation and no copy per read, so a
   * loop that reuses one buffer runs at the raw socket's speed. Where the
   * runtime pushes chunks, the bytes are copied from the chunk it pushed.
   *
   * One read at a time: a second call, or an iteration step, while a read is
   * pending rejects with ERR_INVALID_STATE. Reads and iteration may follow
   * one another: bytes come in order, whichever asks. `into` belongs to the
   * pending read until it settles.
   *
   * @example
   * ```ts
   * import { connect } from "wireline";
   * const conn = await connect("127.0.0.1:9000");
   * const buf = new Uint8Array(64 * 1024);
   * let total = 0;
   * for (let n; (n = await conn.read(buf)) !== null; ) total += n; // buf[0..n) is valid until the next read
   * console.log(`${total} bytes, then EOF`);
   * ```
   */
  read(into: Uint8Array): Promise<number | null> {
    if (!(into instanceof Uint8Array) || into.length === 0) {
      return quietReject(new NetError("ERR_INVALID_OPTION", `read() takes a non-empty Uint8Array to fill, got ${into instanceof Uint8Array ? "an empty one" : String(into)}`));
    }
    if (this.#resolveRead) return quietReject(this.#alreadyReading());
    if (this.#rare?.recycle) this.#giveBack();
    this.#flags |= READING;
    if (this.#queuedBytes > 0) {
      const n = this.#copyQueued(into);
      if (n > 0) return Promise.resolve(n);
    }
    const readError = this.#rare?.readError;
    if (readError !== undefined) return Promise.reject(readError);
    if ((this.#flags & EOF) !== 0) {
      this.#closeAfterEof();
      return Promise.resolve(null);
    }
    this.#reader = into;
    const p = new Promise<number | null>((resolve) => (this.#resolveRead = resolve));
    // A paused connection reads nothing until resume(); push runtimes deliver the next chunk to #onData.
    if ((this.#flags & PAUSED) === 0 && this.#raw.readInto) this.#raw.readInto(into);
    return p;
  }

  #alreadyReading(): NetError {
    if (this.#consumer) return new NetError("ERR_INVALID_STATE", "forEach() is reading this connection: it is the one reader until its promise settles", { address: this.#label });
    return new NetError("ERR_INVALID_STATE", "a read is already pending on this connection: await it before reading again", { address: this.#label });
  }

  /**
   * Reads with a callback: calls `fn` with each received chunk, in order,
   * straight from the socket's delivery (no promise or iterator step per
   * chunk), and resolves at the peer's EOF once every chunk was given to
   * `fn`. Rejects with the connection's {@link NetError} if it fails. Chunks
   * that arrived before the call come first.
   *
   * If `fn` returns a promise, reading pauses until it settles, so a slow
   * `fn` slows the peer down as a slow `for await` loop does. If `fn` throws
   * or its promise rejects, reading stops and the promise rejects with that
   * error; the connection stays open, as after leaving a `for await` loop.
   * While idle it keeps no promise but the one it returned: the way to
   * receive on many quiet connections.
   *
   * It is the connection's one reader: iterating, `read()` or another
   * `forEach()` meanwhile rejects with ERR_INVALID_STATE. With
   * `borrowedChunks`, a chunk is valid until `fn` returns, or until the
   * promise it returned settles.
   *
   * @example
   * ```ts
   * import { listen } from "wireline";
   * // Returned, not awaited inside an async handler: the server then holds no reaction on it while idle.
   * await listen({ port: 7000 }, (conn) => conn.forEach((chunk) => conn.write(chunk)));
   * ```
   */
  forEach(fn: (chunk: Uint8Array) => void | PromiseLike<void>): Promise<void> {
    if (typeof fn !== "function") return Promise.reject(new TypeError(`forEach() takes a function, got ${typeof fn}`));
    if (this.#resolveRead) return Promise.reject(this.#alreadyReading());
    if (this.#rare?.recycle) this.#giveBack();
    this.#flags |= READING;
    this.#reader = fn;
    const { promise, resolve } = withResolvers<void>();
    this.#resolveRead = resolve as (r: undefined | Promise<never>) => void;
    latestForEach = promise;
    latestForEachOf = this;
    this.#feed(fn);
    return promise;
  }

  /** Gives the queued chunks to `fn` until it waits; with none left, finishes at EOF or failure, or reads on. */
  #feed(fn: ChunkCallback): void {
    const chunks = this.#chunks;
    if (chunks !== undefined) {
      while (chunks.length > 0) {
        const chunk = chunks.shift()!;
        this.#queuedBytes -= chunk.length;
        this.#give(fn, chunk);
        if ((this.#flags & WAITING) !== 0 || this.#consumer !== fn) return;
      }
    }
    if (this.#rare?.readError !== undefined || (this.#flags & EOF) !== 0) this.#finishForEach();
    // In pull mode (after read(into)) too: forEach wants chunks pushed.
    else if ((this.#flags & PAUSED) === 0) this.#raw.resume();
  }

  /** Calls forEach()'s `fn` with `chunk`; a promise it returns pauses the socket until it settles. */
  #give(fn: ChunkCallback, chunk: Uint8Array): void {
    let result: void | PromiseLike<void>;
    try {
      result = fn(chunk);
    } catch (error) {
      this.#rare?.recycle?.(chunk);
      if (this.#consumer === fn) this.#stopForEach(error);
      return;
    }
    if (result === undefined || result === null || typeof result.then !== "function") {
      this.#rare?.recycle?.(chunk);
      return;
    }
    // `fn` closed the connection itself and forEach() has settled: nothing waits for this promise. The chunk is
    // left to the collector rather than given back while `fn` may still use it.
    if (this.#consumer !== fn) return;
    this.#flags |= WAITING;
    if (this.#rare?.recycle) this.#rare.lent = chunk;
    this.#raw.pause();
    try {
      // Closures per wait, not per forEach(): an idle forEach() keeps none. The promise `fn` made costs more anyway.
      result.then(
        () => this.#afterWait(),
        (error: unknown) => this.#stopForEach(error),
      );
    } catch (error) {
      // A thenable whose then() throws: as if its promise had rejected.
      this.#stopForEach(error);
    }
  }

  /** The promise forEach()'s `fn` returned has settled: on to the chunks that waited. */
  #afterWait(): void {
    if ((this.#flags & WAITING) === 0) return;
    this.#flags &= ~WAITING;
    if (this.#rare?.recycle) this.#giveBack();
    this.#feed(this.#consumer!);
  }

  /** `fn` threw or its promise rejected: reading stops, the connection stays open, forEach() rejects with `error`. */
  #stopForEach(error: unknown): void {
    if (this.#rare?.recycle) this.#giveBack();
    const settle = this.#resolveRead as (r: Promise<never>) => void;
    this.#resolveRead = this.#reader = undefined;
    this.#forEachSettling();
    // As after leaving a `for await` loop: chunks queue up to the read limit, and a pending or later EOF may close.
    this.#flags &= ~(WAITING | READING);
    if ((this.#flags & EOF) !== 0) this.#closeAfterEof();
    else if ((this.#flags & PAUSED) === 0 && this.#queuedBytes < READ_HIGH_WATER_MARK) this.#raw.resume();
    settle(quietReject(error));
  }

  /** Every chunk was given and the connection is at EOF or failed: forEach() settles. */
  #finishForEach(): void {
    const settle = this.#resolveRead as (r: undefined | Promise<never>) => void;
    this.#resolveRead = this.#reader = undefined;
    this.#forEachSettling();
    const error = this.#rare?.readError;
    if (error !== undefined) settle(quietReject(error));
    else {
      this.#closeAfterEof();
      settle(undefined);
    }
  }

  /** The running forEach() is about to settle: its adopter, if it has one, is told first (to react to it in time). */
  #forEachSettling(): void {
    if (latestForEachOf === this) latestForEach = latestForEachOf = undefined;
    if ((this.#flags & FOREACH_ADOPTED) === 0) return;
    this.#flags &= ~FOREACH_ADOPTED;
    // Kept past close for this call (see #settleClosed).
    (this.#closeWatcher as ForEachWatcher)[FOREACH_SETTLING]();
  }

  /** Fills `into` from the chunks that arrived before anyone asked; a chunk partly taken keeps its rest at the head. */
  #copyQueued(into: Uint8Array): number {
    const chunks = this.#chunks!;
    let n = 0;
    while (n < into.length && chunks.length > 0) {
      const head = chunks[0]!;
      const room = into.length - n;
      if (head.length <= room) {
        into.set(head, n);
        n += head.length;
        chunks.shift();
        this.#rare?.recycle?.(head);
      } else {
        into.set(head.subarray(0, room), n);
        chunks[0] = head.subarray(room);
        n += room;
      }
    }
    this.#queuedBytes -= n;
    // Push runtimes refill the queue; a pull-mode reader asks for what it wants instead.
    if (!this.#raw.readInto && this.#queuedBytes < READ_HIGH_WATER_MARK / 2 && (this.#flags & (PAUSED | EOF)) === 0) this.#raw.resume();
    return n;
  }

  [Symbol.asyncIterator](): AsyncIterator<Uint8Array> {
    return new Connection.#Iterator(this);
  }

  /** Closes the connection gracefully: `await using conn = await connect(...)`. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  /** A Web Streams view of the received bytes, created on first use. Slower than iteration. */
  get readable(): ReadableStream<Uint8Array> {
    return (this.#rareState().readable ??= new ReadableStream<Uint8Array>(
      {
        pull: async (controller) => {
          const result = await this.#next();
          if (result.done) controller.close();
          // A stream consumer may keep chunks: in borrowed mode it gets copies.
          else controller.enqueue(this.#rare?.recycle ? result.value.slice() : result.value);
        },
        cancel: () => this.destroy(),
      },
      { highWaterMark: 0 },
    ));
  }

  /** A Web Streams view of the send side, created on first use. Closing it half-closes. */
  get writable(): WritableStream<Uint8Array> {
    return (this.#rareState().writable ??= new WritableStream<Uint8Array>({
      write: (chunk) => this.write(chunk),
      close: () => this.end(),
      abort: (reason) => this.destroy(reason),
    }));
  }

  /** True when iteration lends chunks (borrowed mode on a runtime that reuses read memory). */
  get borrowedChunks(): boolean {
    return this.#rare?.recycle !== undefined;
  }

  #giveBack(): void {
    const rare = this.#rare;
    const lent = rare?.lent;
    if (lent === undefined) return;
    rare!.lent = undefined;
    rare!.recycle!(lent);
  }

  #next(): Promise<IteratorResult<Uint8Array>> {
    // Before the queue: chunks waiting for forEach()'s promise are its own.
    if (this.#consumer) return quietReject(this.#alreadyReading());
    if (this.#rare?.recycle) this.#giveBack();
    const chunks = this.#chunks;
    if (chunks !== undefined && chunks.length > 0) {
      const value = chunks.shift()!;
      if (this.#rare?.recycle) this.#rare.lent = value;
      this.#queuedBytes -= value.length;
      if (this.#queuedBytes < READ_HIGH_WATER_MARK / 2 && (this.#flags & PAUSED) === 0 && (this.#flags & EOF) === 0) this.#raw.resume();
      return Promise.resolve({ value, done: false });
    }
    const readError = this.#rare?.readError;
    if (readError !== undefined) return Promise.reject(readError);
    if ((this.#flags & EOF) !== 0) {
      this.#closeAfterEof();
      return Promise.resolve(DONE);
    }
    this.#flags |= READING;
    if (this.#resolveRead) return Promise.reject(this.#reader !== undefined ? this.#alreadyReading() : new Error("Connection is already being read by another iterator"));
    // After read(into) the socket may be in pull mode: iteration wants chunks pushed.
    if (this.#raw.readInto && (this.#flags & PAUSED) === 0) this.#raw.resume();
    return new Promise((resolve) => (this.#resolveRead = resolve));
  }

  #onData(chunk: Uint8Array): void {
    this.#bytesRead += chunk.length;
    const resolve = this.#resolveRead;
    if (resolve) {
      const reader = this.#reader;
      if (reader === undefined) {
        this.#resolveRead = undefined;
        if (this.#rare?.recycle) this.#rare.lent = chunk;
        (resolve as (r: IteratorResult<Uint8Array>) => void)({ value: chunk, done: false });
        return;
      }
      if (typeof reader !== "function") {
        this.#resolveRead = this.#reader = undefined;
        (resolve as (n: number | null) => void)(this.#fill(reader, chunk));
        return;
      }
      // forEach(): straight to its callback, unless a promise it returned is pending (then the chunk waits in the queue).
      if ((this.#flags & WAITING) === 0) {
        this.#give(reader, chunk);
        return;
      }
    }
    (this.#chunks ??= []).push(chunk);
    this.#queuedBytes += chunk.length;
    if (this.#queuedBytes >= READ_HIGH_WATER_MARK) this.#raw.pause();
  }

  /** Answers a pending read(into) with `chunk`: read straight into `into` (pull mode) or copied, the rest queued. */
  #fill(into: Uint8Array, chunk: Uint8Array): number {
    if (chunk.buffer === into.buffer && chunk.byteOffset === into.byteOffset) return chunk.length;
    if (chunk.length <= into.length) {
      into.set(chunk);
      this.#rare?.recycle?.(chunk);
      return chunk.length;
    }
    into.set(chunk.subarray(0, into.length));
    (this.#chunks ??= []).push(chunk.subarray(into.length));
    this.#queuedBytes += chunk.length - into.length;
    if (this.#queuedBytes >= READ_HIGH_WATER_MARK) this.#raw.pause();
    return into.length;
  }

  #onEnd(): void {
    this.#flags |= EOF;
    this.#settleWaiter();
    // A consumer that is reading may still answer the chunks it has not processed yet: wait for it to see EOF.
    if ((this.#flags & READING) === 0) this.#closeAfterEof();
  }

  /** Both directions done, or half-open not wanted: release the socket once our writes flush. */
  #closeAfterEof(): void {
    if ((this.#flags & (CLOSE_REQUESTED | CLOSED)) !== 0 || (this.#settings.allowHalfOpen && (this.#flags & WRITE_CLOSED) === 0)) return;
    this.#requestClose();
  }

  #requestClose(timeout?: number): void {
    this.#flags |= WRITE_CLOSED | CLOSE_REQUESTED;
    this.#raw.close(timeout);
  }

  #onDrain(): void {
    const rare = this.#rare;
    const resolve = rare?.resolveDrain;
    if (rare !== undefined) {
      rare.drain = undefined;
      rare.resolveDrain = rare.rejectDrain = undefined;
    }
    resolve?.();
  }

  #onClose(error: NetError | undefined): void {
    this.#flags |= CLOSED | WRITE_CLOSED | EOF;
    if (error) this.#rareState().readError = error;
    this.#settleWaiter();
    const rare = this.#rare;
    const reject = rare?.rejectDrain;
    if (rare !== undefined) {
      rare.drain = undefined;
      rare.resolveDrain = rare.rejectDrain = undefined;
    }
    reject?.(error ?? new NetError("ERR_SOCKET_CLOSED", "connection closed before buffered data was flushed", { address: this.#label }));
    this.#settleClosed(error);
  }

  #settleClosed(error: NetError | undefined): void {
    this.#flags |= CLOSED;
    const rare = error === undefined ? this.#rare : this.#rareState();
    if (rare !== undefined) {
      rare.closeResult = error;
      const resolve = rare.resolveClosed;
      rare.resolveClosed = undefined;
      resolve?.(error);
    }
    const watcher = this.#closeWatcher;
    // An adopted forEach() still running (its callback's promise pending) tells the watcher when it settles.
    if ((this.#flags & FOREACH_ADOPTED) === 0) this.#closeWatcher = undefined;
    if (watcher !== undefined) queueMicrotask(() => watcher[CONNECTION_CLOSED]());
  }

  #settleWaiter(): void {
    const resolve = this.#resolveRead;
    if (!resolve || (this.#chunks?.length ?? 0) > 0) return;
    if (this.#consumer !== undefined) {
      if ((this.#flags & WAITING) === 0) this.#finishForEach();
      return;
    }
    const into = this.#reader;
    this.#resolveRead = this.#reader = undefined;
    if (this.#rare?.readError) resolve(quietReject(this.#rare?.readError));
    else {
      this.#closeAfterEof();
      if (into === undefined) (resolve as (r: IteratorResult<Uint8Array>) => void)(DONE);
      else (resolve as (n: number | null) => void)(null);
    }
  }
}
