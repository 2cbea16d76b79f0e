/**
 * Diagnostics channels: wireline publishes what happens to its connections,
 * servers and clients on named channels, the way undici and `node:net` do on
 * `node:diagnostics_channel`. The core knows only the tiny
 * {@link DiagnosticsSink} interface; each runtime adapter plugs in its
 * runtime's `diagnostics_channel` once, at import.
 *
 * Nothing is built or published while a channel has no subscriber: every
 * publishing site reads `hasSubscribers` first. Events are per connection,
 * attempt or request, never per chunk.
 *
 * @module
 */

import type { NetError } from "../errors.ts";
import type { RefusedReason } from "../refused-reason.ts";
import type { SocketAddress } from "../address.ts";

/** One named channel, as `node:diagnostics_channel`'s `Channel` provides it. */
export interface DiagnosticsChannel {
  /** False while nobody listens: callers skip building the message. */
  readonly hasSubscribers: boolean;
  publish(message: unknown): void;
}

/**
 * Where channels come from. Each adapter supplies the runtime's own
 * (adapters/diagnostics-node.ts); the core only publishes.
 *
 * @example
 * ```ts
 * import { useDiagnosticsSink, type DiagnosticsChannel } from "wireline/transport";
 * declare const runtimeChannel: (name: string) => DiagnosticsChannel;
 * useDiagnosticsSink({ channel: runtimeChannel });
 * ```
 */
export interface DiagnosticsSink {
  channel(name: string): DiagnosticsChannel;
}

/**
 * The channel names wireline publishes on, by key. Subscribe with the
 * runtime's `diagnostics_channel` module (available on Node, Deno and Bun).
 *
 * @example
 * ```ts
 * import { DIAGNOSTICS_CHANNELS } from "wireline";
 * declare const subscribe: (name: string, listener: (message: unknown) => void) => void;
 * subscribe(DIAGNOSTICS_CHANNELS.connectError, (message) => console.warn(message));
 * ```
 */
export const DIAGNOSTICS_CHANNELS: {
  readonly connectStart: "wireline:connect:start";
  readonly connectEnd: "wireline:connect:end";
  readonly connectError: "wireline:connect:error";
  readonly tlsHandshake: "wireline:tls:handshake";
  readonly serverAccept: "wireline:server:accept";
  readonly serverRefuse: "wireline:server:refuse";
  readonly serverFilter: "wireline:server:filter";
  readonly reconnectAttempt: "wireline:reconnect:attempt";
  readonly reconnectBackoff: "wireline:reconnect:backoff";
  readonly reconnectOpen: "wireline:reconnect:open";
  readonly reconnectStale: "wireline:reconnect:stale";
  readonly queueDrop: "wireline:queue:drop";
  readonly requestTimeout: "wireline:request:timeout";
} = Object.freeze({
  connectStart: "wireline:connect:start",
  connectEnd: "wireline:connect:end",
  connectError: "wireline:connect:error",
  tlsHandshake: "wireline:tls:handshake",
  serverAccept: "wireline:server:accept",
  serverRefuse: "wireline:server:refuse",
  serverFilter: "wireline:server:filter",
  reconnectAttempt: "wireline:reconnect:attempt",
  reconnectBackoff: "wireline:reconnect:backoff",
  reconnectOpen: "wireline:reconnect:open",
  reconnectStale: "wireline:reconnect:stale",
  queueDrop: "wireline:queue:drop",
  requestTimeout: "wireline:request:timeout",
} as const);

