/**
 * The Node adapter: maps wireline's transport contract onto `node:net`.
 *
 * Node already buffers writes and pushes reads, so this adapter is mostly
 * bookkeeping: it normalises errors, keeps the close notification single, and
 * refuses options Node cannot honour (SO_REUSEPORT before 22.12).
 *
 * @module
 */

import * as net from "node:net";
import { formatAddress, type Address } from "../src/address.ts";
import { createNet, type Net } from "../src/net.ts";
import { NetError, toNetError, unsupported } from "../src/errors.ts";
import {
  DEFAULT_HIGH_WATER_MARK,
  type RawConnectOptions,
  type RawHandlers,
  type RawListener,
  type RawListenOptions,
  type RawSocket,
  type SocketAddress,
  type Transport,
} from "../src/transport.ts";

function toSocketAddress(address: string | undefined, port: number | undefined, family: string | undefined, path?: string): SocketAddress | undefined {
  if (path !== undefined) return { transport: "unix", path };
  if (address === undefined || port === undefined) return undefined;
  return { transport: "tcp", hostname: address, port, family: family === "IPv6" ? "IPv6" : "IPv4" };
}

const NOOP_HANDLERS: RawHandlers = { onData() {}, onEnd() {}, onDrain() {}, onClose() {} };

class NodeSocket implements RawSocket {
  readonly #socket: net.Socket;
  readonly #label: string;
  readonly #unixPath: string | undefined;
  #handlers: RawHandlers = NOOP_HANDLERS;
  #early: Uint8Array[] | undefined = [];
  #earlyEnd = false;
  #error: NetError | undefined;
  #closed = false;
  #closeEarly = false;

