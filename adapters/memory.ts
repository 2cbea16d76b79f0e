/**
 * An in-process transport with no sockets, for users' unit tests: the same
 * `connect`/`listen` API, the same socket kernel (write queue, watermarks,
 * graceful close), and nothing touching the network. Like a socket, each
 * direction buffers 64 KiB for a peer that does not read; data arrives on a
 * later macrotask; `destroy()` reaches the peer as ECONNRESET, and a write to
 * a closed peer fails with EPIPE. There is no TLS (ERR_UNSUPPORTED).
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

import { formatAddress, type Address, type SocketAddress } from "../src/address.ts";
import { createNet, type Net } from "../src/net.ts";
import { NetError, unsupported } from "../src/errors.ts";
import { createRawSocket } from "../src/socket/socket.ts";
import type { DriverSink, SocketDriver } from "../src/socket/driver.ts";
import type { CancelConnect, ConnectSink, RawConnectOptions, RawListener, RawListenOptions, RawSocket, Transport, TransportCapabilities } from "../src/transport.ts";

type Acceptor = (socket: RawSocket) => void;

/** Bound listeners, keyed by formatted address; one registry per process like a kernel's. */
const listeners = new Map<string, Acceptor>();
let nextEphemeralPort = 49152;

/**
 * Bytes one direction holds for a reader that is not reading, like a socket's
 * kernel buffers. Small, so that backpressure shows up in tests at once.
 */
const PIPE_CAPACITY = 64 * 1024;

/**
 * One end of an in-process connection. What it writes lands in its peer's
 * inbound pipe (bounded by {@link PIPE_CAPACITY}) and reaches the peer's
 * kernel on a macrotask, as a socket's data would, interleaved with timers.
 */
class MemoryDriver implements SocketDriver {
  peer!: MemoryDriver;
  readonly localAddress: SocketAddress | undefined;
  readonly remoteAddress: SocketAddress | undefined;
  #sink: DriverSink | undefined;
  /** Bytes the peer wrote that this end has not delivered yet. */
  #inbound: Uint8Array[] = [];
  #inboundBytes = 0;
  /** The peer's FIN, queued behind `#inbound`. */
  #inboundEnd = false;
  #endDelivered = false;
  /** A reset (or broken pipe) to report instead of anything still inbound. */
  #failure: NetError | undefined;
  #reading = false;
  /** The caller's buffer for the next delivery (pull mode): one report answers it. */
  #offer: Uint8Array | undefined;
  #deliveryScheduled = false;
  /** The last writeSome was short: this end owes the kernel writable() once the peer has room. */
  #blocked = false;
  /** Released by the kernel, or closed by a failure: nothing more is reported. */
  #gone = false;

  constructor(local: SocketAddress | undefined, remote: SocketAddress | undefined) {
    this.localAddress = local;
    this.remoteAddress = remote;
  }

  attach(sink: DriverSink): void {
    this.#sink = sink;
  }

