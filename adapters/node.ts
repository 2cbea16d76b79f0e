/**
 * The Node adapter: a {@link SocketDriver} over `node:net` and `node:tls`,
 * wrapped by the socket kernel (`src/socket/socket.ts`), which owns the write
 * queue, watermarks and close sequence. Node keeps a write buffer of its own;
 * it is held small (16 KiB) so that the kernel's 64/32 KiB watermarks govern
 * here exactly as on the other runtimes.
 *
 * @module
 */

import { Buffer } from "node:buffer";
import { existsSync } from "node:fs";
import * as net from "node:net";
import { dirname } from "node:path";
import * as tls from "node:tls";
import { formatAddress, tcpSocketAddress, type Address, type SocketAddress } from "../src/address.ts";
import { NetError, toNetError } from "../src/errors.ts";
import { acceptedLocal } from "../src/connect/known-addresses.ts";
import { createNet, type Net } from "../src/net.ts";
import type { DriverSink, SocketDriver } from "../src/socket/driver.ts";
import { chunkOfRead, nextReadBuffer, READ_BUFFER_SIZE, type CopyRead } from "../src/socket/read-buffer.ts";
import { SocketEnds } from "../src/socket/socket-ends.ts";
import { createRawSocket } from "../src/socket/socket.ts";
import type { RawStartTlsOptions, TlsInfo } from "../src/tls.ts";
import type { CancelConnect, Capability, ConnectSink, RawConnectOptions, RawListener, RawListenOptions, RawSocket, Transport, TransportCapabilities } from "../src/transport.ts";
import { clientHandshake, clientTlsOptions, serverHandshake, serverTlsOptions, tlsInfoOf } from "./node-tls.ts";
import { isTlsLayerError, toOpenSslTlsError } from "./openssl-tls.ts";
import { systemResolve } from "./system-resolver.ts";
import { installDiagnostics } from "./diagnostics-node.ts";

/** Node's own write buffer: small, so that the kernel's queue and watermarks do the buffering. */
const NODE_HIGH_WATER_MARK = 16 * 1024;
/** Most bytes handed to Node per `socket.write()`, so that a large write waits in the kernel's queue, not Node's. */
const MAX_SLICE = 64 * 1024;

/** Where dialled plain sockets read, one at a time (see NodeDriver.onread); as large as Node's own read size. */
const SHARED_READ_BUFFER = new Uint8Array(READ_BUFFER_SIZE);
/** A copy not zero-filled first, as `new Uint8Array()` would. */
const copyUnsafe: CopyRead = (buffer, n) => {
  const chunk = Buffer.allocUnsafe(n);
  chunk.set(buffer.subarray(0, n));
  return chunk;
};

/** Where the shared listeners find the driver of the socket that emitted. */
const OWNER: unique symbol = Symbol("wireline.owner");
type OwnedSocket = net.Socket & { [OWNER]: NodeDriver };

/** A driver's TLS and failure state, made on first use: a plain, healthy socket needs none of it. */
class DriverRare {
  tls: TlsInfo | undefined = undefined;
  handshake: Promise<void> | undefined = undefined;
  error: NetError | undefined = undefined;
}

class NodeDriver extends SocketEnds implements SocketDriver {
  readonly #socket: net.Socket;
  readonly #label: string;
  #sink: DriverSink | undefined;
  #rare: DriverRare | undefined;