  constructor(socket: net.Socket, label: string, unixPath: string | undefined) {
    this.#socket = socket;
    this.#label = label;
    this.#unixPath = unixPath;
    // Listeners are attached at once so nothing that arrives before start() is lost.
    socket.on("data", (chunk: Uint8Array) => {
      if (this.#early) this.#early.push(chunk);
      else this.#handlers.onData(chunk);
    });
    socket.on("end", () => {
      if (this.#early) this.#earlyEnd = true;
      else this.#handlers.onEnd();
    });
    socket.on("drain", () => this.#handlers.onDrain());
    socket.on("error", (err) => {
      this.#error ??= toNetError(err, this.#label);
    });
    socket.on("close", () => {
      this.#closed = true;
      if (this.#early) this.#closeEarly = true;
      else this.#handlers.onClose(this.#error);
      this.#handlers = NOOP_HANDLERS;
    });
  }

  start(handlers: RawHandlers): void {
    const early = this.#early;
    if (!early) throw new Error("RawSocket.start() called twice");
    this.#early = undefined;
    this.#handlers = handlers;
    for (const chunk of early) handlers.onData(chunk);
    if (this.#earlyEnd) handlers.onEnd();
    if (this.#closeEarly) {
      handlers.onClose(this.#error);
      this.#handlers = NOOP_HANDLERS;
    }
  }

  write(chunk: Uint8Array): boolean {
    if (this.#closed || this.#socket.destroyed) return false;
    return this.#socket.write(chunk);
  }

  get bufferedAmount(): number {
    return this.#socket.writableLength;
  }

  end(): void {
    this.#socket.end();
  }

  close(): void {
    // end() then destroy once flushed: Node's destroySoon() without waiting for the peer's FIN.
    const socket = this.#socket;
    if (socket.destroyed) return;
    if (socket.writableLength === 0) socket.destroy();
    else {
      socket.end();
      socket.once("finish", () => socket.destroy());
    }
  }

  destroy(error?: NetError): void {
    if (error) this.#error ??= error;
    this.#socket.destroy();
  }

  pause(): void {
    this.#socket.pause();
  }

  resume(): void {
    this.#socket.resume();
  }

  setNoDelay(enabled: boolean): void {
    if (this.#unixPath === undefined) this.#socket.setNoDelay(enabled);
  }

  setKeepAlive(enabled: boolean, initialDelay?: number): void {
    if (this.#unixPath === undefined) this.#socket.setKeepAlive(enabled, initialDelay ?? 0);
  }

  get localAddress(): SocketAddress | undefined {
    const s = this.#socket;
    return toSocketAddress(s.localAddress, s.localPort, s.localFamily, this.#unixPath);
  }

  get remoteAddress(): SocketAddress | undefined {
    const s = this.#socket;
    return toSocketAddress(s.remoteAddress, s.remotePort, s.remoteFamily, this.#unixPath);
  }
}

function rawConnect(address: Address, options: RawConnectOptions): Promise<RawSocket> {
  const label = formatAddress(address);
  return new Promise((resolve, reject) => {
    const common = {
      allowHalfOpen: true,
      signal: options.signal,
      highWaterMark: DEFAULT_HIGH_WATER_MARK,
    };
    const socket =
      address.transport === "unix"
        ? net.connect({ ...common, path: address.path })
        : net.connect({ ...common, host: address.hostname, port: address.port });
    const onError = (err: Error) => {
      socket.destroy();
      reject(toNetError(err, label));
    };
    socket.once("error", onError);
    socket.once("connect", () => {
      socket.off("error", onError);
      resolve(new NodeSocket(socket, label, address.transport === "unix" ? address.path : undefined));
    });
  });
}

/** Node gained SO_REUSEPORT in 22.12 and 23.1; older versions ignore the flag silently. */
function nodeHasReusePort(): boolean {
  const [major = 0, minor = 0] = process.versions.node.split(".").map(Number);
  return major > 23 || (major === 23 && minor >= 1) || (major === 22 && minor >= 12);
}

function rawListen(options: RawListenOptions, onAccept: (socket: RawSocket) => void): Promise<RawListener> {
  const { address } = options;
  const label = formatAddress(address);
  if (options.reusePort && !nodeHasReusePort()) {
    return Promise.reject(unsupported("reusePort", `Node ${process.versions.node} has no SO_REUSEPORT (needs 22.12+); use node:cluster`));
  }
  if (options.reusePort && address.transport === "unix") {
    return Promise.reject(unsupported("reusePort", "it applies to TCP only"));
  }
  return new Promise((resolve, reject) => {
    const unixPath = address.transport === "unix" ? address.path : undefined;
    const server = net.createServer({ allowHalfOpen: true, pauseOnConnect: false, highWaterMark: DEFAULT_HIGH_WATER_MARK }, (socket) => {
      // Accepted sockets surface errors through their own wrapper; this listener keeps an early
      // reset from becoming an uncaught 'error' event before the wrapper exists.
      onAccept(new NodeSocket(socket, label, unixPath));
    });
    const onListenError = (err: Error) => reject(toNetError(err, label));
    server.once("error", onListenError);
    const listenOptions: net.ListenOptions & { reusePort?: boolean } =
      address.transport === "unix"
        ? { path: address.path, backlog: options.backlog }
        : { host: address.hostname, port: address.port, backlog: options.backlog, ipv6Only: options.ipv6Only, exclusive: true };
    if (options.reusePort) listenOptions.reusePort = true;
    server.listen(listenOptions, () => {
      server.off("error", onListenError);
      // A listening server's later errors (EMFILE on accept, say) must not crash the process.
      server.on("error", () => {});
      const bound = server.address();
      const boundAddress: SocketAddress =
        typeof bound === "string" || bound === null
          ? { transport: "unix", path: unixPath ?? String(bound) }
          : { transport: "tcp", hostname: bound.address, port: bound.port, family: bound.family === "IPv6" ? "IPv6" : "IPv4" };
      resolve({
        address: boundAddress,
        close: () =>
          new Promise<void>((done) => {
            // server.close's callback waits for every accepted socket; the contract releases the port only.
            server.close();
            done();
          }),
      });
    });
  });
}

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
export const nodeTransport: Transport = { name: "node", connect: rawConnect, listen: rawListen };

export * from "../src/mod.ts";

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
