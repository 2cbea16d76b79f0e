/**
 * A production TCP/Unix-socket server in the shape of POCO's TCPServer: one
 * handler call per connection, bounded concurrency and a bounded waiting
 * queue, a connection filter, idle and first-byte timeouts, counters, and a
 * graceful stop.
 *
 * @module
 */

import { formatAddress, parseAddress, type Address, type SocketAddress } from "../address.ts";
import { SessionRegistry, type SessionHandler, type SessionStats } from "../session/server-sessions.ts";
import { sessionServerSettings, type SessionServerOptions } from "../session/session-options.ts";
import { AdmissionQueue } from "./admission-queue.ts";
import { checkListenCapabilities } from "../capabilities.ts";
import { realClock, type Clock, type TimerHandle } from "../timers/clock.ts";
import { checkUnrefCapability } from "../timers/unref.ts";
import { describeServer, inspectAs } from "../observability/inspect.ts";
import { adoptForEach, closeWithoutWaiting, Connection, CONNECTION_CLOSED, FOREACH_SETTLING, watchClose, type ConnectionOptions, type ForEachWatcher } from "../connection.ts";
import { invalidOption, NetError, toNetError } from "../errors.ts";
import { checkIdleTimeout, IdleWatcher, type IdleEvent, type IdleSettings, type IdleTimeoutOptions } from "../liveness/idle-timeout.ts";
import { applySocketOptions, checkMillis, checkSocketOptions, type SocketOptions } from "../options.ts";
import { checkClientAdmission, ClientAdmission, type ClientAdmissionSettings, type ClientRate, type PerClientLimit } from "./client-admission.ts";
import { checkProxyProtocolOptions, type ProxyProtocolSettings } from "../proxy-protocol/options.ts";
import { ProxiedSocket, type HeaderOutcome } from "../proxy-protocol/proxied-socket.ts";
import type { ProxyProtocolOptions } from "../proxy-protocol/types.ts";
import { checkMinReceiveRate, ReceiveRateGuard, type MinReceiveRate } from "./receive-rate.ts";
import { SERVER_CLOCK } from "./server-clock.ts";
import type { RefusedReason } from "../refused-reason.ts";
import { observeServerHandshake, publishAccept, publishFiltered, publishRefuse } from "./server-diagnostics.ts";
import { ServerStatsRecorder, type ServerStats } from "./server-stats.ts";
import { checkTlsServerOptions, type RawTlsServerOptions, type TlsServerOptions } from "../tls.ts";
import type { RawListener, RawSocket, Transport, TransportCapabilities } from "../transport.ts";
import { emitEvent, hasListeners, TypedEventTarget, type TypedListener, type TypedListenerOptions } from "../typed-events.ts";

/** Default {@link ListenOptions.maxConnections}. */
const DEFAULT_MAX_CONNECTIONS = 1024;
/** Default {@link ListenOptions.maxQueued} (POCO's TCPServerParams default). */
const DEFAULT_MAX_QUEUED = 64;
/** Default {@link ServerCloseOptions.timeout}. */
const DEFAULT_CLOSE_TIMEOUT = 10_000;
/** Default {@link ListenOptions.handshakeTimeout} (Netty's SslHandler default). */
const DEFAULT_HANDSHAKE_TIMEOUT = 10_000;
/** Default {@link ListenOptions.filterTimeout}. */
const DEFAULT_FILTER_TIMEOUT = 5_000;

/**
 * Decides, before dispatch, whether to serve a connection from `remoteAddress`
 * (POCO's TCPServerConnectionFilter). Anything but `true` rejects it; a filter
 * that throws or rejects rejects the connection and emits `error`.
 */
export type ConnectionFilter = (remoteAddress: SocketAddress | undefined) => boolean | Promise<boolean>;

/** Where and how to listen, and how to serve. */
export interface ListenOptions extends SocketOptions {
  /** Interface to bind. Default "127.0.0.1"; use "0.0.0.0" or "::" to accept from other hosts. */
  hostname?: string;
  /** TCP port; 0 (default) picks a free one, readable from `server.address`. */
  port?: number;
  /** Unix socket path, instead of hostname/port. */
  path?: string;
  /** Accept backlog (ERR_UNSUPPORTED on Bun, whose backlog is fixed). */
  backlog?: number;
  /** SO_REUSEPORT, so several processes share one port (ERR_UNSUPPORTED where missing). */
  reusePort?: boolean;
  /** Accept IPv6 only on a "::" listener (ERR_UNSUPPORTED where missing). */
  ipv6Only?: boolean;
  /** Handlers running at once (POCO's maxThreads). An integer ≥ 1; default 1024. */
  maxConnections?: number;
  /**
   * Accepted connections waiting for a free slot, served in arrival order; an
   * integer ≥ 0, default 64. A waiting connection is not read from. Beyond
   * `maxConnections + maxQueued` a connection is refused: closed at once,
   * counted, and reported by a `refused` event.
   */
  maxQueued?: number;
  /**
   * Connections open at once per client: per remote IP (a number), or per
   * network (`{ limit, prefix4: 24, prefix6: 64 }`). Counted from the moment
   * the client's address is final (after the PROXY header, before the
   * filter); one more is refused with reason "per-client" and counted in
   * `perClientRefusals`. Unix-socket peers are not limited. Default: none.
   */
  maxConnectionsPerClient?: PerClientLimit;
  /**
   * New connections per client in any `per` ms (`{ connections, per,
   * prefix4?, prefix6? }`, a token bucket allowing bursts of `connections`).
   * One more is refused with reason "client-rate" and counted in
   * `clientRateRefusals`. Clients idle for `per` ms are forgotten, so memory
   * stays bounded. Default: none.
   */
  clientRate?: ClientRate;
  /**
   * Runs on every accepted connection before it is queued or dispatched
   * (after its TLS handshake). Rejected connections are closed and counted in
   * `filteredConnections`. Connections awaiting an asynchronous verdict count
   * against `maxConnections + maxQueued`, so a slow filter cannot grow memory.
   */
  filter?: ConnectionFilter;
  /**
   * How long an asynchronous `filter` may take, in ms; then the connection is
   * closed, counted in `filteredConnections` and `filterTimeouts`, and an
   * `error` event (ETIMEDOUT) reports it. Default 5 000; 0 waits forever.
   */
  filterTimeout?: number;
  /** Reader/writer/all idle timeouts (off by default); see {@link IdleTimeoutOptions}. */
  idleTimeout?: IdleTimeoutOptions;
  /**
   * Destroy a connection (ETIMEDOUT) that has sent no byte this many ms after
   * dispatch: slowloris protection. Default 0 (off), since in server-first
   * protocols (SMTP, FTP) the client legitimately waits.
   */
  firstByteTimeout?: number;
  /**
   * Destroy a connection (ETIMEDOUT) that receives fewer than `bytes` in any
   * `per` ms window while the server reads it: the slowloris rule that
   * `firstByteTimeout` and `idleTimeout` miss, since a byte now and then
   * keeps both quiet. Windows in which the server did not read do not count,
   * and the rule ends once the peer half-closes. Counted in
   * `slowConnections`. Off by default; see {@link MinReceiveRate}.
   *
   * Like `idleTimeout.read`, it also catches a peer that waits in silence for
   * a slow answer: a handler that makes its client wait calls `conn.pause()`
   * meanwhile, and `conn.resume()` when it reads again.
   */
  minReceiveRate?: MinReceiveRate;
  /** Serve TLS (see {@link TlsServerOptions}); handlers get connections whose handshake succeeded. */
  tls?: TlsServerOptions;
  /**
   * How long a TLS client may take to complete its handshake, in ms, from
   * accept. A handshaking connection counts against `maxConnections +
   * maxQueued`; one that has not finished in time is destroyed, counted in
   * `handshakeTimeouts` and reported by a `tlsError` event (ETIMEDOUT).
   * Default 10 000; 0 waits forever. Only with `tls`.
   */
  handshakeTimeout?: number;
  /**
   * Read a PROXY protocol header (v1 or v2, told apart automatically) before
   * anything else: the server sits behind a balancer (HAProxy `send-proxy`,
   * NGINX `proxy_protocol`, a cloud load balancer). The filter, events, stats
   * and `conn.remoteAddress`/`localAddress` then see the real client;
   * `conn.proxy` holds the header and the balancer's own address (`via`).
   * `true`: every peer must send one; see {@link ProxyProtocolOptions} for
   * `trusted`, `optional` and `timeout` (default 5 000 ms). A connection
   * awaiting its header counts against `maxConnections + maxQueued`. A
   * header that is missing, malformed, oversize, late or from an untrusted
   * peer closes the connection before the filter: counted in
   * `proxyProtocolErrors` and reported by an `error` event (ERR_PROXY_PROTOCOL).
   */
  proxyProtocol?: true | ProxyProtocolOptions;
  /**
   * Resumable sessions (clients use `reconnecting(target, { session: true })`):
   * the handler is called once per session, with a `ServerSession` instead
   * of a connection, and a client that reconnects resumes its session
   * without the handler noticing; see {@link SessionServerOptions}.
   */
  session?: true | SessionServerOptions<unknown>;
}

