/**
 * Opening client connections, with a connect timeout and AbortSignal that work
 * the same on every runtime (Bun and Deno lack one or both natively).
 *
 * @module
 */

import { formatAddress, parseAddress, type AddressInput } from "./address.ts";
import { checkConnectCapabilities, checkStartTlsCapabilities } from "./capabilities.ts";
import { Connection } from "./connection.ts";
import { invalidOption, NetError, toNetError } from "./errors.ts";
import { applySocketOptions, checkKnownKeys, checkMillis, checkSocketOptions, type SocketOptions } from "./options.ts";
import { encodeProxyHeader } from "./proxy-protocol/encode.ts";
import type { ProxyHeaderOptions } from "./proxy-protocol/types.ts";
import { checkTlsClientOptions, type RawTlsClientOptions, type TlsClientOptions } from "./tls.ts";
import type { RawSocket, Transport } from "./transport.ts";

/**
 * Default connect timeout, in ms (10 s), TLS handshake included.
 *
 * @example
 * ```ts
 * import { DEFAULT_CONNECT_TIMEOUT } from "./connect.ts";
 * console.log(DEFAULT_CONNECT_TIMEOUT); // 10000
 * ```
 */
export const DEFAULT_CONNECT_TIMEOUT: number = 10_000;

/** Options for `connect()`. */
export interface ConnectOptions extends SocketOptions {
  /** Connect timeout in ms; rejects with ETIMEDOUT. Default 10 000; 0 or Infinity disables it. */
  timeout?: number;
  /** Aborts the connect attempt (rejects with ABORT_ERR). */
  signal?: AbortSignal;
  /**
   * Connect over TLS: `true` verifies against the runtime's default roots with
   * the host name dialled, an object customises it. A refused certificate
   * rejects with ERR_TLS_CERT; the connect timeout covers the handshake.
   */
  tls?: true | TlsClientOptions;
  /**
   * Send this PROXY protocol header (v1 or v2) first, before any write and
   * before TLS: for balancers and proxies written with wireline, in front of
   * servers that expect one. Invalid fields fail with ERR_INVALID_OPTION
   * before dialling. With `tls`, the TLS session starts after the header
   * (this needs client `startTls`).
   */
  proxyHeader?: ProxyHeaderOptions;
}

// `satisfies` makes the compiler flag a key added to the options types but not here.
const CONNECT_OPTION_KEYS: readonly string[] = Object.keys({
  noDelay: true,
  keepAlive: true,
  allowHalfOpen: true,
  borrowedChunks: true,
  maxBufferedBytes: true,
  timeout: true,
  signal: true,
  tls: true,
  proxyHeader: true,
} satisfies Record<keyof ConnectOptions, true>);

const TLS_CLIENT_OPTION_KEYS: readonly string[] = Object.keys({
  serverName: true,
  ca: true,
  cert: true,
  key: true,
  alpn: true,
  rejectUnauthorized: true,
} satisfies Record<keyof TlsClientOptions, true>);

/**
 * Opens a connection through `transport`. Users call `connect()` from
 * `wireline` (or `createNet(transport).connect` for a custom transport).
 * Options are checked once, before any socket exists: unknown keys and values
 * out of range fail with ERR_INVALID_OPTION, options the transport cannot
 * honour with ERR_UNSUPPORTED.
 *
 * @example
 * ```ts
 * import { connectWith } from "./connect.ts";
 * import { memoryTransport } from "../adapters/memory.ts";
 * const conn = await connectWith(memoryTransport, "localhost:7000", { timeout: 1000 });
 * ```
 */