  /**
   * One set of listener functions for every socket, instead of closures per
   * connection: idle connections are what a server has most of.
   */
  static readonly #listeners: Record<"data" | "end" | "drain" | "error" | "close", (this: OwnedSocket, arg: never) => void> = {
    data(chunk: Uint8Array) {
      this[OWNER].#sink?.received(chunk);
    },
    end() {
      this[OWNER].#sink?.peerEnded();
    },
    drain() {
      this[OWNER].#sink?.writable();
    },
    error(err: Error) {
      // A dialled socket has this listener from the start: until it connects, an error fails the dial.
      const self = (this as Partial<OwnedSocket>)[OWNER];
      if (self === undefined) return dialFailed(this, err);
      // A TLS alert after the handshake (a refused client certificate) is a TLS failure, not an unknown one, and
      // leaves Node's socket open: it is dead all the same.
      const rare = self.#rareState();
      rare.error ??= isTlsLayerError(err) ? toOpenSslTlsError(err, self.#label) : toNetError(err, self.#label);
      this.destroy();
    },
    close() {
      const self = this[OWNER];
      // Node closes a socket by itself once both directions ended; the kernel decides when it is gone (release() reports it).
      if (self.#rare?.error !== undefined) self.#reportClosed();
    },
  };

  /**
   * How a dialled plain socket reads (node:net's `onread`): straight into a buffer, with no Readable
   * stream (push, the 'data' event, a tick to read more) per chunk: about 1 µs a chunk, what a ping-pong
   * round trip's four awaits cost. Accepted sockets cannot take `onread`, and TLS reads through its own
   * layer. The core's read-buffer policy (src/socket/read-buffer.ts) with one twist: sockets share one
   * buffer, each read copied out before the next can start (small reads into the slab, as Node's own
   * Buffer pool does: a `slice()` of 64 bytes allocates ~290 bytes). A full read gives the socket a
   * buffer of its own for the next read, which is then handed over without a copy: a download costs
   * what Node's own reads cost (a fresh buffer per read). Node takes the next read's buffer in advance,
   * so a socket whose last read was full holds 64 KiB until it reads again; after any shorter read it
   * goes back to the shared buffer and holds none.
   */
  static readonly onread: net.OnReadOpts = {
    // Node calls this when the socket gets its handle, and after each read for the next read's buffer.
    buffer: () => {
      const next = NodeDriver.#nextReadBuffer;
      NodeDriver.#nextReadBuffer = SHARED_READ_BUFFER;
      return next;
    },
    callback(this: OwnedSocket, nread: number, buffer: Uint8Array): boolean {
      const chunk = chunkOfRead(buffer, nread, buffer !== SHARED_READ_BUFFER, copyUnsafe);
      NodeDriver.#nextReadBuffer = nextReadBuffer(buffer, nread, SHARED_READ_BUFFER) ?? Buffer.allocUnsafe(READ_BUFFER_SIZE);
      this[OWNER].#sink?.received(chunk);
      return true;
    },
  };

  /** What the `onread` buffer function gives next: set by the read just reported (they run back to back). */
  static #nextReadBuffer: Uint8Array = SHARED_READ_BUFFER;

  /** The listeners as `on()` takes them; each reads its socket through `this`. */
  static readonly #events = Object.entries(NodeDriver.#listeners) as unknown as ReadonlyArray<[string, (...args: unknown[]) => void]>;
  /** The same, but for `error`: a dialled socket has that one already (see watchDial). */
  static readonly #eventsAfterDial = NodeDriver.#events.filter(([event]) => event !== "error");

  /**
   * Listens to a plain socket being dialled. Its `error` listener is the driver's own, and the `connect`
   * one stays (a socket connects once): no listener is removed and added again when the dial succeeds.
   */
  static watchDial(socket: DialingSocket): void {
    socket.on("connect", onDialConnect).on("error", NodeDriver.#listeners.error as (error: Error) => void);
  }

  /** `known`: see SocketEnds. `handshake`: a TLS socket's, pending. */
  constructor(socket: net.Socket, label: string, unixPath: string | undefined, accepted: boolean, known: SocketAddress | undefined, handshake?: Promise<tls.TLSSocket>) {
    super(unixPath, accepted, known);
    this.#socket = socket;
    this.#label = label;
    if (handshake !== undefined) {
      const rare = this.#rareState();
      rare.handshake = handshake.then((secure) => void (rare.tls = tlsInfoOf(secure)));
      rare.handshake.catch(() => {}); // the server or the core's dial awaits it; never an unhandled rejection
    }
    (socket as OwnedSocket)[OWNER] = this;
  }

  /** Reads the ends now: Node forgets the local address when the socket closes, even one that was read, and a peer address nobody read. */
  readEnds(): this {
    this.readTcpEnds(this.#socket);
    return this;
  }

  #rareState(): DriverRare {
    return (this.#rare ??= new DriverRare());
  }

  get tls(): TlsInfo | undefined {
    return this.#rare?.tls;
  }

  get handshake(): Promise<void> | undefined {
    return this.#rare?.handshake;
  }

  attach(sink: DriverSink): void {
    this.#sink = sink;
    // Reading waits for resumeReading(); paused, Node buffers at most its high-water mark. A TLS
    // handshake still proceeds: it yields no plain text.
    const socket = this.#socket;
    socket.pause();
    // A dialled socket got the driver's error listener when the dial started.
    const events = Object.hasOwn(socket, SINK) ? NodeDriver.#eventsAfterDial : NodeDriver.#events;
    for (const [event, listener] of events) {
      if (event === "end") this.#listenEnd(listener);
      else socket.on(event, listener);
    }
  }

  /**
   * Node keeps an 'end' listener of its own on every socket, so a second one would make a listener
   * array (64 bytes per socket). Where the socket has just that one, ours takes its place and calls it
   * first, as Node would have: adding ours, then removing Node's, leaves one function and no array.
   */
  #listenEnd(ours: (...args: unknown[]) => void): void {
    const socket = this.#socket;
    const nodeEnd = NodeDriver.#nodeEnd;
    // listenerCount(event, listener) copies no array, where listeners() would.
    if (nodeEnd !== undefined && socket.listenerCount("end") === 1 && socket.listenerCount("end", nodeEnd) === 1) {
      socket.on("end", NodeDriver.#endInPlaceOfNode);
      socket.off("end", nodeEnd);
    } else {
      socket.on("end", ours);
    }
  }

  /** The 'end' listener Node gives every socket, if it gives exactly one: read from a socket never connected. */
  static readonly #nodeEnd: ((this: net.Socket) => void) | undefined = (() => {
    const listeners = new net.Socket().listeners("end");
    return listeners.length === 1 ? (listeners[0] as (this: net.Socket) => void) : undefined;
  })();

  /** Node's 'end' listener, then ours (see #listenEnd). */
  static #endInPlaceOfNode(this: OwnedSocket): void {
    NodeDriver.#nodeEnd!.call(this);
    this[OWNER].#sink?.peerEnded();
  }