/** Every key of {@link ListenOptions}: `listen()` refuses any other, so a misspelt limit is never silently ignored. */
const LISTEN_OPTION_KEYS: Readonly<Record<keyof ListenOptions, true>> = {
  hostname: true,
  port: true,
  path: true,
  backlog: true,
  reusePort: true,
  ipv6Only: true,
  maxConnections: true,
  maxQueued: true,
  maxConnectionsPerClient: true,
  clientRate: true,
  filter: true,
  filterTimeout: true,
  idleTimeout: true,
  firstByteTimeout: true,
  minReceiveRate: true,
  tls: true,
  handshakeTimeout: true,
  proxyProtocol: true,
  session: true,
  noDelay: true,
  keepAlive: true,
  allowHalfOpen: true,
  borrowedChunks: true,
  maxBufferedBytes: true,
};

/** Emits `idle` on a context; assigned in its static block. */
let emitIdle: (ctx: ConnectionContext, event: IdleEvent) => void;
/** A context's signal: every context is a served connection's {@link Session}, which assigns this in its static block. */
let signalOf: (ctx: ConnectionContext) => AbortSignal;

/** Events of a {@link ConnectionContext}. */
export interface ConnectionContextEvents {
  /** The connection was idle; emitted when `idleTimeout.action` is "event". */
  idle: IdleEvent;
}

/**
 * What a handler gets besides its connection: a signal that aborts when the
 * server stops, and the `idle` events of `idleTimeout: { action: "event" }`.
 *
 * @example
 * ```ts
 * import { listen } from "wireline";
 * await listen({ port: 0, idleTimeout: { read: 30_000, action: "event" } }, async (conn, ctx) => {
 *   ctx.on("idle", () => conn.write("still there?\n"));
 *   for await (const chunk of conn) {
 *     if (ctx.signal.aborted) break; // the server is stopping: finish up
 *     await conn.write(chunk);
 *   }
 * });
 * ```
 */
