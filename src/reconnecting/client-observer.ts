/**
 * What the owner of a reconnecting client sees from outside: its counters
 * (`client.stats`), its diagnostics-channel events, and whether its
 * connections keep the process alive (`client.unref()`).
 *
 * @module
 */

import { formatAddress, type Address } from "../address.ts";
import type { Connection } from "../connection.ts";
import { channels } from "../observability/diagnostics.ts";
import type { NetError } from "../errors.ts";
import type { TypedEventTarget } from "../typed-events.ts";
import type { ReconnectingEvents, ReconnectingState } from "./events.ts";

/**
 * Counters of a reconnecting client since it was created (`client.stats`).
 *
 * @example
 * ```ts
 * import { reconnecting } from "wireline";
 * const client = reconnecting("127.0.0.1:6379");
 * const { attempts, connects, disconnects, droppedWrites } = client.stats;
 * console.log(`${attempts} attempts, ${connects} connects, ${disconnects} lost, ${droppedWrites} writes dropped`);
 * ```
 */
export interface ReconnectingStats {
  readonly state: ReconnectingState;
  /** Connect attempts started (each endpoint dialled). */
  readonly attempts: number;
  /** Connections that opened (`open` events). */
  readonly connects: number;
  /** Open connections that were lost while the client was not closed. */
  readonly disconnects: number;
  /** Retries scheduled after a failed attempt or a lost connection (`reconnecting` events). */
  readonly retries: number;
  /** Connections declared stale (`stale` events). */
  readonly staleConnections: number;
  /** Bytes received and written, over every connection. */
  readonly bytesRead: number;
  readonly bytesWritten: number;
  /** Writes and bytes waiting in the offline queue now. */
  readonly queuedWrites: number;
  readonly queuedBytes: number;
  /** Writes and bytes lost (`drop` events). */
  readonly droppedWrites: number;
  readonly droppedBytes: number;
  /** The last failure of an attempt or connection, if any. */
  readonly lastError: NetError | undefined;
}

/** The client's live state the observer reads when asked for stats. */
export interface ObservedClient {
  readonly state: ReconnectingState;
  readonly queuedWrites: number;
  readonly queuedBytes: number;
}

/**
 * Counts a client's events and publishes them on the diagnostics channels.
 * It listens to the client's own events; the client tells it of attempts and
 * of each connection it serves.
 *
 * @example
 * ```ts
 * import { ClientObserver } from "./client-observer.ts";
 * declare const client: import("./client.ts").ReconnectingClient;
 * const observer = new ClientObserver(client, "127.0.0.1:7000");
 * console.log(observer.stats(client).attempts);
 * ```
 */
export class ClientObserver {
  readonly #target: string;
  #attempts = 0;
  #connects = 0;
  #disconnects = 0;
  #retries = 0;
  #stale = 0;
  #droppedWrites = 0;
  #droppedBytes = 0;
  #lastError: NetError | undefined;
  /** Bytes of the connections that are gone. */
  #bytesRead = 0;
  #bytesWritten = 0;
  #current: Connection | undefined;
  #referenced = true;

  constructor(client: TypedEventTarget<ReconnectingEvents>, target: string) {
    this.#target = target;
    client.on("error", (error) => (this.#lastError = error));
    client.on("open", ({ endpoint }) => {
      this.#connects++;
      const channel = channels.reconnectOpen;
      if (channel.hasSubscribers) channel.publish({ target, endpoint: formatAddress(endpoint), connects: this.#connects });
    });
    client.on("reconnecting", ({ attempt, delay, error, endpoint }) => {
      this.#retries++;
      this.#lastError = error;
      const channel = channels.reconnectBackoff;
      if (channel.hasSubscribers) channel.publish({ target, endpoint: endpoint && formatAddress(endpoint), attempt, delay, error });
    });
    client.on("stale", ({ endpoint, silentFor, reason }) => {
      this.#stale++;
      const channel = channels.reconnectStale;
      if (channel.hasSubscribers) channel.publish({ target, endpoint: formatAddress(endpoint), silentFor, reason });
    });
    client.on("drop", ({ count, bytes, reason, resolved }) => {
      this.#droppedWrites += count;
      this.#droppedBytes += bytes;
      const channel = channels.queueDrop;
      if (channel.hasSubscribers) channel.publish({ target, count, bytes, reason, resolved });
    });
  }

  /** An attempt dials `endpoint`. */
  attempting(endpoint: Address): void {
    this.#attempts++;
    const channel = channels.reconnectAttempt;
    if (channel.hasSubscribers) channel.publish({ target: this.#target, endpoint: formatAddress(endpoint), attempt: this.#attempts });
  }

  /** `conn` is served until `served` settles; returns `served`. */
  serving(conn: Connection, served: Promise<NetError>, client: ObservedClient): Promise<NetError> {
    this.#current = conn;
    if (!this.#referenced) conn.unref();
    return served.then((error) => {
      this.#current = undefined;
      this.#bytesRead += conn.bytesRead;
      this.#bytesWritten += conn.bytesWritten;
      if (client.state !== "closed") this.#disconnects++;
      return error;
    });
  }

  /** Whether the client's connections keep the process alive. */
  get referenced(): boolean {
    return this.#referenced;
  }

  /** Lets the current and later connections stop (or go back to) keeping the process alive. */
  setReferenced(referenced: boolean): void {
    this.#referenced = referenced;
    const conn = this.#current;
    if (conn && !conn.isClosed) {
      if (referenced) conn.ref();
      else conn.unref();
    }
  }

  /** A snapshot of the counters. */
  stats(client: ObservedClient): ReconnectingStats {
    const current = this.#current;
    return {
      state: client.state,
      attempts: this.#attempts,
      connects: this.#connects,
      disconnects: this.#disconnects,
      retries: this.#retries,
      staleConnections: this.#stale,
      bytesRead: this.#bytesRead + (current?.bytesRead ?? 0),
      bytesWritten: this.#bytesWritten + (current?.bytesWritten ?? 0),
      queuedWrites: client.queuedWrites,
      queuedBytes: client.queuedBytes,
      droppedWrites: this.#droppedWrites,
      droppedBytes: this.#droppedBytes,
      lastError: this.#lastError,
    };
  }
}
