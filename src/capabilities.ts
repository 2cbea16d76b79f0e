/**
 * The one place where options are checked against what a transport declared
 * it can do ({@link TransportCapabilities}), before any socket exists. An
 * option the transport cannot honour fails with ERR_UNSUPPORTED carrying the
 * adapter's own reason; it is never ignored, and never reaches the adapter.
 *
 * @module
 */

import type { Address } from "./address.ts";
import { unsupported } from "./errors.ts";
import type { RawStartTlsOptions, RawTlsClientOptions } from "./tls.ts";
import type { Capability, TransportCapabilities } from "./transport.ts";

/** The parts of a listen request that depend on a capability (`ListenOptions` fits). */
export interface ListenRequest {
  /** Set for a Unix-socket listener. */
  readonly path?: string;
  readonly backlog?: number;
  readonly reusePort?: boolean;
  readonly ipv6Only?: boolean;
  readonly tls?: { readonly requestCert?: boolean };
  readonly proxyProtocol?: unknown;
}

function need(capability: Capability, feature: string): void {
  if (capability !== true) throw unsupported(feature, capability);
}

/**
 * Refuses a numeric `keepAlive` (a probe delay) on a transport that can only
 * turn keep-alive on. `checkSocketOptions` calls it for clients, servers and
 * reconnecting clients alike.
 *
 * @example
 * ```ts
 * import { checkKeepAliveCapability } from "./capabilities.ts";
 * import type { TransportCapabilities } from "./transport.ts";
 * declare const caps: TransportCapabilities;
 * checkKeepAliveCapability(caps, 30_000); // ERR_UNSUPPORTED where caps.keepAliveDelay is a reason
 * ```
 */
export function checkKeepAliveCapability(capabilities: TransportCapabilities, keepAlive: boolean | number | undefined): void {
  if (typeof keepAlive === "number") need(capabilities.keepAliveDelay, "keepAlive with a delay (a number)");
}

/**
 * Checks validated client TLS options against the transport's capabilities:
 * TLS, TLS over a Unix socket, `rejectUnauthorized: false`, a client
 * certificate. (A keep-alive delay is checked with the socket options.)
 *
 * @example
 * ```ts
 * import { checkConnectCapabilities } from "./capabilities.ts";
 * import type { RawTlsClientOptions } from "./tls.ts";
 * import type { TransportCapabilities } from "./transport.ts";
 * declare const caps: TransportCapabilities;
 * declare const tls: RawTlsClientOptions;
 * checkConnectCapabilities(caps, { transport: "unix", path: "/run/db.sock" }, tls); // needs caps.tlsOverUnix
 * ```
 */
export function checkConnectCapabilities(capabilities: TransportCapabilities, address: Address, tls: RawTlsClientOptions | undefined): void {
  if (tls === undefined) return;
  need(capabilities.tls, "TLS");
  if (address.transport === "unix") need(capabilities.tlsOverUnix, "TLS over a Unix socket");
  checkClientTls(capabilities, tls);
}

function checkClientTls(capabilities: TransportCapabilities, tls: RawTlsClientOptions): void {
  if (!tls.rejectUnauthorized) need(capabilities.skipVerification, "tls.rejectUnauthorized: false");
  if (tls.cert !== undefined) need(capabilities.clientCertificate, "a client certificate (tls.cert)");
}

/**
 * Checks validated listen options against the transport's capabilities: TLS,
 * TLS over a Unix socket, `requestCert`, `reusePort`, `ipv6Only`, `backlog`.
 * `reusePort` and `ipv6Only` have no meaning for a Unix socket and are refused
 * there on every transport.
 *
 * @example
 * ```ts
 * import { checkListenCapabilities } from "./capabilities.ts";
 * import type { TransportCapabilities } from "./transport.ts";
 * declare const caps: TransportCapabilities;
 * checkListenCapabilities(caps, { port: 0, reusePort: true }); // ERR_UNSUPPORTED on Node 20
 * ```
 */
export function checkListenCapabilities(capabilities: TransportCapabilities, request: ListenRequest): void {
  const unix = request.path !== undefined;
  if (request.reusePort) {
    if (unix) throw unsupported("reusePort", "it applies to TCP listeners, not Unix sockets");
    need(capabilities.reusePort, "reusePort");
  }
  if (request.ipv6Only) {
    if (unix) throw unsupported("ipv6Only", "it applies to TCP listeners, not Unix sockets");
    need(capabilities.ipv6Only, "ipv6Only");
  }
  if (request.backlog !== undefined) {
    if (unix) need(capabilities.unixBacklog, "backlog on a Unix socket");
    else need(capabilities.backlog, "backlog");
  }
  if (request.tls === undefined) return;
  need(capabilities.tls, "TLS");
  if (unix) need(capabilities.tlsOverUnix, "TLS over a Unix socket");
  if (request.tls.requestCert) need(capabilities.requestCert, "tls.requestCert (mutual TLS)");
  if (request.proxyProtocol !== undefined && request.proxyProtocol !== false) {
    need(capabilities.proxyProtocolWithTls, "proxyProtocol with tls");
  }
}

/**
 * Checks a validated `startTls()` request against the capabilities of the
 * transport the connection came from, before the connection is touched: an
 * unsupported upgrade leaves it as it was.
 *
 * @example
 * ```ts
 * import { checkStartTlsCapabilities } from "./capabilities.ts";
 * import type { TransportCapabilities } from "./transport.ts";
 * declare const caps: TransportCapabilities;
 * declare const cert: string, key: string;
 * checkStartTlsCapabilities(caps, { isServer: true, server: { cert, key, alpn: undefined, requestCert: false, ca: undefined } }, false);
 * ```
 */
export function checkStartTlsCapabilities(capabilities: TransportCapabilities, options: RawStartTlsOptions, overUnix: boolean): void {
  need(capabilities.tls, "TLS");
  if (options.isServer) {
    need(capabilities.serverStartTls, "server-side startTls");
    if (options.server.requestCert) need(capabilities.requestCert, "requestCert (mutual TLS)");
  } else {
    need(capabilities.clientStartTls, "startTls");
    checkClientTls(capabilities, options.client);
  }
  if (overUnix) need(capabilities.tlsOverUnix, "TLS over a Unix socket");
}

/**
 * Refuses `localAddress` on a transport that cannot bind a client socket
 * before connecting, and on a Unix socket, where it has no meaning.
 *
 * @example
 * ```ts
 * import { checkLocalAddressCapability } from "./capabilities.ts";
 * import type { TransportCapabilities } from "./transport.ts";
 * declare const caps: TransportCapabilities;
 * checkLocalAddressCapability(caps, { transport: "tcp", hostname: "db", port: 5432 }); // ERR_UNSUPPORTED on Deno
 * ```
 */
export function checkLocalAddressCapability(capabilities: TransportCapabilities, address: Address): void {
  if (address.transport === "unix") throw unsupported("localAddress", "it applies to TCP connections, not Unix sockets");
  need(capabilities.localAddress, "localAddress");
}