/** The message of each channel, by channel name. */
export interface DiagnosticsMessages {
  /** `connect()` started (also each attempt of a reconnecting client). `id` pairs it with its end or error. */
  "wireline:connect:start": { readonly id: number; readonly address: string; readonly transport: string };
  /** The connection is open (TLS: handshake done). `duration` in ms since the start. */
  "wireline:connect:end": {
    readonly id: number;
    readonly address: string;
    readonly transport: string;
    readonly duration: number;
    readonly localAddress: SocketAddress | undefined;
    readonly remoteAddress: SocketAddress | undefined;
    readonly tls: boolean;
  };
  /** `connect()` failed; `duration` in ms since the start. */
  "wireline:connect:error": { readonly id: number; readonly address: string; readonly transport: string; readonly duration: number; readonly error: NetError };
  /**
   * A TLS handshake finished or failed. `side: "client"`: the connect's whole
   * duration (the runtimes handshake inside connect). `side: "server"`: from
   * accept to the end of the handshake. `address` is the peer's.
   */
  "wireline:tls:handshake": {
    readonly side: "client" | "server";
    readonly address: string;
    readonly duration: number;
    readonly tlsVersion: string | undefined;
    readonly alpnProtocol: string | undefined;
    readonly error: NetError | undefined;
  };
  /** A server accepted a socket (before its TLS handshake, limits and filter). `server` is its listening address. */
  "wireline:server:accept": { readonly server: string; readonly remoteAddress: SocketAddress | undefined };
  /** A server closed a connection unserved (the `refused` event). */
  "wireline:server:refuse": { readonly server: string; readonly remoteAddress: SocketAddress | undefined; readonly reason: RefusedReason };
  /** A server's filter rejected a connection: it said no, threw (`error`) or timed out (`error`, ETIMEDOUT). */
  "wireline:server:filter": { readonly server: string; readonly remoteAddress: SocketAddress | undefined; readonly error: NetError | undefined };
  /** A reconnecting client dials `endpoint`; `attempt` counts attempts since the client was created, from 1. */
  "wireline:reconnect:attempt": { readonly target: string; readonly endpoint: string; readonly attempt: number };
  /**
   * A reconnecting client's attempt or connection failed with `error`; it
   * tries again in `delay` ms. `attempt` counts failures since the last stable connection.
   */
  "wireline:reconnect:backoff": { readonly target: string; readonly endpoint: string | undefined; readonly attempt: number; readonly delay: number; readonly error: NetError };
  /** A reconnecting client's connection is up (`onConnect` done). `connects` counts them since creation. */
  "wireline:reconnect:open": { readonly target: string; readonly endpoint: string; readonly connects: number };
  /** A reconnecting client declared its connection dead (heartbeat silence or a write stall). */
  "wireline:reconnect:stale": { readonly target: string; readonly endpoint: string; readonly silentFor: number; readonly reason: "silent" | "write-stall" };
  /** Writes a reconnecting client lost (its `drop` event): `resolved` as in that event. */
  "wireline:queue:drop": { readonly target: string; readonly count: number; readonly bytes: number; readonly reason: NetError; readonly resolved: boolean };
  /** A requester's request got no reply within `timeout` ms (ERR_REPLY_TIMEOUT); `sent`: it had been written. */
  "wireline:request:timeout": { readonly timeout: number; readonly sent: boolean };
}

/** Any channel name wireline publishes on. */
export type DiagnosticsChannelName = keyof DiagnosticsMessages;

const SILENT: DiagnosticsChannel = Object.freeze({ hasSubscribers: false, publish() {} });

/** A channel of the core, bound to the sink's channel of the same name once a sink is installed. */
class BoundChannel<M> {
  readonly name: string;
  target: DiagnosticsChannel = SILENT;

  constructor(name: string) {
    this.name = name;
  }

  get hasSubscribers(): boolean {
    return this.target.hasSubscribers;
  }

  publish(message: M): void {
    this.target.publish(message);
  }
}

/** A typed channel: read `hasSubscribers` before building the message. */
export interface WirelineChannel<M> {
  readonly hasSubscribers: boolean;
  publish(message: M): void;
}

type Channels = { readonly [K in keyof typeof DIAGNOSTICS_CHANNELS]: WirelineChannel<DiagnosticsMessages[(typeof DIAGNOSTICS_CHANNELS)[K]]> };

const bound: BoundChannel<never>[] = Object.values(DIAGNOSTICS_CHANNELS).map((name) => new BoundChannel<never>(name));

/**
 * The core's channels, by key (internal: publishing sites use it).
 *
 * @example
 * ```ts
 * import { channels } from "./diagnostics.ts";
 * if (channels.requestTimeout.hasSubscribers) channels.requestTimeout.publish({ timeout: 500, sent: true });
 * ```
 */
export const channels: Channels = Object.freeze(
  Object.fromEntries(Object.keys(DIAGNOSTICS_CHANNELS).map((key, i) => [key, bound[i]])),
) as unknown as Channels;

/**
 * Plugs a runtime's channels in: every wireline channel publishes through
 * `sink` from now on. Adapters call it at import; calling it again replaces
 * the sink (the runtimes' channels are global by name, so two copies of
 * wireline share their subscribers).
 *
 * @example
 * ```ts
 * import { useDiagnosticsSink, type DiagnosticsChannel } from "wireline/transport";
 * declare const runtimeChannel: (name: string) => DiagnosticsChannel;
 * useDiagnosticsSink({ channel: runtimeChannel });
 * ```
 */
export function useDiagnosticsSink(sink: DiagnosticsSink): void {
  for (const channel of bound) channel.target = sink.channel(channel.name);
}

let nextConnectId = 1;

/**
 * A fresh id pairing a `wireline:connect:start` with its end or error.
 *
 * @example
 * ```ts
 * import { connectId } from "./diagnostics.ts";
 * const id = connectId();
 * ```
 */
export function connectId(): number {
  return nextConnectId++;
}