  #detach(): void {
    this.#sink = undefined;
    const socket = this.#socket;
    for (const [event, listener] of NodeDriver.#events) socket.off(event, listener);
    if (socket.listeners("end").includes(NodeDriver.#endInPlaceOfNode)) {
      socket.off("end", NodeDriver.#endInPlaceOfNode);
      socket.on("end", NodeDriver.#nodeEnd!); // the socket goes on under TLS: Node's listener goes back
    }
  }

  writeSome(chunk: Uint8Array): number {
    const socket = this.#socket;
    // Node's write() says "full" only when bytes stay in its buffer: a slice the kernel took at once
    // does not count, so slices go on until Node holds some, and its 'drain' is then sure to come.
    let taken = 0;
    while (taken < chunk.length && !socket.writableNeedDrain && !socket.destroyed) {
      const end = Math.min(chunk.length, taken + MAX_SLICE);
      socket.write(taken === 0 && end === chunk.length ? chunk : chunk.subarray(taken, end));
      taken = end;
    }
    return taken;
  }

  get heldBytes(): number {
    return this.#socket.writableLength;
  }

  unref(): void {
    this.#socket.unref();
  }

  ref(): void {
    this.#socket.ref();
  }

  shutdownWrite(): void | Promise<void> {
    // end() sends FIN, or close_notify on TLS (rustls reports a bare FIN as truncation).
    const socket = this.#socket.end();
    // Done once Node's own buffer went out too: the kernel's close timeout bounds the wait.
    if (socket.writableFinished || socket.destroyed) return;
    // Plain, with nothing buffered: the FIN goes out on the next tick, and a release before it sends one too
    // (close(2) with nothing unread), so waiting for 'finish' would only cost a loop iteration per close.
    // TLS must flush its close_notify first.
    if (socket.writableLength === 0 && !(socket instanceof tls.TLSSocket)) return;
    return new Promise((resolve) => {
      const done = (): void => resolve();
      socket.once("finish", done).once("close", done);
    });
  }

  /** Reported at release and at Node's 'close' after a failure, whichever comes first: the kernel passes on one. */
  #reportClosed(): void {
    this.#sink?.closed(this.#rare?.error);
  }

  release(graceful: boolean): void {
    const socket = this.#socket;
    if (!socket.destroyed) {
      // Bytes dropped from Node's buffer: RST, so the peer cannot take the cut stream for a complete one (TCP only).
      if (!graceful && socket.writableLength > 0 && !this.isUnix && !(socket instanceof tls.TLSSocket)) socket.resetAndDestroy();
      else socket.destroy();
    }
    // destroy() closes the descriptor at once (libuv defers only the callback): reported now, not a loop iteration later.
    this.#reportClosed();
  }

  pauseReading(): void {
    this.#socket.pause();
  }

  resumeReading(): void {
    this.#socket.resume();
  }

  setNoDelay(enabled: boolean): void {
    if (!this.isUnix) this.#socket.setNoDelay(enabled);
  }

  setKeepAlive(enabled: boolean, initialDelay?: number): void {
    if (!this.isUnix) this.#socket.setKeepAlive(enabled, initialDelay ?? 0);
  }

  async startTls(options: RawStartTlsOptions): Promise<SocketDriver> {
    const socket = this.#socket;
    // Paused, bytes that arrive from now on (a client's ClientHello) wait in Node's buffer, where the TLS socket finds them.
    socket.pause();
    // Node's own buffer goes out in plain text, ahead of the handshake.
    if (socket.writableLength > 0) await new Promise((resolve) => socket.write(new Uint8Array(0), resolve));
    this.#detach();
    // The client's first handshake bytes, read before startTls() was called, go back in front.
    if (options.isServer && options.received !== undefined) socket.unshift(options.received);
    if (socket.destroyed) throw new NetError("ERR_SOCKET_CLOSED", "the connection closed before TLS could start", { address: this.#label });
    const common = { highWaterMark: NODE_HIGH_WATER_MARK };
    const secure = options.isServer ? new tls.TLSSocket(socket, { ...serverTlsOptions(options.server), ...common }) : tls.connect({ ...clientTlsOptions(options.client), ...common, socket });
    // Handed over at once, its handshake pending: the kernel holds what arrives until it is done.
    const handshake = options.isServer ? serverHandshake(secure, options.server.requestCert, this.#label) : clientHandshake(secure, this.#label);
    const next = new NodeDriver(secure, this.#label, undefined, false, undefined, handshake);
    this.passEndsTo(next);
    return next;
  }
}

/** Where the shared connect listeners find the sink of the socket that emitted. */
const SINK: unique symbol = Symbol("wireline.connectSink");
type DialingSocket = net.Socket & { [SINK]?: ConnectSink };

function rawConnect(address: Address, options: RawConnectOptions, sink: ConnectSink): CancelConnect {
  // Shared listener functions: a connect makes no closure but its cancel hook. A TLS socket is reported at its
  // TCP connect, its handshake pending (the core waits for it): errors before are plain socket errors.
  // A plain TCP dial, the common one, takes a single literal: a spread into a second object cost ~100 bytes a connect.
  let socket: DialingSocket;
  if (options.tls === undefined && address.transport === "tcp") {
    const plain: net.TcpNetConnectOpts & { highWaterMark: number } = { host: address.hostname, port: address.port, localAddress: options.localAddress, allowHalfOpen: true, highWaterMark: NODE_HIGH_WATER_MARK, onread: NodeDriver.onread };
    socket = net.connect(plain);
  } else socket = dialOther(address, options);
  socket[SINK] = sink;
  NodeDriver.watchDial(socket);
  return () => socket.destroy();
}

/** A Unix socket, or TLS over either. */
function dialOther(address: Address, options: RawConnectOptions): net.Socket {
  const common = address.transport === "unix"
    ? { path: address.path, allowHalfOpen: true, highWaterMark: NODE_HIGH_WATER_MARK }
    : { host: address.hostname, port: address.port, localAddress: options.localAddress, allowHalfOpen: true, highWaterMark: NODE_HIGH_WATER_MARK };
  return options.tls === undefined ? net.connect({ ...common, onread: NodeDriver.onread }) : tls.connect({ ...clientTlsOptions(options.tls), ...common });
}

/** The socket is the kernel's from here: its sink is let go (the dial's listeners stay; see watchDial). */
function onDialConnect(this: DialingSocket): void {
  const sink = this[SINK]!;
  this[SINK] = undefined;
  sink.opened(openedSocket(this, sink));
}

/** Before the connect (the driver's error listener takes over after it). The core's dial reports once. */
function dialFailed(socket: DialingSocket, error: Error): void {
  socket.destroy();
  socket[SINK]?.failed(error);
}

function openedSocket(ready: net.Socket, { address, label, peer }: ConnectSink): RawSocket {
  const unixPath = address.transport === "unix" ? address.path : undefined;
  const handshake = ready instanceof tls.TLSSocket ? clientHandshake(ready, label) : undefined;
  return createRawSocket(new NodeDriver(ready, label, unixPath, false, peer, handshake).readEnds());
}

/** libuv reports a Unix socket path in a missing directory as EACCES; the others say ENOENT. */
function toListenError(error: unknown, label: string, unixPath: string | undefined): NetError {
  if (unixPath !== undefined && (error as { code?: unknown }).code === "EACCES" && !existsSync(dirname(unixPath))) {
    return new NetError("ENOENT", `no such directory for the Unix socket: ${dirname(unixPath)}`, { address: label, cause: error });
  }
  return toNetError(error, label);
}

function rawListen(options: RawListenOptions, onAccept: (socket: RawSocket) => void): Promise<RawListener> {
  const { address } = options;
  const label = formatAddress(address);
  const unixPath = address.transport === "unix" ? address.path : undefined;
  const serverTls = options.tls;
  const tlsOptions = serverTls && { ...serverTlsOptions(serverTls), highWaterMark: NODE_HIGH_WATER_MARK };
  /** The local end every accepted socket shares, when the listener's address is a specific one. */
  let local: SocketAddress | undefined;
  // TLS sockets are handed over at accept, their handshake pending: the server bounds and counts it.
  const accept = (socket: net.Socket): void => {
    if (serverTls === undefined) return onAccept(createRawSocket(new NodeDriver(socket, label, unixPath, true, local).readEnds()));
    const secure = new tls.TLSSocket(socket, tlsOptions);
    onAccept(createRawSocket(new NodeDriver(secure, label, unixPath, true, local, serverHandshake(secure, serverTls.requestCert, label)).readEnds()));
  };
  const server = net.createServer({ allowHalfOpen: true, highWaterMark: NODE_HIGH_WATER_MARK }, accept);
  return new Promise((resolve, reject) => {
    const onListenError = (err: Error) => reject(toListenError(err, label, unixPath));
    server.once("error", onListenError);
    const { backlog, ipv6Only, reusePort } = options;
    const listenOptions: net.ListenOptions & { reusePort?: boolean } =
      address.transport === "unix" ? { path: address.path, backlog } : { host: address.hostname, port: address.port, backlog, ipv6Only, reusePort };
    server.listen(listenOptions, () => {
      server.off("error", onListenError);
      // A listening server's later errors (EMFILE on accept, say) must not crash the process.
      server.on("error", () => {});
      const bound = server.address();
      const address = (typeof bound === "object" && bound !== null && tcpSocketAddress(bound.address, bound.port)) || { transport: "unix" as const, path: unixPath ?? String(bound) };
      local = acceptedLocal(address);
      resolve({
        address,
        // server.close's callback waits for every accepted socket; the contract releases the port only.
        close: async () => void server.close(),
        unref: () => void server.unref(),
        ref: () => void server.ref(),
      });
    });
  });
}

/** Node gained SO_REUSEPORT in 22.12 and 23.1; older versions ignore the flag silently. */
function reusePortCapability(): Capability {
  const [major = 0, minor = 0] = process.versions.node.split(".").map(Number);
  const has = major > 23 || (major === 23 && minor >= 1) || (major === 22 && minor >= 12);
  return has || `Node ${process.versions.node} has no SO_REUSEPORT (needs 22.12+); use node:cluster`;
}

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
  reusePort: reusePortCapability(),
  ipv6Only: true,
  backlog: true,
  unixBacklog: true,
  localAddress: true,
  proxyProtocolWithTls: true,
};

/**
 * The `node:net` transport.
 *
 * @example
 * ```ts
 * import { createNet } from "wireline";
 * import { nodeTransport } from "wireline/node";
 * const { connect } = createNet(nodeTransport);
 * const conn = await connect("127.0.0.1:6379");
 * ```
 */
export const nodeTransport: Transport = { name: "node", capabilities, connect: rawConnect, resolve: systemResolve, listen: rawListen };

export * from "../src/mod.ts";

installDiagnostics();
const api: Net = createNet(nodeTransport);

/**
 * Opens a connection over the node transport.
 *
 * @example
 * ```ts
 * import { connect } from "wireline/node";
 * const conn = await connect("127.0.0.1:6379", { timeout: 2000 });
 * ```
 */
export const connect: Net["connect"] = api.connect;

/**
 * Listens over the node transport.
 *
 * @example
 * ```ts
 * import { listen } from "wireline/node";
 * const server = await listen({ port: 0 }, async (conn) => {
 *   for await (const chunk of conn) await conn.write(chunk);
 * });
 * ```
 */
export const listen: Net["listen"] = api.listen;

/**
 * A client that keeps its connection up over the node transport: reconnects
 * with capped, jittered backoff, and queues writes while disconnected (bounded).
 *
 * @example
 * ```ts
 * import { reconnecting } from "wireline/node";
 * const client = reconnecting("127.0.0.1:6379", { backoff: { initial: 100, max: 5_000 } });
 * client.on("reconnecting", ({ attempt, delay }) => console.log(`attempt ${attempt} in ${delay} ms`));
 * await client.write("PING\r\n");
 * ```
 */
export const reconnecting: Net["reconnecting"] = api.reconnecting;