export async function connectWith(transport: Transport, input: AddressInput, options: ConnectOptions = {}): Promise<Connection> {
  const address = parseAddress(input);
  const label = formatAddress(address);
  if (typeof options !== "object" || options === null) throw invalidOption("options", options, "an object");
  checkKnownKeys(options, CONNECT_OPTION_KEYS);
  checkSocketOptions(options, transport);
  const timeout = checkMillis("timeout", options.timeout) ?? DEFAULT_CONNECT_TIMEOUT;
  const { signal } = options;
  if (signal !== undefined && !(signal instanceof AbortSignal)) throw invalidOption("signal", signal, "an AbortSignal");
  let tls: RawTlsClientOptions | undefined;
  if (options.tls !== undefined && (options.tls as unknown) !== false) {
    if (typeof options.tls === "object" && options.tls !== null) checkKnownKeys(options.tls, TLS_CLIENT_OPTION_KEYS, "tls");
    tls = checkTlsClientOptions(options.tls, address.transport === "tcp" ? address.hostname : undefined);
  }
  checkConnectCapabilities(transport.capabilities, address, tls);
  const proxyHeader = options.proxyHeader === undefined ? undefined : encodeProxyHeader(options.proxyHeader);
  if (proxyHeader && tls) checkStartTlsCapabilities(transport.capabilities, { isServer: false, client: tls }, address.transport === "unix");
  if (signal?.aborted) throw new NetError("ABORT_ERR", "connect aborted before it started", { address: label, cause: signal.reason });

  const controller = new AbortController();
  let timer: ReturnType<typeof setTimeout> | undefined;
  let onAbort: (() => void) | undefined;
  // The race below is what enforces timeout and abort; the signal passed down only lets an adapter stop early.
  const aborted = new Promise<never>((_, reject) => {
    const fail = (error: NetError) => {
      controller.abort(error);
      reject(error);
    };
    if (timeout > 0 && timeout !== Infinity) {
      timer = setTimeout(() => fail(new NetError("ETIMEDOUT", `connect timed out after ${timeout} ms`, { address: label })), timeout);
    }
    if (signal) {
      onAbort = () => fail(new NetError("ABORT_ERR", "connect aborted", { address: label, cause: signal.reason }));
      signal.addEventListener("abort", onAbort, { once: true });
    }
  });
  aborted.catch(() => {});
  const attempt = proxyHeader && tls
    ? tlsAfterProxyHeader(transport.connect(address, { signal: controller.signal }), proxyHeader, tls, controller.signal)
    : transport.connect(address, tls ? { signal: controller.signal, tls } : { signal: controller.signal });
  let raw: RawSocket;
  try {
    raw = await Promise.race([attempt, aborted]);
  } catch (error) {
    // A socket that opens after we gave up must not leak.
    attempt.then((late) => late.destroy(), () => {});
    throw controller.signal.aborted ? controller.signal.reason : toNetError(error, label);
  } finally {
    clearTimeout(timer);
    if (onAbort) signal!.removeEventListener("abort", onAbort);
  }
  // The header's bytes are the first on the wire: nothing else can have been written yet.
  if (proxyHeader && !tls) raw.write(proxyHeader);
  try {
    applySocketOptions(raw, options, address.transport === "tcp");
  } catch (error) {
    raw.destroy();
    throw toNetError(error, label);
  }
  return new Connection(raw, label, {
    allowHalfOpen: options.allowHalfOpen,
    borrowedChunks: options.borrowedChunks,
    maxBufferedBytes: options.maxBufferedBytes,
    capabilities: transport.capabilities,
    serverName: address.transport === "tcp" ? address.hostname : undefined,
  });
}

/** Sends the PROXY header in plain text, then starts TLS on the same socket; an abort destroys whatever is open. */
async function tlsAfterProxyHeader(attempt: Promise<RawSocket>, header: Uint8Array, tls: RawTlsClientOptions, signal: AbortSignal): Promise<RawSocket> {
  const plain = await attempt;
  if (signal.aborted) {
    plain.destroy();
    throw signal.reason;
  }
  const onAbort = () => plain.destroy();
  signal.addEventListener("abort", onAbort, { once: true });
  try {
    plain.write(header);
    if (!plain.startTls) throw new NetError("ERR_UNSUPPORTED", "proxyHeader with tls needs startTls, which this transport's sockets lack");
    return await plain.startTls({ isServer: false, client: tls });
  } catch (error) {
    plain.destroy();
    throw error;
  } finally {
    signal.removeEventListener("abort", onAbort);
  }
}
