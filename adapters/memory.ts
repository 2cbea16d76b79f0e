/**
 * An in-process transport with no sockets, for users' unit tests: the same
 * `connect`/`listen` API, the same backpressure and close semantics, and
 * nothing touching the network.
 *
 * @example
 * ```ts
 * import { connect, listen } from "wireline/memory";
 * const server = await listen({ port: 7000 }, async (conn) => {
 *   for await (const chunk of conn) await conn.write(chunk);
 * });
 * const conn = await connect("memory:7000");
 * ```
 *
 * @module
 */

import { formatAddress, type Address } from "../src/address.ts";
import { createNet, type Net } from "../src/net.ts";
import { NetError, unsupported } from "../src/errors.ts";
import {
  DEFAULT_HIGH_WATER_MARK,
  DETACHED_HANDLERS,
  type RawConnectOptions,
  type RawHandlers,
  type RawListener,
  type RawListenOptions,
  type RawSocket,
  type SocketAddress,
  type Transport,
} from "../src/transport.ts";

type Acceptor = (socket: RawSocket) => void;

/** Bound listeners, keyed by formatted address; one registry per process like a kernel's. */
const listeners = new Map<string, Acceptor>();
let nextEphemeralPort = 49152;

class MemorySocket implements RawSocket {
  peer!: MemorySocket;
  readonly localAddress: SocketAddress;
  readonly remoteAddress: SocketAddress;
  #handlers: RawHandlers = DETACHED_HANDLERS;
  #started = false;
  #paused = false;
  /** Bytes this side wrote that the peer has not consumed yet. */
  #queue: Uint8Array[] = [];
  #buffered = 0;
  #needDrain = false;
  #flushScheduled = false;
  #endAfterFlush = false;
  #closeAfterFlush = false;
  #ended = false;
  #peerEnded = false;
  #closed = false;
  #pendingClose: { error: NetError | undefined } | undefined;

  constructor(local: SocketAddress, remote: SocketAddress) {
    this.localAddress = local;
    this.remoteAddress = remote;
  }

