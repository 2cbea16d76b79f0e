/**
 * What a reconnecting client tells its user: its state and its events.
 *
 * @module
 */

import type { Address } from "../address.ts";
import type { NetError } from "../errors.ts";
import type { SessionEvent, SessionLostEvent } from "../session/client-session.ts";

/**
 * `connecting` (first attempt) → `open` → `reconnecting` (waiting for, or
 * making, another attempt after any failure) → `open` … → `closed` (for good).
 * `onConnect` runs while the state is still `connecting` or `reconnecting`.
 *
 * @example
 * ```ts
 * import { reconnecting } from "wireline";
 * const client = reconnecting("127.0.0.1:7000");
 * console.log(client.state); // "connecting"
 * await client.opened;
 * console.log(client.state); // "open"
 * ```
 */
export type ReconnectingState = "connecting" | "open" | "reconnecting" | "closed";

/**
 * The events of a reconnecting client, by name, with their payloads.
 *
 * @example
 * ```ts
 * import { reconnecting } from "wireline";
 * const client = reconnecting("127.0.0.1:7000");
 * client.on("drop", ({ count, bytes, resolved, reason }) =>
 *   console.warn(`${count} writes (${bytes} bytes) lost${resolved ? " after they resolved" : ""}: ${reason.code}`));
 * client.on("close", ({ error }) => console.log("closed", error?.message));
 * ```
 */
export interface ReconnectingEvents {
  /** A connection is up and `onConnect` succeeded; queued writes flush next. */
  open: { readonly endpoint: Address };
  /** The client closed for good: `error` is undefined after `close()`, else why it gave up. */
  close: { readonly error: NetError | undefined };
  /** The client will try again after `delay` ms; `attempt` counts failures since the last stable connection. */
  reconnecting: { readonly attempt: number; readonly delay: number; readonly error: NetError; readonly endpoint: Address | undefined };
  /**
   * The connection is declared dead and is destroyed with `ERR_STALE_CONNECTION`, then replaced:
   * `reason: "silent"`: nothing arrived for `silentFor` ms (heartbeat);
   * `reason: "write-stall"`: bytes waited to be sent and the peer took none of them for `silentFor` ms (`writeStallTimeout`).
   */
  stale: { readonly endpoint: Address; readonly silentFor: number; readonly reason: "silent" | "write-stall" };
  /** A connect attempt, handshake or connection failed (the client retries or closes; this is for logging). */
  error: NetError;
  /**
   * Writes lost, and why. `resolved: false`: they left the queue unsent
   * (overflow, deadline, disconnect with `offlineQueue: false`, or close) and
   * their promises rejected with `reason`. `resolved: true`: their promises
   * had resolved (they were handed to a connection) but the connection died,
   * with `reason`, before those bytes reached the kernel; they are not resent.
   */
  drop: { readonly count: number; readonly bytes: number; readonly reason: NetError; readonly resolved: boolean };
  /** With `session`: a connection now carries the session, a new one or `resumed`. */
  session: SessionEvent;
  /**
   * With `session`: the server no longer holds the session (it restarted,
   * `ttl` passed, or its handler ended it). Every unconfirmed send was
   * rejected with `ERR_SESSION_LOST`; a new session starts.
   */
  "session-lost": SessionLostEvent;
}
