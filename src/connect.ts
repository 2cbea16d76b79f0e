/**
 * Opening client connections, with a connect timeout and AbortSignal that work
 * the same on every runtime (Bun and Deno lack one or both natively).
 *
 * @module
 */

import { formatAddress, parseAddress, type AddressInput } from "./address.ts";
import { Connection } from "./connection.ts";
import { invalidOption, NetError, toNetError } from "./errors.ts";
import { applySocketOptions, checkMillis, checkSocketOptions, type SocketOptions } from "./options.ts";
import { checkTlsClientOptions, type RawTlsClientOptions, type TlsClientOptions } from "./tls.ts";
import type { RawSocket, Transport } from "./transport.ts";

/**
 * Default connect timeout, in ms (10 s), TLS handshake included.
 *
 * @example
 * ```ts
 * import { connect, DEFAULT_CONNECT_TIMEOUT } from "wireline";
 * const conn = await connect("127.0.0.1:6379", { timeout: DEFAULT_CONNECT_TIMEOUT / 2 });
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
}

/**
 * Opens a connection through `transport`. Most users call the bound
 * `connect()` from `wireline`; this form is for custom transports.
 *
 * @example
 * ```ts
 * import { connectWith } from "wireline";
 * import { memoryTransport } from "wireline/memory";
 * const conn = await connectWith(memoryTransport, "localhost:7000", { timeout: 1000 });
 * ```
 */
export async function connectWith(transport: Transport, input: AddressInput, options: ConnectOptions = {}): Promise<Connection> {
  const address = parseAddress(input);
  const label = formatAddress(address);
  checkSocketOptions(options, transport);
  const timeout = checkMillis("timeout", options.timeout) ?? DEFAULT_CONNECT_TIMEOUT;
  const { signal } = options;
  if (signal !== undefined && !(signal instanceof AbortSignal)) throw invalidOption("signal", signal, "an AbortSignal");
  let tls: RawTlsClientOptions | undefined;
  if (options.tls !== undefined && (options.tls as unknown) !== false) {
    tls = checkTlsClientOptions(options.tls, address.transport === "tcp" ? address.hostname : undefined);
  }
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
  const attempt = transport.connect(address, tls ? { signal: controller.signal, tls } : { signal: controller.signal });
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
  try {
    applySocketOptions(raw, options, address.transport === "tcp");
  } catch (error) {
    raw.destroy();
    throw toNetError(error, label);
  }
  return new Connection(raw, label, {
    allowHalfOpen: options.allowHalfOpen,
    borrowedChunks: options.borrowedChunks,
    serverName: address.transport === "tcp" ? address.hostname : undefined,
  });
}