  start(handlers: RawHandlers): void {
    if (this.#started) throw new Error("RawSocket.start() called twice");
    this.#started = true;
    this.#handlers = handlers;
    this.peer.#scheduleFlush();
    if (this.#peerEnded && this.peer.#closed) handlers.onEnd();
    if (this.#pendingClose) {
      this.#handlers = DETACHED_HANDLERS;
      handlers.onClose(this.#pendingClose.error);
    }
  }

  write(chunk: Uint8Array): boolean {
    if (this.#closed || this.#ended) return false;
    if (this.peer.#closed) {
      // A write to a peer that is gone fails as TCP does: EPIPE, reported through close.
      queueMicrotask(() => this.destroy(new NetError("EPIPE", "broken pipe: the peer closed the connection")));
      return false;
    }
    this.#queue.push(chunk.slice());
    this.#buffered += chunk.length;
    this.#scheduleFlush();
    if (this.#buffered >= DEFAULT_HIGH_WATER_MARK) {
      this.#needDrain = true;
      return false;
    }
    return true;
  }

  get bufferedAmount(): number {
    return this.#buffered;
  }

  end(): void {
    if (this.#closed || this.#ended) return;
    this.#endAfterFlush = true;
    this.#scheduleFlush();
  }

  close(): void {
    if (this.#closed) return;
    this.#endAfterFlush = true;
    this.#closeAfterFlush = true;
    this.#scheduleFlush();
  }

  destroy(error?: NetError): void {
    if (this.#closed) return;
    this.#queue = [];
    this.#buffered = 0;
    this.#finish(error);
    this.peer.#onPeerEnd();
  }

  pause(): void {
    this.#paused = true;
  }

  resume(): void {
    if (!this.#paused) return;
    this.#paused = false;
    this.peer.#scheduleFlush();
  }

  setNoDelay(): void {}
  setKeepAlive(): void {}

  #scheduleFlush(): void {
    if (this.#flushScheduled) return;
    this.#flushScheduled = true;
    // A macrotask, not a microtask: delivery must interleave with timers and I/O as a socket's would.
    setTimeout(() => {
      this.#flushScheduled = false;
      this.#flush();
    }, 0);
  }

  #flush(): void {
    const peer = this.peer;
    if (this.#closed) return;
    while (this.#queue.length > 0 && peer.#started && !peer.#paused && !peer.#closed) {
      const chunk = this.#queue.shift()!;
      this.#buffered -= chunk.length;
      peer.#handlers.onData(chunk);
    }
    if (this.#needDrain && this.#buffered < DEFAULT_HIGH_WATER_MARK && !this.#closed) {
      this.#needDrain = false;
      this.#handlers.onDrain();
    }
    if (this.#queue.length > 0) return;
    if (this.#endAfterFlush && !this.#ended) {
      this.#ended = true;
      peer.#onPeerEnd();
    }
    if (this.#closeAfterFlush) this.#finish(undefined);
  }

  #onPeerEnd(): void {
    if (this.#peerEnded || this.#closed) return;
    this.#peerEnded = true;
    // Before start() the flag alone records it; start() delivers it.
    if (this.#started) this.#handlers.onEnd();
  }

  #finish(error: NetError | undefined): void {
    if (this.#closed) return;
    this.#closed = true;
    if (!this.#started) {
      this.#pendingClose = { error };
      return;
    }
    const handlers = this.#handlers;
    this.#handlers = DETACHED_HANDLERS;
    handlers.onClose(error);
  }
}

function keyOf(address: Address): string {
  return address.transport === "unix" ? `unix:${address.path}` : `tcp:${address.port}`;
}

function toSocketAddress(address: Address, port?: number): SocketAddress {
  return address.transport === "unix"
    ? { transport: "unix", path: address.path }
    : { transport: "tcp", hostname: address.hostname, port: port ?? address.port, family: address.hostname.includes(":") ? "IPv6" : "IPv4" };
}

function rawConnect(address: Address, options: RawConnectOptions): Promise<RawSocket> {
  return new Promise((resolve, reject) => {
    if (options.signal?.aborted) return reject(new NetError("ABORT_ERR", "operation aborted", { address: formatAddress(address) }));
    if (options.tls) return reject(unsupported("tls", "the memory transport has no TLS"));
    const accept = listeners.get(keyOf(address));
    if (!accept) return reject(new NetError("ECONNREFUSED", "connection refused", { address: formatAddress(address) }));
    const remote = toSocketAddress(address);
    const local: SocketAddress =
      address.transport === "unix" ? remote : { transport: "tcp", hostname: address.hostname, port: nextEphemeralPort++, family: remote.transport === "tcp" ? remote.family : "IPv4" };
    const client = new MemorySocket(local, remote);
    const server = new MemorySocket(remote, local);
    client.peer = server;
    server.peer = client;
    setTimeout(() => {
      accept(server);
      resolve(client);
    }, 0);
  });
}

function rawListen(options: RawListenOptions, onAccept: (socket: RawSocket) => void): Promise<RawListener> {
  if (options.reusePort) return Promise.reject(unsupported("reusePort", "the memory transport has one listener per address"));
  if (options.tls) return Promise.reject(unsupported("tls", "the memory transport has no TLS"));
  let address = options.address;
  if (address.transport === "tcp" && address.port === 0) address = { ...address, port: nextEphemeralPort++ };
  const key = keyOf(address);
  if (listeners.has(key)) return Promise.reject(new NetError("EADDRINUSE", "address already in use", { address: formatAddress(address) }));
  listeners.set(key, onAccept);
  return Promise.resolve({
    address: toSocketAddress(address),
    close: () => {
      if (listeners.get(key) === onAccept) listeners.delete(key);
      return Promise.resolve();
    },
  });
}

/**
 * The in-memory transport. Addresses are the usual ones (`"memory:7000"`,
 * `{ port }`, `{ path }`); only the port or path identifies a listener.
 *
 * @example
 * ```ts
 * import { createNet } from "wireline";
 * import { memoryTransport } from "wireline/memory";
 * const { connect, listen } = createNet(memoryTransport);
 * ```
 */
export const memoryTransport: Transport = { name: "memory", connect: rawConnect, listen: rawListen };

export * from "../src/mod.ts";

const api: Net = createNet(memoryTransport);

/**
 * Opens a connection over the memory transport.
 *
 * @example
 * ```ts
 * import { connect } from "wireline/memory";
 * const conn = await connect("127.0.0.1:6379", { timeout: 2000 });
 * ```
 */
export const connect: Net["connect"] = api.connect;

/**
 * Listens over the memory transport.
 *
 * @example
 * ```ts
 * import { listen } from "wireline/memory";
 * const server = await listen({ port: 0 }, async (conn) => {
 *   for await (const chunk of conn) await conn.write(chunk);
 * });
 * ```
 */
export const listen: Net["listen"] = api.listen;

/**
 * A client that keeps its connection up over the memory transport: reconnects
 * with capped, jittered backoff, and queues writes while disconnected (bounded).
 *
 * @example
 * ```ts
 * import { reconnecting } from "wireline/memory";
 * const client = reconnecting("127.0.0.1:6379", { backoff: { initial: 100, max: 5_000 } });
 * client.on("reconnecting", ({ attempt, delay }) => console.log(`attempt ${attempt} in ${delay} ms`));
 * await client.write("PING\r\n");
 * ```
 */
export const reconnecting: Net["reconnecting"] = api.reconnecting;
