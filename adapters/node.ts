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
import * as tls from "node:tls";
import { formatAddress, type Address } from "../src/address.ts";
import { createNet, type Net } from "../src/net.ts";
import { NetError, toNetError, unsupported } from "../src/errors.ts";
import { peerCertificateFrom, toOpenSslTlsError } from "./openssl-tls.ts";
import {
  toTlsError,
  type RawStartTlsOptions,
  type RawTlsClientOptions,
  type RawTlsServerOptions,
  type TlsInfo,
} from "../src/tls.ts";
import {
  DEFAULT_HIGH_WATER_MARK,
  DETACHED_HANDLERS,
  type RawConnectOptions,
  type RawHandlers,
  type RawListener,
  type RawListenOptions,
  type RawSocket,
  type SocketAddress,
  type Capability,
  type Transport,
  type TransportCapabilities,
} from "../src/transport.ts";

function toSocketAddress(address: string | undefined, port: number | undefined, family: string | undefined, path?: string): SocketAddress | undefined {
  if (path !== undefined) return { transport: "unix", path };
  if (address === undefined || port === undefined) return undefined;
  return { transport: "tcp", hostname: address, port, family: family === "IPv6" ? "IPv6" : "IPv4" };
}

function tlsInfoOf(socket: tls.TLSSocket): TlsInfo {
  return {
    alpnProtocol: socket.alpnProtocol || undefined,
    tlsVersion: socket.getProtocol() ?? undefined,
    peerCertificate: peerCertificateFrom(socket.getPeerCertificate()),
    authorized: socket.authorized,
  };
}

/** Where the shared listeners find the wrapper of the socket that emitted. */
const OWNER: unique symbol = Symbol("wireline.owner");
type OwnedSocket = net.Socket & { [OWNER]: NodeSocket };

class NodeSocket implements RawSocket {
  readonly tls: TlsInfo | undefined;
  readonly #socket: net.Socket;
  readonly #label: string;
  readonly #unixPath: string | undefined;
  #handlers: RawHandlers = DETACHED_HANDLERS;
  #started = false;
  /** Events that came before start(); allocated only when that happens. */
  #early: Uint8Array[] | undefined;
  #earlyEnd = false;
  #error: NetError | undefined;
  #closed = false;
  #closeEarly = false;

