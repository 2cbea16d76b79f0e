/**
 * wireline: TCP and Unix-socket connections that stay up, with one API on
 * Node, Deno and Bun alike.
 *
 * This is the application API, and every name here is a compatibility
 * promise: the runtime entry points (`wireline`, `wireline/node`,
 * `wireline/deno`, `wireline/bun`, `wireline/memory`) re-export it next to
 * their bound `connect`, `listen` and `reconnecting`. What a transport author
 * needs lives in `wireline/transport`; everything else is internal.
 * `test/public-api.test.ts` pins the list, so adding a name is a deliberate act.
 *
 * @example
 * ```ts
 * import { connect, listen } from "wireline";
 * const server = await listen({ port: 0 }, async (conn) => {
 *   for await (const chunk of conn) await conn.write(chunk);
 * });
 * const conn = await connect({ hostname: "127.0.0.1", port: server.address.transport === "tcp" ? server.address.port : 0 });
 * await conn.write("hello");
 * ```
 *
 * @module
 */

export type { Address, AddressInput, ResolvedAddress, SocketAddress, TcpAddress, UnixAddress } from "./address.ts";
export type { Backoff, BackoffFunction, BackoffOptions, Jitter } from "./reconnecting/backoff.ts";
export type { Codec, FrameDecoder } from "./framing/codec.ts";
export type { ConnectOptions } from "./connect/connect.ts";
export type { CloseOptions, Connection } from "./connection.ts";
export { delimited, type DelimitedOptions } from "./framing/delimited.ts";
export type { Target } from "./connect/endpoints.ts";
export { DIAGNOSTICS_CHANNELS, type DiagnosticsChannelName, type DiagnosticsMessages } from "./observability/diagnostics.ts";
export { NetError, type NetErrorCode } from "./errors.ts";
export type { ByteConnection } from "./framing/byte-connection.ts";
export { framed, type FramedChannel, type FramedOptions } from "./framing/framed.ts";
export { FramingError, type FramingErrorCode } from "./framing/framing-error.ts";
export type { ClientRate, ClientRefusal, PerClientLimit } from "./server/client-admission.ts";
export type { Lookup } from "./connect/happy-eyeballs.ts";
export type { HeartbeatOptions } from "./liveness/heartbeat.ts";
export type { IdleEvent, IdleKind, IdleTimeoutOptions } from "./liveness/idle-timeout.ts";
export { lengthPrefixed, type LengthPrefixedOptions } from "./framing/length-prefixed.ts";
export { lines, text } from "./framing/lines.ts";
export { createNet, type Net } from "./net.ts";
export type { OfflineQueueOptions, OverflowPolicy } from "./reconnecting/offline-queue.ts";
export type { SocketOptions } from "./options.ts";
export type { ReconnectingStats } from "./reconnecting/client-observer.ts";
export type { ReconnectingClient } from "./reconnecting/client.ts";
export type { ReconnectingEvents, ReconnectingState } from "./reconnecting/events.ts";
export type { ReconnectingOptions, WriteOptions } from "./reconnecting/options.ts";
export type { ReconnectingChannel, RequestChannel, SingleChannel } from "./requester/channel.ts";
export {
  requester,
  type Requester,
  type RequesterEvents,
  type RequesterOptions,
  type RequesterStats,
  type RequestMatch,
  type RequestOptions,
} from "./requester/requester.ts";
export { resp, RespError, RespSimpleString, type RespOptions, type RespValue } from "./framing/resp.ts";
export type {
  ProxiedProtocol,
  ProxyEndpoint,
  ProxyHeader,
  ProxyHeaderOptions,
  ProxyInfo,
  ProxyProtocolOptions,
  ProxySslInfo,
  ProxyTlv,
  ProxyTlvs,
} from "./proxy-protocol/types.ts";
export type { MinReceiveRate } from "./server/receive-rate.ts";
export type { ServerStats } from "./server/server-stats.ts";
export type { SessionEvent, SessionLostEvent } from "./session/client-session.ts";
export type { ServerSession, SessionContext, SessionHandler, SessionStats } from "./session/server-sessions.ts";
export type { SessionClientOptions, SessionServerOptions, SessionWindowOptions } from "./session/session-options.ts";
export type {
  ConnectionContext,
  ConnectionContextEvents,
  ConnectionFilter,
  ConnectionHandler,
  ListenOptions,
  Server,
  ServerCloseOptions,
  ServerEvents,
} from "./server/server.ts";
export type { RefusedReason } from "./refused-reason.ts";
export type { PeerCertificate, StartTlsOptions, TlsClientOptions, TlsInfo, TlsServerOptions } from "./tls.ts";
export type { Transport, UnsentWrites } from "./transport.ts";
export type { TypedEvent, TypedEventTarget, TypedListener, TypedListenerOptions } from "./typed-events.ts";
