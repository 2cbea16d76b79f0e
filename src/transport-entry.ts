/**
 * `wireline/transport`: everything needed to write a transport (a runtime
 * adapter) for wireline, and nothing an application needs.
 *
 * An adapter implements one {@link SocketDriver} per socket (moving bytes and
 * reporting what its runtime saw), or, for a runtime whose reads fill a buffer
 * the caller passes, hands its sockets to {@link PullDriver} with a
 * {@link PullRuntime}; it wraps each driver into the core's socket with
 * {@link createRawSocket}, declares once what it can do in
 * {@link TransportCapabilities} (the core refuses the rest with
 * ERR_UNSUPPORTED before any socket exists), and hands the resulting
 * {@link Transport} to {@link createNet} to get `connect`, `listen` and
 * `reconnecting`. Its `connect` only starts the runtime's connect, reports how
 * it ended to a {@link ConnectSink} and returns a {@link CancelConnect}: the
 * timeout, the AbortSignal and the error of an attempt given up are the
 * core's, the same on every transport. Errors it reports are {@link NetError}s: {@link toNetError}
 * normalises runtime errors, {@link toTlsError} classifies TLS failures.
 *
 * @example
 * ```ts
 * import { createNet, type Transport, type TransportCapabilities } from "wireline/transport";
 * declare const connect: Transport["connect"], listen: Transport["listen"];
 * const capabilities: TransportCapabilities = {
 *   tls: "no TLS in this runtime", tlsOverUnix: "no TLS in this runtime", skipVerification: "no TLS in this runtime",
 *   clientCertificate: "no TLS in this runtime", requestCert: "no TLS in this runtime",
 *   clientStartTls: "no TLS in this runtime", serverStartTls: "no TLS in this runtime",
 *   keepAliveDelay: true, reusePort: "no SO_REUSEPORT", ipv6Only: true, backlog: true, unixBacklog: true,
 * };
 * const net = createNet({ name: "mine", capabilities, connect, listen });
 * ```
 *
 * @module
 */

export { formatAddress, parseAddress, type Address, type AddressInput, type TcpAddress, type UnixAddress } from "./address.ts";
export { realClock, type Clock, type TimerHandle } from "./timers/clock.ts";
export { useDiagnosticsSink, type DiagnosticsChannel, type DiagnosticsSink } from "./observability/diagnostics.ts";
export { useTimerRefHooks, type TimerRefHooks } from "./timers/event-loop-ref.ts";
export { invalidOption, NetError, toNetError, unsupported, type NetErrorCode } from "./errors.ts";
export { createNet, type Net } from "./net.ts";
export type { DriverSink, SocketDriver } from "./socket/driver.ts";
export { createRawSocket, type KernelOptions } from "./socket/socket.ts";
export { PullDriver, type PullRuntime, type PullSocket, type PullUpgradeState } from "./socket/pull-driver.ts";
export { toTlsError, type PeerCertificate, type RawStartTlsOptions, type RawTlsClientOptions, type RawTlsServerOptions, type TlsInfo } from "./tls.ts";
export type { CancelConnect, Capability, ConnectSink, RawConnectOptions, RawHandlers, RawListener, RawListenOptions, RawSocket, Transport, TransportCapabilities } from "./transport.ts";
export type { SocketAddress } from "./address.ts";