  /**
   * One set of listener functions for every socket, instead of five closures
   * per connection: idle connections are what a server has most of.
   */
  static readonly #listeners: {
    data(this: OwnedSocket, chunk: Uint8Array): void;
    end(this: OwnedSocket): void;
    drain(this: OwnedSocket): void;
    error(this: OwnedSocket, err: Error): void;
    close(this: OwnedSocket): void;
  } = {
    data(chunk) {
      const self = this[OWNER];
      if (self.#started) self.#handlers.onData(chunk);
      else (self.#early ??= []).push(chunk);
    },
    end() {
      const self = this[OWNER];
      if (self.#started) self.#handlers.onEnd();
      else self.#earlyEnd = true;
    },
    drain() {
      this[OWNER].#handlers.onDrain();
    },
    error(err) {
      const self = this[OWNER];
      self.#error ??= toNetError(err, self.#label);
    },
    close() {
      const self = this[OWNER];
      self.#closed = true;
      if (self.#started) self.#handlers.onClose(self.#error);
      else self.#closeEarly = true;
      self.#handlers = DETACHED_HANDLERS;
    },
  };

  constructor(socket: net.Socket, label: string, unixPath: string | undefined) {
    this.#socket = socket;
    this.#label = label;
    this.#unixPath = unixPath;
    if (socket instanceof tls.TLSSocket) this.tls = tlsInfoOf(socket);
    (socket as OwnedSocket)[OWNER] = this;
    // Listeners are attached at once so nothing that arrives before start() is lost.
    const on = NodeSocket.#listeners;
    socket.on("data", on.data);
    socket.on("end", on.end);
    socket.on("drain", on.drain);
    socket.on("error", on.error);
    socket.on("close", on.close);
  }

  async startTls(options: RawStartTlsOptions): Promise<RawSocket> {
    const socket = this.#socket;
    // From here on the TLS socket owns the stream: the old handlers hear nothing more.
    this.#handlers = DETACHED_HANDLERS;
    this.#started = true;
    this.#early = undefined;
    const on = NodeSocket.#listeners;
    socket.off("data", on.data);
    socket.off("end", on.end);
    socket.off("drain", on.drain);
    socket.off("close", on.close);
    // Bytes written before the upgrade go out in plain text, ahead of the handshake.
    await new Promise<void>((resolve) => socket.write(new Uint8Array(0), () => resolve()));
    socket.off("error", on.error);
    const secure = options.isServer
      ? await serverUpgrade(socket, options.server, this.#label)
      : await handshake(tls.connect({ ...clientTlsOptions(options.client), socket }), this.#label);
    return new NodeSocket(secure, this.#label, this.#unixPath);
  }

  start(handlers: RawHandlers): void {
    if (this.#started) throw new Error("RawSocket.start() called twice");
    this.#started = true;
    const early = this.#early;
    this.#early = undefined;
    this.#handlers = handlers;
    if (early) for (const chunk of early) handlers.onData(chunk);
    if (this.#earlyEnd) handlers.onEnd();
    if (this.#closeEarly) {
      handlers.onClose(this.#error);
      this.#handlers = DETACHED_HANDLERS;
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
    // A TLS socket must end() to send close_notify: Deno (rustls) reports a bare FIN as a truncation error.
    if (socket.writableLength === 0 && this.tls === undefined) socket.destroy();
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

function isIp(name: string): boolean {
  return net.isIP(name) !== 0;
}

function clientTlsOptions(o: RawTlsClientOptions): tls.ConnectionOptions {
  const serverName = o.serverName;
  return {
    // SNI must not carry an IP address (RFC 6066); the identity check below still uses it.
    servername: isIp(serverName) ? undefined : serverName,
    checkServerIdentity: (_host, cert) => tls.checkServerIdentity(serverName, cert),
    ca: o.ca ? [...o.ca] : undefined,
    cert: o.cert,
    key: o.key,
    ALPNProtocols: o.alpn ? [...o.alpn] : undefined,
    rejectUnauthorized: o.rejectUnauthorized,
  };
}

/**
 * Waits for a TLS socket's handshake event (`secureConnect` on a client,
 * `secure` on a hand-made server socket); an error or an early close rejects
 * with ERR_TLS_CERT or ERR_TLS. `verify` may still refuse the finished handshake.
 */
function awaitHandshake(socket: tls.TLSSocket, event: "secureConnect" | "secure", label: string, verify?: () => NetError | undefined): Promise<tls.TLSSocket> {
  return new Promise((resolve, reject) => {
    const onError = (err: Error) => {
      socket.destroy();
      reject(toOpenSslTlsError(err, label));
    };
    const onClose = () => reject(new NetError("ERR_TLS", "TLS handshake failed: the peer closed the connection", { address: label }));
    socket.once("error", onError);
    socket.once("close", onClose);
    socket.once(event, () => {
      socket.off("error", onError);
      socket.off("close", onClose);
      const refused = verify?.();
      if (refused) {
        socket.destroy();
        reject(refused);
      } else resolve(socket);
    });
  });
}

/** Resolves once the client handshake succeeded; a refused certificate becomes ERR_TLS_CERT. */
function handshake(socket: tls.TLSSocket, label: string): Promise<tls.TLSSocket> {
  return awaitHandshake(socket, "secureConnect", label);
}

function serverTlsOptions(o: RawTlsServerOptions): tls.TlsOptions {
  return {
    cert: o.cert,
    key: o.key,
    ca: o.ca ? [...o.ca] : undefined,
    requestCert: o.requestCert,
    rejectUnauthorized: o.requestCert,
    ALPNProtocols: o.alpn ? [...o.alpn] : undefined,
  };
}

/** Server-side STARTTLS: wraps the accepted socket and waits for the handshake. */
function serverUpgrade(socket: net.Socket, o: RawTlsServerOptions, label: string): Promise<tls.TLSSocket> {
  const { cert, key, ca, ...rest } = serverTlsOptions(o);
  const secure = new tls.TLSSocket(socket, { isServer: true, secureContext: tls.createSecureContext({ cert, key, ca }), ...rest });
  // A hand-made server TLSSocket does not enforce requestCert by itself.
  return awaitHandshake(secure, "secure", label, () =>
    o.requestCert && !secure.authorized ? toTlsError(secure.authorizationError ?? new Error("no client certificate"), label, true) : undefined,
  );
}

function rawConnect(address: Address, options: RawConnectOptions): Promise<RawSocket> {
  const label = formatAddress(address);
  if (options.tls) return tlsConnect(address, options.tls, options.signal, label);
  return new Promise((resolve, reject) => {
    // The signal is NOT given to net.connect: Node would tie it to the socket for its whole life (an
    // abort listener plus an end-of-stream hook that builds an ERR_STREAM_PREMATURE_CLOSE error at
    // every close), costing ~2.5 KiB per connection and ~20% of the accept rate (bench/). It only
    // matters until the connect completes.
    const common = { allowHalfOpen: true, highWaterMark: DEFAULT_HIGH_WATER_MARK };
    const socket =
      address.transport === "unix"
        ? net.connect({ ...common, path: address.path })
        : net.connect({ ...common, host: address.hostname, port: address.port });
    const { signal } = options;
    const onAbort = (): void => {
      socket.destroy();
      reject(new NetError("ABORT_ERR", "connect aborted", { address: label, cause: signal?.reason }));
    };
    signal?.addEventListener("abort", onAbort, { once: true });
    const onError = (err: Error) => {
      signal?.removeEventListener("abort", onAbort);
      socket.destroy();
      reject(toNetError(err, label));
    };
    socket.once("error", onError);
    socket.once("connect", () => {
      signal?.removeEventListener("abort", onAbort);
      socket.off("error", onError);
      resolve(new NodeSocket(socket, label, address.transport === "unix" ? address.path : undefined));
    });
  });
}

async function tlsConnect(address: Address, o: RawTlsClientOptions, signal: AbortSignal | undefined, label: string): Promise<RawSocket> {
  // As for plain connects, the signal is watched only until the handshake ends, not handed to Node.
  const common = { ...clientTlsOptions(o), allowHalfOpen: true, highWaterMark: DEFAULT_HIGH_WATER_MARK };
  const socket =
    address.transport === "unix" ? tls.connect({ ...common, path: address.path }) : tls.connect({ ...common, host: address.hostname, port: address.port });
  // Errors before the TCP connect (refused, DNS) are plain socket errors, not TLS ones.
  let connected = false;
  socket.once("connect", () => (connected = true));
  const onAbort = (): void => void socket.destroy(new NetError("ABORT_ERR", "connect aborted", { address: label, cause: signal?.reason }));
  signal?.addEventListener("abort", onAbort, { once: true });
  try {
    await handshake(socket, label);
  } catch (error) {
    if (signal?.aborted) throw new NetError("ABORT_ERR", "connect aborted", { address: label, cause: signal.reason });
    const cause = (error as NetError).cause;
    if (!connected && cause !== undefined) throw toNetError(cause, label);
    throw error;
  } finally {
    signal?.removeEventListener("abort", onAbort);
  }
  return new NodeSocket(socket, label, address.transport === "unix" ? address.path : undefined);
}

/** Node gained SO_REUSEPORT in 22.12 and 23.1; older versions ignore the flag silently. */
function reusePortCapability(): Capability {
  const [major = 0, minor = 0] = process.versions.node.split(".").map(Number);
  const has = major > 23 || (major === 23 && minor >= 1) || (major === 22 && minor >= 12);
  return has || `Node ${process.versions.node} has no SO_REUSEPORT (needs 22.12+); use node:cluster`;
}

const capabilities: TransportCapabilities = {
  tls: true,
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
};

function rawListen(options: RawListenOptions, onAccept: (socket: RawSocket) => void): Promise<RawListener> {
  const { address } = options;
  const label = formatAddress(address);
  if (options.reusePort && capabilities.reusePort !== true) return Promise.reject(unsupported("reusePort", capabilities.reusePort));
  if (options.reusePort && address.transport === "unix") {
    return Promise.reject(unsupported("reusePort", "it applies to TCP only"));
  }
  return new Promise((resolve, reject) => {
    const unixPath = address.transport === "unix" ? address.path : undefined;
    const serverOptions = { allowHalfOpen: true, pauseOnConnect: false, highWaterMark: DEFAULT_HIGH_WATER_MARK };
    const accept = (socket: net.Socket) => onAccept(new NodeSocket(socket, label, unixPath));
    // A TLS server hands over sockets after the handshake ('secureConnection'); clients that fail it never reach the handler.
    const server = options.tls
      ? tls.createServer({ ...serverOptions, ...serverTlsOptions(options.tls) }, accept).on("tlsClientError", () => {})
      : net.createServer(serverOptions, accept);
    const onListenError = (err: Error) => reject(toNetError(err, label));
    server.once("error", onListenError);
    const listenOptions: net.ListenOptions & { reusePort?: boolean } =
      address.transport === "unix"
        ? { path: address.path, backlog: options.backlog }
        : { host: address.hostname, port: address.port, backlog: options.backlog, ipv6Only: options.ipv6Only };
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
export const nodeTransport: Transport = { name: "node", capabilities, connect: rawConnect, listen: rawListen };

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