  writeSome(chunk: Uint8Array): number {
    const peer = this.peer;
    if (peer.#gone) {
      // Writing to a peer that is gone fails as TCP does: broken pipe, reported through closed.
      this.#fail(new NetError("EPIPE", "broken pipe: the peer closed the connection"));
      return chunk.length;
    }
    const taken = Math.min(chunk.length, PIPE_CAPACITY - peer.#inboundBytes);
    if (taken > 0) {
      // A copy: the kernel may reuse what it handed over once the call returns.
      peer.#inbound.push(chunk.slice(0, taken));
      peer.#inboundBytes += taken;
      peer.#scheduleDelivery();
    }
    if (taken < chunk.length) this.#blocked = true;
    return taken;
  }

  shutdownWrite(): void {
    const peer = this.peer;
    if (peer.#gone) return;
    peer.#inboundEnd = true;
    peer.#scheduleDelivery();
  }

  release(graceful: boolean): void {
    this.#gone = true;
    this.#inbound = [];
    this.#inboundBytes = 0;
    // Abortive (destroy, a close timeout): the peer sees a reset, as with TCP's RST.
    if (!graceful) this.peer.#fail(new NetError("ECONNRESET", "connection reset by peer"));
    else {
      // A graceful release is TCP's close(2): the peer gets our FIN, even when no shutdown came first.
      this.shutdownWrite();
      // A peer blocked on this end's full pipe writes again, and learns the pipe is broken.
      this.peer.#wakeWriter();
    }
    this.#sink?.closed();
  }

  pauseReading(): void {
    this.#reading = false;
  }

  resumeReading(): void {
    this.#reading = true;
    this.#scheduleDelivery();
  }

  readInto(into: Uint8Array): void {
    this.#offer = into;
    this.#scheduleDelivery(true);
  }

  // No Nagle and no idle network path in memory: both options have nothing to change.
  setNoDelay(): void {}
  setKeepAlive(): void {}

  /** Reports a failure on a later macrotask, ahead of anything still inbound. */
  #fail(error: NetError): void {
    if (this.#gone || this.#failure !== undefined) return;
    this.#failure = error;
    this.#inbound = [];
    this.#inboundBytes = 0;
    this.#scheduleDelivery(true);
  }

  #scheduleDelivery(evenIfPaused = false): void {
    if (this.#deliveryScheduled || this.#gone || (!this.#reading && !evenIfPaused && this.#offer === undefined)) return;
    this.#deliveryScheduled = true;
    // A macrotask, not a microtask: delivery must interleave with timers and I/O as a socket's
    // would. setImmediate (on every runtime wireline supports) is that, without setTimeout's
    // 1 ms floor per 64 KiB round.
    setImmediate(() => {
      this.#deliveryScheduled = false;
      this.#deliver();
    });
  }

  #deliver(): void {
    if (this.#gone) return;
    const sink = this.#sink!;
    if (this.#failure !== undefined) {
      this.#gone = true;
      sink.closed(this.#failure);
      this.peer.#wakeWriter();
      return;
    }
    const into = this.#offer;
    if (into !== undefined) {
      this.#deliverInto(into, sink);
      return;
    }
    // The kernel may pause reading from inside received(): check before every chunk.
    while (this.#reading && this.#inbound.length > 0 && !this.#gone) {
      const chunk = this.#inbound.shift()!;
      this.#inboundBytes -= chunk.length;
      sink.received(chunk);
    }
    if (this.#inbound.length === 0 && this.#inboundEnd && !this.#endDelivered && this.#reading && !this.#gone) {
      this.#endDelivered = true;
      sink.peerEnded();
    }
    this.peer.#wakeWriter();
  }

  /** Pull mode: the next bytes are copied into the caller's buffer (a socket's read would fill it). */
  #deliverInto(into: Uint8Array, sink: DriverSink): void {
    const head = this.#inbound[0];
    if (head === undefined) {
      if (!this.#inboundEnd || this.#endDelivered) return; // nothing yet: the next write or FIN schedules delivery
      this.#offer = undefined;
      this.#endDelivered = true;
      sink.peerEnded();
      return;
    }
    this.#offer = undefined;
    const n = Math.min(head.length, into.length);
    into.set(n === head.length ? head : head.subarray(0, n));
    if (n === head.length) this.#inbound.shift();
    else this.#inbound[0] = head.subarray(n);
    this.#inboundBytes -= n;
    sink.received(into.subarray(0, n));
    this.peer.#wakeWriter();
  }

  /** The peer's pipe has room again: a writer that was told "full" may go on. */
  #wakeWriter(): void {
    if (!this.#blocked || this.#gone) return;
    if (!this.peer.#gone && this.peer.#inboundBytes >= PIPE_CAPACITY) return;
    this.#blocked = false;
    this.#sink?.writable();
  }
}

const NO_TLS = "the memory transport has no TLS: its connections never leave the process";

/**
 * What the memory transport can do. Socket options that only tune a real
 * network path (keep-alive delay, backlog, ipv6Only) are accepted, so code
 * under test runs unchanged, and have nothing to change in memory.
 */
const capabilities: TransportCapabilities = Object.freeze({
  tls: NO_TLS,
  // In-memory sockets never keep a process alive: unref() has nothing to release.
  unref: true,
  tlsOverUnix: NO_TLS,
  skipVerification: NO_TLS,
  clientCertificate: NO_TLS,
  requestCert: NO_TLS,
  clientStartTls: NO_TLS,
  serverStartTls: NO_TLS,
  keepAliveDelay: true,
  reusePort: "the memory transport has one listener per address",
  ipv6Only: true,
  backlog: true,
  unixBacklog: true,
  localAddress: true,
  proxyProtocolWithTls: NO_TLS,
});

function keyOf(address: Address): string {
  return address.transport === "unix" ? `unix:${address.path}` : `tcp:${address.port}`;
}

function toSocketAddress(address: Address, port?: number): SocketAddress {
  return address.transport === "unix"
    ? { transport: "unix", path: address.path }
    : { transport: "tcp", hostname: address.hostname, port: port ?? address.port, family: address.hostname.includes(":") ? "IPv6" : "IPv4" };
}

function rawConnect(address: Address, options: RawConnectOptions, sink: ConnectSink): CancelConnect | void {
  if (options.tls) return sink.failed(unsupported("tls", NO_TLS));
  const accept = listeners.get(keyOf(address));
  if (!accept) return sink.failed(new NetError("ECONNREFUSED", "connection refused", { address: sink.label }));
  const remote = toSocketAddress(address);
  // A Unix socket's dialling side is unnamed, as on every runtime.
  const local: SocketAddress | undefined =
    address.transport === "unix" ? undefined : { transport: "tcp", hostname: options.localAddress ?? address.hostname, port: nextEphemeralPort++, family: remote.transport === "tcp" ? remote.family : "IPv4" };
  const client = new MemoryDriver(local, remote);
  const server = new MemoryDriver(remote, local);
  client.peer = server;
  server.peer = client;
  // Both kernels exist from here, so bytes the client writes before the server starts are held for it.
  const clientSocket = createRawSocket(client);
  const serverSocket = createRawSocket(server);
  const accepting = setTimeout(() => {
    accept(serverSocket);
    sink.opened(clientSocket);
  }, 0);
  // Given up before the server accepted: the server never hears of it.
  return () => clearTimeout(accepting);
}

function rawListen(options: RawListenOptions, onAccept: (socket: RawSocket) => void): Promise<RawListener> {
  if (options.reusePort) return Promise.reject(unsupported("reusePort", capabilities.reusePort as string));
  if (options.tls) return Promise.reject(unsupported("tls", NO_TLS));
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
export const memoryTransport: Transport = { name: "memory", capabilities, connect: rawConnect, listen: rawListen };

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