export class ConnectionContext {
  static {
    emitIdle = (ctx, event) => {
      if (ctx.#events !== undefined) emitEvent<ConnectionContextEvents, "idle">(ctx.#events, "idle", event);
    };
  }

  /**
   * Made by the first listener: most handlers never listen, and an EventTarget per connection costs microseconds.
   * Made inline, not by a private method: a class with private methods gives each instance a slot for them.
   */
  #events: TypedEventTarget<ConnectionContextEvents> | undefined;

  /** Servers create contexts: each is the server's record of one served connection. */
  protected constructor() {}

  /** Aborts (with an ABORT_ERR {@link NetError}) when the server starts to stop. */
  get signal(): AbortSignal {
    return signalOf(this);
  }

  /** Calls `listener` with each `type` event's payload. Returns a function that removes it. */
  on<K extends keyof ConnectionContextEvents & string>(type: K, listener: TypedListener<ConnectionContextEvents[K]>, options?: TypedListenerOptions): () => void {
    return (this.#events ??= new TypedEventTarget()).on(type, listener, options);
  }

  /** Removes a listener added with {@link ConnectionContext.on}. */
  off<K extends keyof ConnectionContextEvents & string>(type: K, listener: TypedListener<ConnectionContextEvents[K]>): void {
    this.#events?.off(type, listener);
  }

  /** As EventTarget's: the listener receives the {@link TypedEvent}. */
  addEventListener(type: string, listener: EventListenerOrEventListenerObject | null, options?: AddEventListenerOptions | boolean): void {
    (this.#events ??= new TypedEventTarget()).addEventListener(type, listener, options);
  }

  /** As EventTarget's. */
  removeEventListener(type: string, listener: EventListenerOrEventListenerObject | null, options?: EventListenerOptions | boolean): void {
    this.#events?.removeEventListener(type, listener, options);
  }

  /** Refused: only wireline emits these events. */
  dispatchEvent(event: Event): boolean {
    return (this.#events ??= new TypedEventTarget()).dispatchEvent(event);
  }
}

/** Serves one connection; the connection is closed when the returned promise settles. */
export type ConnectionHandler = (conn: Connection, ctx: ConnectionContext) => void | Promise<void>;


/** Events of a {@link Server}, by name, with their payloads. */
export interface ServerEvents {
  /** A connection was dispatched to the handler. */
  connection: { readonly connection: Connection; readonly remoteAddress: SocketAddress | undefined };
  /**
   * A connection was closed unserved: both limits reached ("full"), the server
   * stopped while it waited ("stopping"), its client already had
   * `maxConnectionsPerClient` open ("per-client"), or it exceeded `clientRate`
   * ("client-rate").
   */
  refused: { readonly remoteAddress: SocketAddress | undefined; readonly reason: RefusedReason };
  /**
   * A handler or filter threw or rejected (ERR_HANDLER, with what it threw as
   * `cause`; a NetError it let through stays itself), the filter timed out, or a PROXY
   * header was bad (ERR_PROXY_PROTOCOL; `remoteAddress` is then the socket's
   * peer). Only that connection was closed.
   */
  error: { readonly error: NetError; readonly remoteAddress: SocketAddress | undefined };
  /**
   * A TLS client failed its handshake (ERR_TLS, ERR_TLS_CERT, ECONNRESET) or
   * did not finish it within `handshakeTimeout` (ETIMEDOUT); the connection
   * was destroyed and never reached the filter or handler. Kept apart from
   * `error`, which reports the application's failures, because on a public
   * port most of these are scanners.
   */
  tlsError: { readonly error: NetError; readonly remoteAddress: SocketAddress | undefined };
  /** The server has stopped; the payload is its final stats. Always the last event. */
  close: ServerStats;
}

/** Options of {@link Server.close}. */
export interface ServerCloseOptions {
  /** How long running handlers get to finish after the stop signal, in ms; then they are destroyed. Default 10 000. */
  timeout?: number;
}

/** Validated server settings. */
interface ServerSettings {
  readonly address: Address;
  readonly label: string;
  readonly socketOptions: SocketOptions;
  readonly backlog: number | undefined;
  readonly reusePort: boolean | undefined;
  readonly ipv6Only: boolean | undefined;
  readonly maxConnections: number;
  readonly maxQueued: number;
  readonly clients: ClientAdmissionSettings;
  readonly filter: ConnectionFilter | undefined;
  readonly filterTimeout: number;
  readonly idle: IdleSettings | undefined;
  readonly firstByteTimeout: number;
  readonly minReceiveRate: MinReceiveRate | undefined;
  readonly tls: RawTlsServerOptions | undefined;
  readonly handshakeTimeout: number;
  readonly proxyProtocol: ProxyProtocolSettings | undefined;
  readonly clock: Clock;
}

function checkInteger(name: string, value: unknown, min: number, fallback: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== "number" || !Number.isInteger(value) || value < min) throw invalidOption(name, value, `an integer ≥ ${min}`);
  return value;
}

function checkBoolean(name: string, value: unknown): boolean | undefined {
  if (value !== undefined && typeof value !== "boolean") throw invalidOption(name, value, "a boolean");
  return value;
}

function listenAddress(options: ListenOptions): Address {
  if (options.path !== undefined) {
    if (options.hostname !== undefined || options.port !== undefined) {
      throw invalidOption("path", options.path, "used without hostname or port");
    }
    return parseAddress({ path: options.path });
  }
  return parseAddress({ hostname: options.hostname ?? "127.0.0.1", port: options.port ?? 0 }, { allowPortZero: true });
}

/** A timeout in ms where 0 and Infinity both mean "never". */
function checkTimeout(name: string, value: unknown, fallback: number): number {
  const ms = checkMillis(name, value) ?? fallback;
  return ms === Infinity ? 0 : ms;
}

function checkListenOptions(options: ListenOptions): ServerSettings {
  if (options === null || typeof options !== "object") throw invalidOption("options", options, "an object");
  for (const key of Object.keys(options)) {
    if (!Object.hasOwn(LISTEN_OPTION_KEYS, key)) {
      throw new NetError("ERR_INVALID_OPTION", `unknown listen option "${key}" (known: ${Object.keys(LISTEN_OPTION_KEYS).join(", ")})`);
    }
  }
  const address = listenAddress(options);
  checkSocketOptions(options);
  if (options.filter !== undefined && typeof options.filter !== "function") throw invalidOption("filter", options.filter, "a function");
  if (options.handshakeTimeout !== undefined && options.tls === undefined) {
    throw invalidOption("handshakeTimeout", options.handshakeTimeout, "used with tls (it bounds the TLS handshake)");
  }
  const clock = (options as { [SERVER_CLOCK]?: Clock })[SERVER_CLOCK] ?? realClock;
  return {
    address,
    label: formatAddress(address),
    socketOptions: { noDelay: options.noDelay, keepAlive: options.keepAlive, allowHalfOpen: options.allowHalfOpen, borrowedChunks: options.borrowedChunks, maxBufferedBytes: options.maxBufferedBytes },
    backlog: options.backlog === undefined ? undefined : checkInteger("backlog", options.backlog, 1, 0),
    reusePort: checkBoolean("reusePort", options.reusePort),
    ipv6Only: checkBoolean("ipv6Only", options.ipv6Only),
    maxConnections: checkInteger("maxConnections", options.maxConnections, 1, DEFAULT_MAX_CONNECTIONS),
    maxQueued: checkInteger("maxQueued", options.maxQueued, 0, DEFAULT_MAX_QUEUED),
    clients: checkClientAdmission(options.maxConnectionsPerClient, options.clientRate),
    filter: options.filter,
    filterTimeout: checkTimeout("filterTimeout", options.filterTimeout, DEFAULT_FILTER_TIMEOUT),
    idle: checkIdleTimeout(options.idleTimeout),
    firstByteTimeout: checkTimeout("firstByteTimeout", options.firstByteTimeout, 0),
    minReceiveRate: checkMinReceiveRate(options.minReceiveRate),
    tls: options.tls === undefined ? undefined : checkTlsServerOptions(options.tls),
    handshakeTimeout: checkTimeout("handshakeTimeout", options.handshakeTimeout, DEFAULT_HANDSHAKE_TIMEOUT),
    proxyProtocol: checkProxyProtocolOptions(options.proxyProtocol, address.transport),
    clock,
  };
}

const noop = (): void => {};

function stoppingError(): NetError {
  return new NetError("ABORT_ERR", "the server is stopping");
}

/** Binds a server; assigned in Server's static block, which alone may touch its private state. */
let startServer: (server: Server, transport: Transport) => Promise<void>;

/**
 * A listening server. Each accepted connection finishes its TLS handshake
 * (if `tls`), passes the `filter`, waits in line if `maxConnections` handlers
 * are running, and is then handed to the handler; it is closed when the
 * handler settles, or destroyed if the handler throws (the `error` event
 * reports it; nothing else is affected). From accept on, every connection
 * counts against `maxConnections + maxQueued`, whatever stage it is in.
 *
 * Events (`server.on(name, listener)`, or `addEventListener`): `connection`,
 * `refused`, `error`, `tlsError`, `close`; see {@link ServerEvents}.
 *
 * @example
 * ```ts
 * import { listen } from "wireline";
 * const server = await listen({ port: 7000, maxConnections: 100, maxQueued: 20 }, async (conn, ctx) => {
 *   for await (const chunk of conn) await conn.write(chunk);
 * });
 * server.on("refused", ({ remoteAddress }) => console.warn("refused", remoteAddress));
 * server.on("error", ({ error, remoteAddress }) => console.error(remoteAddress, error));
 * // later
 * const stats = await server.close({ timeout: 5000 });
 * console.log(`${stats.totalConnections} served, ${stats.refusedConnections} refused`);
 * ```
 */
export class Server extends TypedEventTarget<ServerEvents> implements AsyncDisposable {
  static {
    startServer = (server, transport) => server.#start(transport);
    // `console.log(server)`: its address, state and counters.
    inspectAs(Server, (server) => describeServer({ address: server.#address, closing: server.#stopping, stats: server.stats }));
  }

  readonly #settings: ServerSettings;
  readonly #handler: ConnectionHandler;
  readonly #stats = new ServerStatsRecorder();
  readonly #admission: AdmissionQueue<Connection>;
  /**
   * Connections wrapped and waiting, not yet served or accounted: a filter verdict is pending, or they are
   * queued. A served connection is listed by its Session instead, so a connection that is served at once
   * touches no Set (a Set emptied and refilled per connection reallocates its table).
   */
  readonly #open = new Set<Connection>();
  /** TLS sockets in their handshake, unstarted, with their handshakeTimeout timers. Leaving the map settles them. */
  readonly #handshakes = new Map<RawSocket, TimerHandle | undefined>();
  /** Connections awaiting an asynchronous filter verdict, with their filterTimeout timers. Leaving the map settles them. */
  readonly #verdicts = new Map<Connection, TimerHandle | undefined>();
  /** Sockets whose PROXY header is awaited (bounded by proxyProtocol.timeout). */
  readonly #proxyHeaders = new Set<ProxiedSocket>();
  #address: SocketAddress | undefined;
  #closeListener: (() => Promise<void>) | undefined;
  /** For unref()/ref(). */
  #listener: RawListener | undefined;
  #stopping = false;
  #closedEmitted = false;
  #closing: Promise<ServerStats> | undefined;
  /** The transport's, set when bound: connections refuse a `startTls()` it cannot do. */
  #capabilities: TransportCapabilities | undefined;
  /** What every connection of this server is made with: one object, not one per connection. */
  #connectionOptions: ConnectionOptions | undefined;
  #onIdle: (() => void) | undefined;
  /** Per-client counts, with maxConnectionsPerClient or clientRate. */
  readonly #clients: ClientAdmission | undefined;
  /** TLS sockets counted for their client from accept: each place goes on to the connection, or back when the handshake fails. */
  readonly #handshakePlaces = new Map<RawSocket, () => void>();
  /** What every Session reports to, reads its settings from and is listed in: one object per server instead of fields and closures per connection. */
  readonly #owner: SessionOwner = {
    settings: undefined as unknown as ServerSettings, // set by the constructor
    newest: undefined,
    running: 0,
    ended: (conn) => this.#ended(conn),
    failed: (conn, error) => {
      const { remoteAddress } = conn;
      this.#report(applicationError(error, "the connection handler", this.#peerLabel(remoteAddress)), remoteAddress);
    },
  };
  /** No TLS handshake, PROXY header, per-client limit or filter: an accepted socket goes straight to admission. */
  readonly #plain: boolean;
  /** With `session`: the sessions, whose connections the handler wrapper routes to them. */
  readonly #registry: SessionRegistry<unknown> | undefined;

  /** Validates the options; `listen()` creates and binds servers. */
  constructor(options: ListenOptions, handler: ConnectionHandler) {
    super();
    if (typeof handler !== "function") throw invalidOption("handler", handler, "a function");
    this.#settings = checkListenOptions(options);
    this.#owner.settings = this.#settings;
    this.#handler = handler;
    if (options.session !== undefined) {
      const registry = new SessionRegistry(sessionServerSettings(options.session), handler as unknown as SessionHandler<unknown>, this.#settings.clock, (error) => this.#report(error, undefined));
      this.#registry = registry;
      this.#handler = (conn) => registry.serve(conn);
    }
    this.#admission = new AdmissionQueue(this.#settings.maxConnections, this.#settings.maxQueued);
    const { clients, clock } = this.#settings;
    if (clients.limit || clients.rate) this.#clients = new ClientAdmission(clients, clock);
    const s = this.#settings;
    this.#plain = s.tls === undefined && s.proxyProtocol === undefined && this.#clients === undefined && s.filter === undefined;
  }

  /** The bound address, with the real port when port 0 was asked for. */
  get address(): SocketAddress {
    if (this.#address === undefined) throw new NetError("ERR_SOCKET_CLOSED", "the server was never bound: use listen()");
    return this.#address;
  }

  /** A snapshot of the counters; see {@link ServerStats}. */
  get stats(): ServerStats {
    return this.#stats.snapshot(this.#admission.queued, this.#handshakes.size, [...this.#open, ...servedConnections(this.#owner)]);
  }

  /** With `session`: the session counters; otherwise undefined. */
  get sessions(): SessionStats | undefined {
    return this.#registry?.stats;
  }

  /** True from the moment `close()` is called. */
  get closing(): boolean {
    return this.#stopping;
  }

  /**
   * Stops gracefully: stops accepting at once, destroys connections still in
   * their TLS handshake, aborts every handler's `ctx.signal`, refuses the
   * queued connections, waits up to `timeout` ms for the handlers, destroys
   * what is left, and resolves with the final stats. The port is free again
   * when it resolves. Later calls return the same promise.
   */
  close(options?: ServerCloseOptions): Promise<ServerStats> {
    if (this.#closing) return this.#closing;
    let timeout: number;
    try {
      timeout = checkMillis("timeout", options?.timeout) ?? DEFAULT_CLOSE_TIMEOUT;
    } catch (error) {
      return Promise.reject(error);
    }
    return (this.#closing = this.#shutdown(timeout));
  }

  /**
   * Lets the process exit while this server is still listening (as Node's
   * `server.unref()`); connections it accepted still keep it alive.
   * ERR_UNSUPPORTED where the transport cannot.
   */
  unref(): void {
    checkUnrefCapability(this.#capabilities);
    this.#listener?.unref?.();
  }

  /** Undoes {@link Server.unref}. */
  ref(): void {
    checkUnrefCapability(this.#capabilities);
    this.#listener?.ref?.();
  }

  /** `await using server = await listen(...)` closes with the default timeout. */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  async #start(transport: Transport): Promise<void> {
    this.#capabilities = transport.capabilities;
    const { allowHalfOpen, borrowedChunks, maxBufferedBytes } = this.#settings.socketOptions;
    this.#connectionOptions = Object.freeze({ allowHalfOpen, borrowedChunks, maxBufferedBytes, capabilities: transport.capabilities });
    const s = this.#settings;
    const listener = await transport.listen(
      // With proxyProtocol, TLS starts after the plain-text header (see #awaitProxyHeader).
      { address: s.address, backlog: s.backlog, reusePort: s.reusePort, ipv6Only: s.ipv6Only, tls: s.proxyProtocol ? undefined : s.tls },
      (raw) => this.#accept(raw),
    );
    this.#address = listener.address;
    this.#closeListener = () => listener.close();
    this.#listener = listener;
  }

  #emit<K extends keyof ServerEvents & string>(type: K, detail: ServerEvents[K]): void {
    emitEvent<ServerEvents, K>(this, type, detail);
  }

  /** Connections held in any stage: handshake, filter, slot or queue. */
  #held(): number {
    const admission = this.#admission;
    return admission.active + admission.queued + this.#verdicts.size + this.#handshakes.size + this.#proxyHeaders.size;
  }

  #accept(raw: RawSocket): void {
    // The peer's address is read only where something needs it: a syscall on some runtimes.
    publishAccept(this.#address, raw);
    const full = this.#held() >= this.#settings.maxConnections + this.#settings.maxQueued;
    if (this.#stopping || full) {
      const remoteAddress = raw.remoteAddress;
      turnAway(raw);
      this.#refuse(remoteAddress, this.#stopping ? "stopping" : "full");
      return;
    }
    if (this.#plain) {
      // What #screen would do with nothing to screen.
      const conn = this.#wrap(raw, noop);
      if (conn) this.#admit(conn, false);
      return;
    }
    const handshake = raw.handshake;
    if (handshake !== undefined) {
      const remoteAddress = raw.remoteAddress;
      // The socket's address is the client's (no PROXY header here): counting it from accept keeps one client from holding every handshake.
      if (this.#clients) {
        const place = this.#claimPlace(this.#clients, raw, remoteAddress);
        if (place === undefined) return;
        this.#handshakePlaces.set(raw, place);
      }
      this.#awaitHandshake(raw, handshake, remoteAddress);
    } else if (this.#settings.proxyProtocol) this.#awaitProxyHeader(raw, this.#settings.proxyProtocol, raw.remoteAddress);
    else this.#screen(raw);
  }

  /**
   * Reads the PROXY header off a plain socket before the filter sees it. The
   * socket holds its place against the limits meanwhile, and waits at most
   * `proxyProtocol.timeout`, so slow or silent senders cannot pile up unseen.
   */
  #awaitProxyHeader(raw: RawSocket, settings: ProxyProtocolSettings, remoteAddress: SocketAddress | undefined): void {
    const label = this.#peerLabel(remoteAddress);
    const headerAllowed = settings.trusted === undefined || settings.trusted.has(remoteAddress);
    if (!headerAllowed && !settings.optional) {
      raw.destroy();
      this.#proxyFailed(new NetError("ERR_PROXY_PROTOCOL", "the peer is not in proxyProtocol.trusted", { address: label }), remoteAddress);
      return;
    }
    const wait = { optional: settings.optional, headerAllowed, timeout: settings.timeout, clock: this.#settings.clock, label };
    const socket: ProxiedSocket = new ProxiedSocket(raw, wait, (outcome: HeaderOutcome) => {
      this.#proxyHeaders.delete(socket);
      if (outcome.kind === "ready") {
        const { socket: ready } = outcome;
        const tls = this.#settings.tls;
        if (tls) this.#awaitHandshake(ready, ready.startTlsAfterHeader(tls), ready.remoteAddress);
        else this.#screen(ready);
      }
      else if (outcome.kind === "failed") this.#proxyFailed(outcome.error, remoteAddress);
      this.#checkIdle();
    });
    this.#proxyHeaders.add(socket);
    socket.readHeader();
  }

  #proxyFailed(error: NetError, remoteAddress: SocketAddress | undefined): void {
    this.#stats.proxyProtocolFailed();
    this.#report(error, remoteAddress);
  }

  /**
   * Holds a TLS socket, unstarted, until its handshake settles or times out.
   * Its place against the limits is taken from accept, so peers that never
   * finish (or never start) a handshake cannot pile up unseen.
   */
  #awaitHandshake(raw: RawSocket, handshake: Promise<void>, remoteAddress: SocketAddress | undefined): void {
    const { handshakeTimeout, clock } = this.#settings;
    const timer = handshakeTimeout > 0 ? clock.setTimeout(() => this.#handshakeTimedOut(raw, remoteAddress), handshakeTimeout) : undefined;
    this.#handshakes.set(raw, timer);
    observeServerHandshake(raw, handshake);
    handshake.then(
      () => {
        if (!this.#leaveHandshake(raw)) return;
        if (this.#stopping) {
          raw.destroy();
          this.#returnPlace(raw);
          this.#refuse(remoteAddress, "stopping");
          this.#checkIdle();
        } else {
          this.#screen(raw);
        }
      },
      (error: unknown) => {
        if (!this.#leaveHandshake(raw)) return;
        raw.destroy();
        this.#returnPlace(raw);
        this.#stats.handshakeFailed();
        this.#tlsError(toNetError(error, this.#peerLabel(remoteAddress), "ERR_TLS"), remoteAddress);
        this.#checkIdle();
      },
    );
  }

  /** Counts the connection for its client, or turns it away (reported, counted) and returns undefined. */
  #claimPlace(clients: ClientAdmission, raw: RawSocket, remoteAddress: SocketAddress | undefined): (() => void) | undefined {
    const verdict = clients.admit(remoteAddress);
    if (typeof verdict !== "string") return verdict;
    turnAway(raw);
    this.#stats.clientRefused(verdict);
    this.#refuse(remoteAddress, verdict);
    return undefined;
  }

  /** Gives back the client's place of a TLS socket whose handshake ended without a connection. */
  #returnPlace(raw: RawSocket): void {
    const release = this.#handshakePlaces.get(raw);
    if (release === undefined) return;
    this.#handshakePlaces.delete(raw);
    release();
  }

  /** Ends a handshake's wait; false if it had ended already (timed out, or the server stopped). */
  #leaveHandshake(raw: RawSocket): boolean {
    if (!this.#handshakes.has(raw)) return false;
    const timer = this.#handshakes.get(raw);
    if (timer !== undefined) this.#settings.clock.clearTimeout(timer);
    this.#handshakes.delete(raw);
    return true;
  }

  #handshakeTimedOut(raw: RawSocket, remoteAddress: SocketAddress | undefined): void {
    this.#handshakes.delete(raw);
    const ms = this.#settings.handshakeTimeout;
    const error = new NetError("ETIMEDOUT", `TLS handshake not completed within handshakeTimeout (${ms} ms)`, { address: this.#peerLabel(remoteAddress) });
    raw.destroy(error);
    this.#returnPlace(raw);
    this.#stats.handshakeTimedOut();
    this.#tlsError(error, remoteAddress);
    this.#checkIdle();
  }

  /**
   * Runs the per-client limits, then the filter, on a connection ready for
   * them (plain, or TLS after its handshake; after its PROXY header: the real
   * client), then admits it.
   */
  #screen(raw: RawSocket): void {
    let release = this.#handshakePlaces.get(raw) ?? noop;
    if (release !== noop) {
      this.#handshakePlaces.delete(raw);
    } else if (this.#clients) {
      const place = this.#claimPlace(this.#clients, raw, raw.remoteAddress);
      if (place === undefined) return;
      release = place;
    }
    const { filter, filterTimeout, clock } = this.#settings;
    if (filter === undefined) {
      const conn = this.#wrap(raw, release);
      if (conn) this.#admit(conn, false);
      return;
    }
    const remoteAddress = raw.remoteAddress;
    let verdict: boolean | Promise<boolean>;
    try {
      verdict = filter(remoteAddress);
    } catch (error) {
      turnAway(raw);
      release();
      this.#stats.filtered();
      publishFiltered(this.#address, remoteAddress, error);
      this.#report(applicationError(error, "the filter", this.#peerLabel(remoteAddress)), remoteAddress);
      return;
    }
    if (!isThenable(verdict)) {
      if (verdict === true) {
        const conn = this.#wrap(raw, release);
        if (conn) this.#admit(conn, false);
      } else {
        turnAway(raw);
        release();
        this.#stats.filtered();
        publishFiltered(this.#address, remoteAddress, undefined);
      }
      return;
    }
    // The verdict takes a while: hold the connection unread, counted against the limits, for at most filterTimeout.
    const conn = this.#wrap(raw, release);
    if (!conn) return;
    conn.pause();
    this.#open.add(conn);
    const timer = filterTimeout > 0 ? clock.setTimeout(() => this.#filterTimedOut(conn), filterTimeout) : undefined;
    this.#verdicts.set(conn, timer);
    verdict.then(
      (ok) => this.#filtered(conn, ok === true, undefined),
      (error: unknown) => this.#filtered(conn, false, error),
    );
  }

  #filtered(conn: Connection, ok: boolean, error: unknown): void {
    if (!this.#verdicts.has(conn)) return; // timed out, or the server stopped
    const timer = this.#verdicts.get(conn);
    if (timer !== undefined) this.#settings.clock.clearTimeout(timer);
    this.#verdicts.delete(conn);
    if (conn.isClosed) {
      this.#forget(conn);
    } else if (!ok) {
      void conn.close();
      this.#forget(conn);
      this.#stats.filtered();
      publishFiltered(this.#address, conn.remoteAddress, error);
      if (error !== undefined) this.#report(applicationError(error, "the filter", this.#peerLabel(conn.remoteAddress)), conn.remoteAddress);
    } else if (this.#stopping) {
      this.#refuseOpen(conn, "stopping");
    } else {
      this.#admit(conn, true);
    }
    this.#checkIdle();
  }

  #filterTimedOut(conn: Connection): void {
    this.#verdicts.delete(conn);
    const error = new NetError("ETIMEDOUT", `the filter gave no verdict within filterTimeout (${this.#settings.filterTimeout} ms)`);
    conn.destroy(error);
    this.#forget(conn);
    this.#stats.filterTimedOut();
    publishFiltered(this.#address, conn.remoteAddress, error);
    this.#report(error, conn.remoteAddress);
    this.#checkIdle();
  }

  /**
   * Wraps an accepted socket; a socket option the runtime rejects closes it
   * and emits `error`. `release` gives the client's place back once the
   * connection is gone.
   */
  #wrap(raw: RawSocket, release: () => void): Connection | undefined {
    const s = this.#settings;
    try {
      applySocketOptions(raw, s.socketOptions, s.address.transport === "tcp");
      const rate = s.minReceiveRate;
      const socket = rate === undefined ? raw : new ReceiveRateGuard(raw, rate, s.clock, () => this.#stats.slow());
      const conn = new Connection(socket, s.label, this.#connectionOptions);
      // Only a per-client place needs giving back: `closed` costs a promise, a resolver and a reaction per connection.
      if (release !== noop) void conn.closed.then(release);
      return conn;
    } catch (error) {
      const remoteAddress = raw.remoteAddress;
      raw.destroy();
      release();
      this.#report(error, remoteAddress);
      return undefined;
    }
  }

  /** `held`: the connection waited for its filter verdict, paused and in #open. */
  #admit(conn: Connection, held: boolean): void {
    const place = this.#admission.admit(conn);
    if (place === "active") {
      this.#dispatch(conn, held);
      return;
    }
    if (!held) this.#open.add(conn);
    if (place === "queued") {
      if (!held) conn.pause();
      conn.closed.then(() => {
        // Died while waiting: it leaves the line and was never served.
        if (this.#admission.remove(conn)) this.#forget(conn);
      });
    } else {
      this.#refuseOpen(conn, "full");
    }
  }

  /** Runs the handler on a connection that holds a slot. `held`: it waited (filter verdict or queue), paused and in #open. */
  #dispatch(conn: Connection, held: boolean): void {
    if (held) this.#open.delete(conn);
    if (conn.isClosed) {
      // Closed while it waited, before its close was noticed: account it and hand the slot on.
      this.#stats.addBytes(conn);
      this.#releaseSlot();
      return;
    }
    if (held) conn.resume();
    this.#stats.begin();
    if (hasListeners(this, "connection")) this.#emit("connection", { connection: conn, remoteAddress: conn.remoteAddress });
    serve(this.#owner, conn, this.#stopping, this.#handler);
  }

  #ended(conn: Connection): void {
    this.#stats.end(conn);
    this.#releaseSlot();
    this.#checkIdle();
  }

  #releaseSlot(): void {
    const next = this.#admission.release();
    if (next) this.#dispatch(next, true);
  }

  /** Accounts a connection that closed without being served. */
  #forget(conn: Connection): void {
    if (this.#open.delete(conn)) this.#stats.addBytes(conn);
  }

  #refuse(remoteAddress: SocketAddress | undefined, reason: RefusedReason): void {
    this.#stats.refused();
    publishRefuse(this.#address, remoteAddress, reason);
    this.#emit("refused", { remoteAddress, reason });
  }

  #refuseOpen(conn: Connection, reason: RefusedReason): void {
    conn.destroy();
    this.#forget(conn);
    this.#refuse(conn.remoteAddress, reason);
  }

  /** Unix peers are usually unnamed: the listening path identifies them better than "". */
  #peerLabel(remoteAddress: SocketAddress | undefined): string {
    return remoteAddress?.transport === "tcp" ? formatAddress(remoteAddress) : this.#settings.label;
  }

  #report(error: unknown, remoteAddress: SocketAddress | undefined): void {
    if (this.#closedEmitted) return;
    this.#emit("error", { error: toNetError(error, this.#peerLabel(remoteAddress)), remoteAddress });
  }

  #tlsError(error: NetError, remoteAddress: SocketAddress | undefined): void {
    if (this.#closedEmitted) return;
    this.#emit("tlsError", { error, remoteAddress });
  }

  /** Wakes close() once no handler runs and no filter verdict is pending. */
  #checkIdle(): void {
    if (this.#onIdle && this.#owner.running === 0 && this.#verdicts.size === 0) this.#onIdle();
  }

  async #shutdown(timeout: number): Promise<ServerStats> {
    this.#stopping = true;
    const clock = this.#settings.clock;
    const listenerClosed = this.#closeListener?.().catch((error: unknown) => this.#report(error, undefined));
    // A handshake in progress has nothing to finish gracefully: it goes at once.
    for (const [raw, timer] of this.#handshakes) {
      if (timer !== undefined) clock.clearTimeout(timer);
      this.#handshakes.delete(raw);
      raw.destroy(stoppingError());
      this.#returnPlace(raw);
      this.#refuse(raw.remoteAddress, "stopping");
    }
    for (const socket of this.#proxyHeaders) {
      this.#proxyHeaders.delete(socket);
      socket.abort(stoppingError());
      this.#refuse(socket.remoteAddress, "stopping");
    }
    stopSessions(this.#owner);
    this.#registry?.stop();
    for (const conn of this.#admission.clear()) this.#refuseOpen(conn, "stopping");
    await listenerClosed;
    if (timeout > 0 && (this.#owner.running > 0 || this.#verdicts.size > 0)) {
      let timer: TimerHandle | undefined;
      await new Promise<void>((resolve) => {
        this.#onIdle = resolve;
        if (timeout !== Infinity) timer = clock.setTimeout(resolve, timeout);
      });
      if (timer !== undefined) clock.clearTimeout(timer);
      this.#onIdle = undefined;
    }
    // Verdicts still pending are settled here; a late one finds its connection gone.
    for (const timer of this.#verdicts.values()) if (timer !== undefined) clock.clearTimeout(timer);
    this.#verdicts.clear();
    const deadline = new NetError("ERR_SOCKET_CLOSED", `server stopped: connection destroyed after the ${timeout} ms close timeout`);
    abandonSessions(this.#owner, deadline);
    const left = [...this.#open, ...servedConnections(this.#owner)];
    for (const conn of left) conn.destroy(deadline);
    await Promise.all(left.map((conn) => conn.closed));
    for (const conn of left) this.#forget(conn);
    const stats = this.stats;
    this.#emit("close", stats);
    this.#closedEmitted = true;
    return stats;
  }
}

// Session's yes/no states, as bits of its #flags.
const STOPPING = 1 << 0;
const HANDLER_DONE = 1 << 1;
const ABANDONED = 1 << 2;
const CLOSED = 1 << 3;
const ENDED = 1 << 4;

/** Where each {@link Session} of a server is listed, reports the end of its connection and its handler's failure, and reads its settings. */
interface SessionOwner {
  settings: ServerSettings;
  /**
   * The newest running session; each links to its neighbours. A list costs nothing per connection, where a
   * Set that goes from empty to one entry and back reallocates its table every time.
   */
  newest: Session | undefined;
  /** How many sessions are listed. */
  running: number;
  ended(conn: Connection): void;
  failed(conn: Connection, error: unknown): void;
}

// Assigned in Session's static block, the one place that may touch its private state.
/** Runs `handler` on a connection that holds a slot, listed with its owner until it ends. */
let serve: (owner: SessionOwner, conn: Connection, stopping: boolean, handler: ConnectionHandler) => void;
/** The connections of the running sessions. */
let servedConnections: (owner: SessionOwner) => Connection[];
/** The server is stopping: aborts every running handler's signal. */
let stopSessions: (owner: SessionOwner) => void;
/** The close deadline passed: each running session gives its slot back once its connection is gone, whatever the handler does. */
let abandonSessions: (owner: SessionOwner, error: NetError) => void;

/** What a session needs only with a timeout option or a handler that asks for its signal, made on first use. */
class SessionExtras {
  controller: AbortController | undefined = undefined;
  idle: IdleWatcher | undefined = undefined;
  firstByte: TimerHandle | undefined = undefined;
}

/**
 * One served connection: its timers, the rule for giving its slot back, and the
 * context its handler gets (the same object, so a connection costs one less).
 * Everything beyond the context's members is private, so handlers see none of it.
 */
class Session extends ConnectionContext implements ForEachWatcher {
  static {
    // `console.log(ctx)` names what the handler's type says, as before contexts were Sessions.
    Object.defineProperty(Session, "name", { value: ConnectionContext.name });
    signalOf = (ctx) => (ctx as Session).#signal();
    serve = (owner, conn, stopping, handler) => new Session(conn, stopping, owner).#run(handler);
    servedConnections = (owner) => Session.#listed(owner).map((session) => session.#conn);
    stopSessions = (owner) => {
      for (const session of Session.#listed(owner)) session.#stop();
    };
    abandonSessions = (owner, error) => {
      for (const session of Session.#listed(owner)) session.#abandon(error);
    };
  }

  readonly #conn: Connection;
  readonly #owner: SessionOwner;
  /** Eight fields with the context's own fit JavaScriptCore's 80-byte size class (ten took 112). */
  #extras: SessionExtras | undefined;
  /** The yes/no states (STOPPING, HANDLER_DONE, ...), as bits of one number: a field each cost every connection 8 bytes. */
  #flags: number;
  /** Neighbours in the owner's list of running sessions. */
  #older: Session | undefined;
  #newer: Session | undefined;
  /** The handler's promise when it is its connection's forEach() promise: reacted to only once that settles (see adoptForEach). */
  #forEach: Promise<void> | undefined;

  private constructor(conn: Connection, stopping: boolean, owner: SessionOwner) {
    super();
    this.#conn = conn;
    this.#flags = stopping ? STOPPING : 0;
    this.#owner = owner;
    const newest = owner.newest;
    this.#older = newest;
    this.#newer = undefined;
    this.#forEach = undefined;
    if (newest !== undefined) newest.#newer = this;
    owner.newest = this;
    owner.running++;
  }

  /** A copy of the owner's list, newest first: what the caller does to one session may end another. */
  static #listed(owner: SessionOwner): Session[] {
    const sessions: Session[] = [];
    for (let session = owner.newest; session !== undefined; session = session.#older) sessions.push(session);
    return sessions;
  }

  #unlist(): void {
    const owner = this.#owner;
    const older = this.#older;
    const newer = this.#newer;
    if (newer !== undefined) newer.#older = older;
    else owner.newest = older;
    if (older !== undefined) older.#newer = newer;
    this.#older = this.#newer = undefined;
    owner.running--;
  }

  #signal(): AbortSignal {
    const extras = (this.#extras ??= new SessionExtras());
    if (extras.controller === undefined) {
      extras.controller = new AbortController();
      if ((this.#flags & STOPPING) !== 0) extras.controller.abort(stoppingError());
    }
    return extras.controller.signal;
  }

  #run(handler: ConnectionHandler): void {
    const conn = this.#conn;
    const { firstByteTimeout, idle } = this.#owner.settings;
    // The timers' closures are made in methods of their own: closures here would cost every connection their context.
    if (firstByteTimeout > 0) this.#watchFirstByte(firstByteTimeout);
    if (idle) this.#watchIdle(idle);
    // A watcher, not conn.closed.then(): no promise, reaction and closure per connection.
    watchClose(conn, this);
    let result: void | Promise<void>;
    try {
      result = handler(conn, this);
    } catch (error) {
      this.#failed(error);
      return;
    }
    if (!isThenable(result)) this.#finished();
    else if (adoptForEach(conn, result, this)) this.#forEach = result;
    else this.#watchHandler(result);
  }

  /** Settles with the handler's promise. */
  #watchHandler(result: Promise<void>): void {
    // Bound methods, not arrow functions: 56 bytes less per connection on V8 than two closures and their context.
    result.then(this.#finished.bind(this), this.#failed.bind(this));
  }

  [FOREACH_SETTLING](): void {
    const result = this.#forEach!;
    this.#forEach = undefined;
    this.#watchHandler(result);
  }

  #watchFirstByte(ms: number): void {
    const conn = this.#conn;
    (this.#extras ??= new SessionExtras()).firstByte = this.#owner.settings.clock.setTimeout(() => {
      if (conn.bytesRead === 0) conn.destroy(new NetError("ETIMEDOUT", `no data received within firstByteTimeout (${ms} ms)`));
    }, ms);
  }

  #watchIdle(idle: IdleSettings): void {
    (this.#extras ??= new SessionExtras()).idle = new IdleWatcher(this.#conn, idle, (event) => this.#idleFired(event, idle));
  }

  [CONNECTION_CLOSED](): void {
    this.#flags |= CLOSED;
    const extras = this.#extras;
    if (extras?.firstByte !== undefined) this.#owner.settings.clock.clearTimeout(extras.firstByte);
    extras?.idle?.stop();
    this.#maybeEnd();
  }

  #stop(): void {
    if ((this.#flags & ENDED) !== 0) return;
    this.#flags |= STOPPING;
    this.#extras?.controller?.abort(stoppingError());
  }

  #abandon(error: NetError): void {
    if ((this.#flags & ENDED) !== 0) return;
    this.#flags |= ABANDONED;
    this.#conn.destroy(error);
  }

  #idleFired(event: IdleEvent, idle: IdleSettings): void {
    // Once the handler has returned nobody can act on an event, so the connection just goes.
    if (idle.action === "close" || (this.#flags & HANDLER_DONE) !== 0) {
      this.#conn.destroy(new NetError("ETIMEDOUT", `connection ${event.kind}-idle for ${Math.round(event.idleMs)} ms`));
    } else {
      emitIdle(this, event);
    }
  }

  #finished(): void {
    this.#flags |= HANDLER_DONE;
    closeWithoutWaiting(this.#conn);
    this.#maybeEnd();
  }

  #failed(error: unknown): void {
    this.#flags |= HANDLER_DONE;
    this.#conn.destroy(error);
    if ((this.#flags & ABANDONED) === 0) this.#owner.failed(this.#conn, error);
    this.#maybeEnd();
  }

  #maybeEnd(): void {
    const flags = this.#flags;
    if ((flags & ENDED) !== 0 || (flags & CLOSED) === 0 || (flags & (HANDLER_DONE | ABANDONED)) === 0) return;
    this.#flags |= ENDED;
    this.#unlist();
    this.#owner.ended(this.#conn);
  }
}

/**
 * Closes a socket the server will not serve, with a FIN as POCO does: the
 * peer sees a clean end, not a reset racing its connect. A socket still in
 * its TLS handshake has nothing to end gracefully and is destroyed; its
 * handshake then fails, and nobody waits for that.
 */
function turnAway(raw: RawSocket): void {
  if (raw.handshake === undefined) {
    raw.close();
    return;
  }
  raw.handshake.catch(noop);
  raw.destroy();
}

/**
 * What the application's own code (a handler or filter) threw, as the
 * server reports it: ERR_HANDLER with the thrown value as `cause`, so it is
 * not mistaken for a network failure. A NetError it let through (its
 * connection reset, an idle timeout) is reported as it is.
 */
function applicationError(error: unknown, what: string, address: string): NetError {
  if (error instanceof NetError) return error;
  const message = error instanceof Error ? error.message : String(error);
  return new NetError("ERR_HANDLER", `${what} threw: ${message}`, { cause: error, address });
}

function isThenable<T>(value: T | Promise<T>): value is Promise<T> {
  return typeof (value as { then?: unknown } | undefined)?.then === "function";
}

/**
 * Listens through `transport`. Most users call the bound `listen()` from
 * `wireline`; this form is for custom transports.
 *
 * @example
 * ```ts
 * import { createNet } from "wireline";
 * import { memoryTransport } from "wireline/memory";
 * const server = await createNet(memoryTransport).listen({ port: 7000 }, (conn) => conn.close());
 * ```
 */
export async function listenWith<T = Uint8Array>(transport: Transport, options: ListenOptions & { session: true | SessionServerOptions<T> }, handler: SessionHandler<T>): Promise<Server>;
export async function listenWith(transport: Transport, options: ListenOptions, handler: ConnectionHandler): Promise<Server>;
export async function listenWith<T>(transport: Transport, options: ListenOptions, handler: ConnectionHandler | SessionHandler<T>): Promise<Server> {
  const server = new Server(options, handler as ConnectionHandler);
  checkSocketOptions(options, transport);
  checkListenCapabilities(transport.capabilities, options);
  await startServer(server, transport);
  return server;
}
