/**
 * What a requester talks through: a `framed()` channel (one connection) or a
 * reconnecting client with a codec (a connection that is replaced).
 *
 * @module
 */

import type { NetError } from "../errors.ts";

/**
 * The part of a reconnecting client with a codec that a requester uses:
 * `ReconnectingClient<T>` satisfies it.
 *
 * @example
 * ```ts
 * import { reconnecting, requester, resp } from "wireline";
 * const client = reconnecting("127.0.0.1:6379", { codec: resp() });
 * const redis = requester(client, { match: "fifo", resend: true });
 * ```
 */
export interface ReconnectingChannel<T> extends AsyncIterable<T> {
  readonly state: "connecting" | "open" | "reconnecting" | "closed";
  send(frame: T): Promise<void>;
  on(type: "open", listener: (detail: unknown) => void): () => void;
  on(type: "error", listener: (detail: NetError) => void): () => void;
  on(type: "close", listener: (detail: { readonly error: NetError | undefined }) => void): () => void;
  close(): Promise<void>;
  readonly closed: Promise<unknown>;
}

/**
 * The part of a `framed()` channel that a requester uses.
 *
 * @example
 * ```ts
 * import { connect, framed, requester, resp } from "wireline";
 * const redis = requester(framed(await connect("127.0.0.1:6379"), resp()), { match: "fifo" });
 * ```
 */
export interface SingleChannel<T> extends AsyncIterable<T> {
  send(frame: T): Promise<void>;
  close(): Promise<void>;
  readonly closed: Promise<unknown>;
}

/**
 * A `framed()` channel or a reconnecting client with a codec.
 *
 * @example
 * ```ts
 * import type { RequestChannel } from "wireline";
 * function label(channel: RequestChannel<unknown>): string {
 *   return "state" in channel ? "reconnecting" : "single connection";
 * }
 * ```
 */
export type RequestChannel<T> = SingleChannel<T> | ReconnectingChannel<T>;

/** Whether `channel` replaces its connection (and reports it through events). */
export function isReconnecting<T>(channel: RequestChannel<T>): channel is ReconnectingChannel<T> {
  return "state" in channel && typeof (channel as { on?: unknown }).on === "function";
}
