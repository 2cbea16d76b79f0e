/**
 * A client that keeps one connection alive: it reconnects with jittered
 * backoff, holds writes in a bounded queue while disconnected, detects
 * half-dead peers, and settles every write promise.
 *
 * @module
 */

import { formatAddress, type Address } from "./address.ts";
import { createBackoff, type Backoff, type BackoffPolicy } from "./backoff.ts";
import type { Codec, FrameDecoder } from "./codec.ts";
import { connectWith, DEFAULT_CONNECT_TIMEOUT } from "./connect.ts";
import type { TlsClientOptions } from "./tls.ts";
import type { Connection } from "./connection.ts";
import { endpoints, type EndpointSource, type Target } from "./endpoints.ts";
import { invalidOption, NetError, toNetError, type NetErrorCode } from "./errors.ts";
import { Heartbeat, heartbeatSettings, type HeartbeatOptions, type HeartbeatSettings } from "./heartbeat.ts";
import { OfflineQueue, type OverflowPolicy } from "./offline-queue.ts";
import { checkMillis, checkSocketOptions, type SocketOptions } from "./options.ts";
import { DEFAULT_HIGH_WATER_MARK, type Transport } from "./transport.ts";
import { TypedEventTarget } from "./typed-events.ts";

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
 * The events of a {@link ReconnectingClient}, by name, with their payloads.
 *
 * @example
 * ```ts
 * import { reconnecting } from "wireline";
 * const client = reconnecting("127.0.0.1:7000");
 * client.on("drop", ({ count, reason }) => console.warn(`${count} writes lost: ${reason.code}`));
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
  /** Nothing arrived for `silentFor` ms: the connection is destroyed and replaced. */
  stale: { readonly endpoint: Address; readonly silentFor: number };
  /** A connect attempt, handshake or connection failed (the client retries or closes; this is for logging). */
  error: NetError;
  /** Writes that left the queue unsent, and why: overflow, deadline, disconnect or close. Their promises rejected with `reason`. */
  drop: { readonly count: number; readonly bytes: number; readonly reason: NetError };
}

/**
 * Per-write options.
 *
 * @example
 * ```ts
 * import { reconnecting } from "wireline";
 * const client = reconnecting("127.0.0.1:7000");
 * await client.write("tick\n", { deadline: 2_000 }); // rejects with ERR_WRITE_DEADLINE if still queued after 2 s
 * ```
 */
export interface WriteOptions {
  /**
   * Ms from now within which the write must be handed to an open
   * connection; otherwise it rejects with `ERR_WRITE_DEADLINE`. Default:
   * the client's `writeDeadline`.
   */
  readonly deadline?: number;
}

/**
 * Options of `reconnecting()`. Every default is exported as a constant.
 *
 * @example
 * ```ts
 * import { reconnecting, lengthPrefixed } from "wireline";
 * const client = reconnecting("10.0.0.5:9000", {
 *   codec: lengthPrefixed(),
 *   maxElapsed: 120_000,
 *   overflow: "drop-oldest",
 *   onConnect: async (conn) => {
 *     await conn.write("AUTH token\n");
 *   },
 * });
 * ```
 */
export interface ReconnectingOptions<T = Uint8Array> extends Omit<SocketOptions, "allowHalfOpen" | "borrowedChunks"> {
  /** Frames instead of raw chunks: `send(frame)` encodes, iteration yields decoded frames. */
  readonly codec?: Codec<T>;
  /** Ms for one connect, TLS handshake included. Default 10 000. */
  readonly connectTimeout?: number;
  /** TLS for every connection, as for `connect()`. A certificate failure (ERR_TLS_CERT) is fatal, never retried. */
  readonly tls?: true | TlsClientOptions;
  /** Delay policy between attempts. Default `{ initial: 100, max: 30_000, jitter: "full" }`. */
  readonly backoff?: Backoff;
  /** Give up (close with `ERR_RETRIES_EXHAUSTED`) after this many failed attempts in a row. Default Infinity. */
  readonly maxAttempts?: number;
  /** Give up when a run of failures would last longer than this many ms. Default Infinity. */
  readonly maxElapsed?: number;
  /** A connection must stay up this many ms before the attempt count and backoff reset. Default 5 000. */
  readonly stableAfter?: number;
  /** Asked about each retryable error; returning false makes it fatal. Built-in fatal errors stay fatal. */
  readonly shouldRetry?: (error: NetError) => boolean;
  /** Shuffle a list target once at start. Default false. */
  readonly shuffle?: boolean;
  /**
   * Runs after each connect, before `open` and before queued writes flush
   * (authenticate, resubscribe). It may write to and read from `conn`; bytes
   * it reads are not seen by the client's iterator. A throw or rejection
   * fails the attempt, which is retried.
   */
  readonly onConnect?: (conn: Connection) => void | Promise<void>;
  /** Ms `onConnect` may take before the attempt fails with ETIMEDOUT. Default 10 000. */
  readonly handshakeTimeout?: number;
  /** Application-level liveness check. Default off (TCP keep-alive only). */
  readonly heartbeat?: HeartbeatOptions;
  /** Queue writes while disconnected. Default true; false rejects them at once with `ERR_NOT_CONNECTED`. */
  readonly offlineQueue?: boolean;
  /** Bytes the queue holds. Default 1 MiB. */
  readonly maxQueuedBytes?: number;
  /** Writes the queue holds. Default 10 000. */
  readonly maxQueuedWrites?: number;
  /** What a write that does not fit does. Default `"reject"` (`ERR_QUEUE_FULL`). */
  readonly overflow?: OverflowPolicy;
  /** Default deadline of every write, in ms. Default Infinity (none). */
  readonly writeDeadline?: number;
  /** Received bytes held for a consumer that does not iterate; past it reading pauses. Default 256 KiB. */
  readonly maxUnreadBytes?: number;
  /** Ms `close()` lets the connection flush before destroying it. Default 5 000. */
  readonly closeTimeout?: number;
}

/**
 * Default `stableAfter`: 5 s.
 *
 * @example
 * ```ts
 * import { DEFAULT_STABLE_AFTER } from "wireline";
 * console.log(DEFAULT_STABLE_AFTER); // 5000
 * ```
 */
export const DEFAULT_STABLE_AFTER: number = 5_000;
/**
 * Default `maxQueuedBytes`: 1 MiB.
 *
 * @example
 * ```ts
 * import { DEFAULT_MAX_QUEUED_BYTES } from "wireline";
 * console.log(DEFAULT_MAX_QUEUED_BYTES); // 1048576
 * ```
 */
export const DEFAULT_MAX_QUEUED_BYTES: number = 1024 * 1024;
/**
 * Default `maxQueuedWrites`: 10 000.
 *
 * @example
 * ```ts
 * import { DEFAULT_MAX_QUEUED_WRITES } from "wireline";
 * console.log(DEFAULT_MAX_QUEUED_WRITES); // 10000
 * ```
 */
export const DEFAULT_MAX_QUEUED_WRITES: number = 10_000;
/**
 * Default `maxUnreadBytes`: 256 KiB.
 *
 * @example
 * ```ts
 * import { DEFAULT_MAX_UNREAD_BYTES } from "wireline";
 * console.log(DEFAULT_MAX_UNREAD_BYTES); // 262144
 * ```
 */
export const DEFAULT_MAX_UNREAD_BYTES: number = 256 * 1024;
/**
 * Default `handshakeTimeout`: 10 s.
 *
 * @example
 * ```ts
 * import { DEFAULT_HANDSHAKE_TIMEOUT } from "wireline";
 * console.log(DEFAULT_HANDSHAKE_TIMEOUT); // 10000
 * ```
 */
export const DEFAULT_HANDSHAKE_TIMEOUT: number = 10_000;
/**
 * Default `closeTimeout`: 5 s.
 *
 * @example
 * ```ts
 * import { DEFAULT_CLOSE_TIMEOUT } from "wireline";
 * console.log(DEFAULT_CLOSE_TIMEOUT); // 5000
 * ```
 */
export const DEFAULT_CLOSE_TIMEOUT: number = 5_000;

/** Errors no retry can fix: the client closes with them at once. */
const FATAL_CODES: ReadonlySet<NetErrorCode> = new Set<NetErrorCode>([
  "ERR_TLS_CERT",
  "ERR_INVALID_ADDRESS",
  "ERR_INVALID_OPTION",
  "ERR_UNSUPPORTED",
  // Permission denied (Deno without --allow-net, a sandbox, a socket file's mode) does not heal by itself.
  "EACCES",
]);

/**
 * Whether wireline retries `error` by default: everything but certificate
 * verification failures, invalid addresses and options, unsupported
 * features, and permission errors.
 *
 * @example
 * ```ts
 * import { isRetryable, NetError } from "wireline";
 * isRetryable(new NetError("ECONNREFUSED", "refused")); // true
 * isRetryable(new NetError("ERR_TLS_CERT", "unknown issuer")); // false
 * ```
 */
export function isRetryable(error: NetError): boolean {
  return !FATAL_CODES.has(error.code);
}

const encoder = new TextEncoder();
const noop = (): void => {};
const RESOLVED: Promise<void> = Promise.resolve();
const DONE: IteratorResult<never> = Object.freeze({ value: undefined, done: true });

function rejected(error: unknown): Promise<never> {
  const promise = Promise.reject(error);
  promise.catch(noop);
  return promise;
}

function deferred<T>(): { promise: Promise<T>; resolve: (value: T) => void; reject: (error: unknown) => void } {
  let resolve!: (value: T) => void;
  let reject!: (error: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  // `opened` may be ignored; its rejection must never crash the process.
  promise.catch(noop);
  return { promise, resolve, reject };
}

function concat(parts: readonly Uint8Array[]): Uint8Array {
  if (parts.length === 1) return parts[0]!;
  let length = 0;
  for (const part of parts) length += part.length;
  const out = new Uint8Array(length);
  let at = 0;
  for (const part of parts) {
    out.set(part, at);
    at += part.length;
  }
  return out;
}

function positiveInteger(name: string, value: unknown, fallback: number): number {
  if (value === undefined) return fallback;
  if (value === Infinity) return Infinity;
  if (typeof value !== "number" || !Number.isSafeInteger(value) || value < 1) throw invalidOption(name, value, "a positive integer or Infinity");
  return value;
}

/** Received items from one chunk, with the chunk's size for the unread-bytes bound. */
interface Batch<T> {
  readonly items: T[];
  next: number;
  readonly bytes: number;
}

/** What the client tracks about the connection it is serving. */
interface Link {
  readonly conn: Connection;
  readonly endpoint: Address;
  readonly label: string;
  /** False once the connection refused a write: its write side is closing. */
  writable: boolean;
  /** The connection's send buffer is over the high-water mark; writes queue until it drains. */
  congested: boolean;
  /** Its reader waits for an earlier connection's reader, or for the consumer to make room. */
  readBlocked: boolean;
  heartbeat: Heartbeat | undefined;
}

/**
 * A connection that stays up. Create it with `reconnecting(target, options)`.
 *
 * Writes:
 * - `write(bytes)` / `send(frame)` return a promise that always settles. It
 *   resolves once the whole message is handed to an open connection (that
 *   connection's `write()` took it); it rejects with a {@link NetError} if
 *   that never happens: `ERR_QUEUE_FULL`, `ERR_WRITE_DROPPED`,
 *   `ERR_WRITE_DEADLINE`, `ERR_NOT_CONNECTED` (with `offlineQueue: false`),
 *   `ERR_SOCKET_CLOSED` after `close()`, or the error the client gave up with.
 * - A message is never split: it goes whole to one connection, or stays queued.
 * - Resolved is not delivered: bytes handed to a connection that then dies
 *   may be lost in transit, as with any TCP socket; they are never resent,
 *   which would risk duplicates. Where at-least-once matters, have the
 *   server acknowledge and resend what was not acknowledged.
 * - While disconnected, or while the connection's send buffer is full,
 *   writes wait in a queue bounded by `maxQueuedBytes` and `maxQueuedWrites`;
 *   `overflow` says what happens when it is full.
 *
 * Reading: `for await (const item of client)` yields raw chunks, or frames
 * with a `codec`, from each connection in turn. Each connection gets a fresh
 * decoder, and no chunk or frame ever mixes bytes of two connections: a frame
 * cut short by a disconnect is discarded (and reported as an `error` event).
 * A consumer that does not read holds back at most `maxUnreadBytes` before
 * reading pauses. The loop ends after `close()`, or throws the error the
 * client gave up with.
 *
 * @example
 * ```ts
 * import { reconnecting, lines } from "wireline";
 * const client = reconnecting(["10.0.0.1:7000", "10.0.0.2:7000"], {
 *   codec: lines(),
 *   heartbeat: { interval: 10_000, timeout: 5_000, ping: (conn) => conn.write("PING\n") },
 * });
 * client.on("reconnecting", ({ attempt, delay, error }) => console.log(`retry #${attempt} in ${delay} ms: ${error.code}`));
 * await client.send("HELLO");
 * for await (const line of client) console.log(line);
 * ```
 */
export class ReconnectingClient<T = Uint8Array> extends TypedEventTarget<ReconnectingEvents> implements AsyncIterable<T>, AsyncDisposable {
  readonly #transport: Transport;
  readonly #source: EndpointSource;
  readonly #codec: Codec<T> | undefined;
  readonly #socketOptions: { noDelay?: boolean; keepAlive: boolean | number; tls?: true | TlsClientOptions };
  readonly #connectTimeout: number;
  readonly #backoff: BackoffPolicy;
  readonly #maxAttempts: number;
  readonly #maxElapsed: number;
  readonly #stableAfter: number;
  readonly #shouldRetry: ((error: NetError) => boolean) | undefined;
  readonly #onConnect: ((conn: Connection) => void | Promise<void>) | undefined;
  readonly #handshakeTimeout: number;
  readonly #heartbeat: HeartbeatSettings | undefined;
  readonly #offlineQueue: boolean;
  readonly #writeDeadline: number;
  readonly #maxUnreadBytes: number;
  readonly #closeTimeout: number;
  readonly #queue: OfflineQueue;

  #state: ReconnectingState = "connecting";
  #link: Link | undefined;
  /** A connection being set up (connected, in onConnect): close() must destroy it. */
  #pending: Connection | undefined;
  readonly #abort = new AbortController();
  #opened = deferred<void>();
  #closeError: NetError | undefined;
  #userClosed = false;
  readonly #closed = deferred<NetError | undefined>();
  #sleep: { timer: ReturnType<typeof setTimeout>; resolve: () => void } | undefined;

  #batches: Batch<T>[] = [];
  #unreadBytes = 0;
  #consumer: { resolve: (result: IteratorResult<T>) => void; reject: (error: unknown) => void } | undefined;
  /** Wakes a reader waiting for the consumer to make room. */
  #room: (() => void) | undefined;
  /** Readers run one after another, so chunks from two connections never interleave. */
  #readers: Promise<void> = RESOLVED;

  /** Prefer `reconnecting()` from `wireline`, which binds the runtime's transport. */
  constructor(transport: Transport, target: Target, options: ReconnectingOptions<T> = {}) {
    super();
    if (options === null || typeof options !== "object") throw invalidOption("options", options, "an object");
    checkSocketOptions(options, transport);
    this.#transport = transport;
    this.#source = endpoints(target, { shuffle: options.shuffle });
    if (options.codec !== undefined && (typeof options.codec.encode !== "function" || typeof options.codec.createDecoder !== "function")) {
      throw invalidOption("codec", options.codec, "a Codec (encode and createDecoder)");
    }
    this.#codec = options.codec;
    this.#socketOptions = { noDelay: options.noDelay, keepAlive: options.keepAlive ?? true, tls: options.tls };
    this.#connectTimeout = checkMillis("connectTimeout", options.connectTimeout) ?? DEFAULT_CONNECT_TIMEOUT;
    this.#backoff = createBackoff(options.backoff);
    this.#maxAttempts = positiveInteger("maxAttempts", options.maxAttempts, Infinity);
    this.#maxElapsed = checkMillis("maxElapsed", options.maxElapsed) ?? Infinity;
    this.#stableAfter = checkMillis("stableAfter", options.stableAfter) ?? DEFAULT_STABLE_AFTER;
    for (const name of ["shouldRetry", "onConnect"] as const) {
      if (options[name] !== undefined && typeof options[name] !== "function") throw invalidOption(name, options[name], "a function");
    }
    this.#shouldRetry = options.shouldRetry;
    this.#onConnect = options.onConnect;
    this.#handshakeTimeout = checkMillis("handshakeTimeout", options.handshakeTimeout, 1) ?? DEFAULT_HANDSHAKE_TIMEOUT;
    this.#heartbeat = options.heartbeat === undefined ? undefined : heartbeatSettings(options.heartbeat);
    const offlineQueue = options.offlineQueue ?? true;
    if (typeof offlineQueue !== "boolean") throw invalidOption("offlineQueue", offlineQueue, "a boolean");
    this.#offlineQueue = offlineQueue;
    this.#writeDeadline = checkMillis("writeDeadline", options.writeDeadline) ?? Infinity;
    this.#maxUnreadBytes = positiveInteger("maxUnreadBytes", options.maxUnreadBytes, DEFAULT_MAX_UNREAD_BYTES);
    this.#closeTimeout = checkMillis("closeTimeout", options.closeTimeout) ?? DEFAULT_CLOSE_TIMEOUT;
    this.#queue = new OfflineQueue({
      maxBytes: positiveInteger("maxQueuedBytes", options.maxQueuedBytes, DEFAULT_MAX_QUEUED_BYTES),
      maxWrites: positiveInteger("maxQueuedWrites", options.maxQueuedWrites, DEFAULT_MAX_QUEUED_WRITES),
      overflow: options.overflow,
      onDrop: (count, bytes, reason) => this.emit("drop", { count, bytes, reason }),
    });
    // Started after the constructor returns, so listeners added right away see every event.
    queueMicrotask(() => {
      this.#run().catch((error) => this.#shutdown(toNetError(error, this.#source.label)));
    });
  }

  /** The current state. */
  get state(): ReconnectingState {
    return this.#state;
  }

  /**
   * Resolves when the client is open: at once if it is, else at the next
   * open. Rejects if the client closes first. Never crashes the process if
   * ignored.
   */
  get opened(): Promise<void> {
    if (this.#state === "open") return RESOLVED;
    return this.#opened.promise;
  }

  /** Resolves (never rejects) once the client is closed and its socket released, with the error it gave up with, if any. */
  get closed(): Promise<NetError | undefined> {
    return this.#closed.promise;
  }

  /** The endpoint of the open connection, or undefined. */
  get endpoint(): Address | undefined {
    return this.#link?.endpoint;
  }

  /** Writes waiting in the offline queue. */
  get queuedWrites(): number {
    return this.#queue.size;
  }

  /** Bytes waiting in the offline queue. */
  get queuedBytes(): number {
    return this.#queue.bytes;
  }

  /**
   * Sends raw bytes (strings as UTF-8) as one message; see the class
   * documentation for when the promise settles. Do not modify `data` until it
   * settles.
   */
  write(data: Uint8Array | string, options?: WriteOptions): Promise<void> {
    if (typeof data === "string") return this.#submit(encoder.encode(data), options);
    if (!(data instanceof Uint8Array)) return rejected(invalidOption("data", data, "a Uint8Array or a string"));
    return this.#submit(data, options);
  }

  /**
   * Encodes `frame` with the codec and sends it as one message, like
   * {@link ReconnectingClient.write}. Without a codec, `frame` must be bytes.
   * Rejects with the codec's error if the frame cannot be encoded.
   */
  send(frame: T, options?: WriteOptions): Promise<void> {
    if (!this.#codec) return this.write(frame as Uint8Array, options);
    let encoded: Uint8Array | readonly Uint8Array[];
    try {
      encoded = this.#codec.encode(frame);
    } catch (error) {
      return rejected(error);
    }
    return this.#submit(encoded instanceof Uint8Array ? encoded : concat(encoded), options);
  }

  /**
   * Closes for good: rejects every queued write with `ERR_SOCKET_CLOSED`,
   * stops retrying, and closes the connection, letting it flush what it
   * already took for up to `closeTimeout` ms. Resolves once the socket is
   * released; no timer or socket is left behind.
   */
  close(): Promise<void> {
    if (!this.#isClosed()) {
      this.#userClosed = true;
      this.#shutdown(undefined);
    }
    return this.#closed.promise.then(noop);
  }

  /** `await using client = reconnecting(...)` closes it at the end of the scope. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  /** Yields received chunks (or frames) across reconnects. One loop at a time; leaving it early keeps the client open. */
  [Symbol.asyncIterator](): AsyncIterator<T> {
    return {
      next: () => this.#next(),
      return: () => Promise.resolve(DONE),
    };
  }

  // ---- connection lifecycle ----

  /** A method, not a comparison, so TypeScript does not narrow the state across awaits. */
  #isClosed(): boolean {
    return this.#state === "closed";
  }

  async #run(): Promise<void> {
    let attempt = 0;
    let streakStart = Date.now();
    while (!this.#isClosed()) {
      let endpoint: Address | undefined;
      let error: NetError | undefined;
      try {
        endpoint = await this.#source.next();
        const conn = await this.#connect(endpoint);
        const openedAt = Date.now();
        error = await this.#serve(conn, endpoint);
        if (Date.now() - openedAt >= this.#stableAfter) {
          attempt = 0;
          this.#backoff.reset();
          streakStart = Date.now();
        }
      } catch (caught) {
        error = toNetError(caught, endpoint ? formatAddress(endpoint) : this.#source.label);
      }
      if (this.#isClosed()) return;
      this.emit("error", error);
      if (this.#isClosed()) return;
      const fatal = this.#fatal(error);
      if (fatal) return this.#shutdown(fatal);
      attempt++;
      const elapsed = Date.now() - streakStart;
      const where = this.#source.label;
      if (attempt >= this.#maxAttempts) {
        return this.#shutdown(
          new NetError("ERR_RETRIES_EXHAUSTED", `gave up after ${attempt} failed attempts in ${elapsed} ms (maxAttempts ${this.#maxAttempts}); last error: ${error.message}`, { cause: error, address: where }),
        );
      }
      const delay = this.#backoff.next(attempt, error, endpoint);
      if (delay === "stop") {
        return this.#shutdown(
          new NetError("ERR_RETRIES_EXHAUSTED", `the backoff function stopped after ${attempt} failed attempts in ${elapsed} ms; last error: ${error.message}`, { cause: error, address: where }),
        );
      }
      if (elapsed + delay > this.#maxElapsed) {
        return this.#shutdown(
          new NetError(
            "ERR_RETRIES_EXHAUSTED",
            `gave up after ${attempt} failed attempts in ${elapsed} ms: the next one, in ${Math.round(delay)} ms, would pass maxElapsed (${this.#maxElapsed} ms); last error: ${error.message}`,
            { cause: error, address: where },
          ),
        );
      }
      this.#state = "reconnecting";
      this.emit("reconnecting", { attempt, delay, error, endpoint });
      if (this.#isClosed()) return;
      await this.#wait(delay);
    }
  }

  /** The error to close with if `error` must not be retried, else undefined. */
  #fatal(error: NetError): NetError | undefined {
    if (!isRetryable(error)) return error;
    if (!this.#shouldRetry) return undefined;
    try {
      return this.#shouldRetry(error) ? undefined : error;
    } catch (thrown) {
      return toNetError(thrown, this.#source.label);
    }
  }

  /** Connects and runs onConnect; the connection is destroyed if either fails or the client closes meanwhile. */
  async #connect(endpoint: Address): Promise<Connection> {
    const conn = await connectWith(this.#transport, endpoint, {
      ...this.#socketOptions,
      timeout: this.#connectTimeout,
      signal: this.#abort.signal,
    });
    this.#pending = conn;
    try {
      if (this.#isClosed()) throw this.#closeReason();
      if (this.#onConnect) await this.#handshake(conn, this.#onConnect, formatAddress(endpoint));
      if (this.#isClosed()) throw this.#closeReason();
      return conn;
    } catch (error) {
      conn.destroy();
      throw error;
    } finally {
      this.#pending = undefined;
    }
  }

  async #handshake(conn: Connection, onConnect: (conn: Connection) => void | Promise<void>, label: string): Promise<void> {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new NetError("ETIMEDOUT", `onConnect did not finish within handshakeTimeout (${this.#handshakeTimeout} ms)`, { address: label })),
        this.#handshakeTimeout,
      );
    });
    timeout.catch(noop);
    try {
      await Promise.race([Promise.resolve().then(() => onConnect(conn)), timeout]);
    } catch (error) {
      if (error instanceof NetError) throw error;
      const why = error instanceof Error ? error.message : String(error);
      throw new NetError("ERR_HANDSHAKE_FAILED", `onConnect failed: ${why}`, { cause: error, address: label });
    } finally {
      clearTimeout(timer);
    }
  }

  /** Runs one open connection until it closes; returns why it closed. */
  async #serve(conn: Connection, endpoint: Address): Promise<NetError> {
    const label = formatAddress(endpoint);
    const link: Link = { conn, endpoint, label, writable: true, congested: false, readBlocked: true, heartbeat: undefined };
    this.#link = link;
    if (this.#heartbeat) {
      const settings = this.#heartbeat;
      link.heartbeat = new Heartbeat(conn, settings, {
        readBlocked: () => link.readBlocked,
        onStale: (silentFor) => {
          this.emit("stale", { endpoint, silentFor });
          conn.destroy(
            new NetError("ERR_STALE_CONNECTION", `nothing received for ${silentFor} ms (heartbeat interval ${settings.interval} ms + timeout ${settings.timeout} ms)`, { address: label }),
          );
        },
        onPingError: (error) => conn.destroy(toNetError(error, label)),
      });
    }
    const decoder = this.#codec?.createDecoder();
    this.#readers = this.#readers.then(() => this.#read(link, decoder));
    this.#state = "open";
    this.#opened.resolve();
    this.emit("open", { endpoint });
    this.#pump();
    const error = await conn.closed;
    link.heartbeat?.stop();
    link.writable = false;
    if (this.#link === link) this.#link = undefined;
    if (this.#isClosed()) return error ?? this.#closeReason();
    this.#state = "reconnecting";
    this.#opened = deferred<void>();
    const cause = error ?? new NetError("ERR_SOCKET_CLOSED", "the server closed the connection", { address: label });
    if (!this.#offlineQueue) this.#rejectQueued(new NetError("ERR_NOT_CONNECTED", `the connection was lost (${cause.code}) and offlineQueue is false`, { cause, address: label }));
    return cause;
  }

  /** Sleeps `ms` between attempts; close() cuts it short. */
  #wait(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.#sleep = undefined;
        resolve();
      }, ms);
      this.#sleep = { timer, resolve };
    });
  }

  #closeReason(): NetError {
    return this.#closeError ?? new NetError("ERR_SOCKET_CLOSED", "the client was closed", { address: this.#source.label });
  }

  #shutdown(error: NetError | undefined): void {
    if (this.#isClosed()) return;
    this.#state = "closed";
    this.#closeError = error;
    const reason = this.#closeReason();
    this.#abort.abort(reason);
    if (this.#sleep) {
      clearTimeout(this.#sleep.timer);
      this.#sleep.resolve();
      this.#sleep = undefined;
    }
    this.#rejectQueued(reason);
    this.#opened.reject(reason);
    this.#pending?.destroy();
    const link = this.#link;
    link?.heartbeat?.stop();
    this.#wakeReaders();
    const consumer = this.#consumer;
    this.#consumer = undefined;
    if (consumer && error) consumer.reject(error);
    else consumer?.resolve(DONE);
    this.emit("close", { error });
    this.#release(link?.conn).then(() => this.#closed.resolve(error));
  }

  /** Lets the connection flush for up to closeTimeout, then destroys it; resolves once it is gone. */
  async #release(conn: Connection | undefined): Promise<void> {
    if (!conn) return;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const flushed = conn.close();
    if (this.#closeTimeout !== Infinity) timer = setTimeout(() => conn.destroy(), this.#closeTimeout);
    await flushed;
    clearTimeout(timer);
  }

  #rejectQueued(reason: NetError): void {
    const count = this.#queue.size + this.#queue.waiting;
    const bytes = this.#queue.bytes;
    this.#queue.rejectAll(reason);
    if (count > 0) this.emit("drop", { count, bytes, reason });
  }

  // ---- writing ----

  #submit(data: Uint8Array, options: WriteOptions | undefined): Promise<void> {
    if (this.#isClosed()) return rejected(this.#closeReason());
    let deadline: number;
    try {
      deadline = checkMillis("deadline", options?.deadline) ?? this.#writeDeadline;
    } catch (error) {
      return rejected(error);
    }
    if (data.length === 0) return RESOLVED;
    const link = this.#link;
    if (this.#state === "open" && link && link.writable && !link.congested && this.#queue.size === 0 && this.#queue.waiting === 0) {
      if (this.#handOver(link, data)) return RESOLVED;
    }
    if (!this.#offlineQueue && this.#state !== "open") {
      return rejected(new NetError("ERR_NOT_CONNECTED", `the client is ${this.#state} and offlineQueue is false`, { address: this.#source.label }));
    }
    const queued = this.#queue.push(data, deadline);
    this.#pump();
    return queued;
  }

  /** Writes queued messages while the connection takes them. */
  #pump(): void {
    const link = this.#link;
    if (!link || this.#state !== "open") return;
    while (link.writable && !link.congested) {
      const write = this.#queue.shift();
      if (!write) return;
      if (this.#handOver(link, write.data)) write.resolve();
      else this.#queue.requeue(write);
    }
  }

  /** Gives `data` to the connection; false if it would not take it (its write side is closing). */
  #handOver(link: Link, data: Uint8Array): boolean {
    const { conn } = link;
    if (!conn.isWritable) {
      link.writable = false;
      return false;
    }
    const accepted = conn.write(data);
    if (conn.bufferedAmount >= DEFAULT_HIGH_WATER_MARK) {
      link.congested = true;
      accepted.then(
        () => {
          link.congested = false;
          if (this.#link === link) this.#pump();
        },
        noop,
      );
    }
    return true;
  }

  // ---- reading ----

  /** Moves one connection's data into the inbox, after the previous connection's reader finished. */
  async #read(link: Link, decoder: FrameDecoder<T> | undefined): Promise<void> {
    const iterator = link.conn[Symbol.asyncIterator]();
    const frames: T[] = [];
    const emit = (frame: T): void => {
      frames.push(frame);
    };
    try {
      for (;;) {
        while (this.#unreadBytes >= this.#maxUnreadBytes && !this.#isClosed()) {
          link.readBlocked = true;
          await new Promise<void>((resolve) => (this.#room = resolve));
        }
        if (this.#isClosed()) return;
        link.readBlocked = false;
        const result = await iterator.next();
        if (result.done) break;
        link.heartbeat?.touch();
        const chunk = result.value;
        if (!decoder) {
          this.#deliver([chunk as T], chunk.length);
          continue;
        }
        let failure: NetError | undefined;
        try {
          decoder.decode(chunk, emit);
        } catch (error) {
          failure = toNetError(error, link.label);
        }
        if (frames.length > 0) this.#deliver(frames.splice(0), chunk.length);
        if (failure) {
          // A peer that sends garbage is dropped at once; the error reaches the client through conn.closed.
          link.conn.destroy(failure);
          return;
        }
      }
      decoder?.finish();
    } catch (error) {
      // A connection error is reported through conn.closed; only a frame cut short by the disconnect is news.
      if (error instanceof NetError && error.code === "ERR_FRAME_MALFORMED" && !this.#isClosed()) this.emit("error", error);
    } finally {
      link.readBlocked = false;
    }
  }

  #deliver(items: T[], bytes: number): void {
    if (this.#isClosed()) return;
    this.#batches.push({ items, next: 0, bytes });
    this.#unreadBytes += bytes;
    const consumer = this.#consumer;
    if (consumer) {
      this.#consumer = undefined;
      consumer.resolve({ value: this.#take()!.value, done: false });
    }
  }

  /** The oldest unread item, or undefined when there is none. */
  #take(): { value: T } | undefined {
    const batch = this.#batches[0];
    if (!batch) return undefined;
    const value = batch.items[batch.next++]!;
    if (batch.next === batch.items.length) {
      this.#batches.shift();
      this.#unreadBytes -= batch.bytes;
      if (this.#unreadBytes < this.#maxUnreadBytes) this.#wakeReaders();
    }
    return { value };
  }

  #wakeReaders(): void {
    const room = this.#room;
    this.#room = undefined;
    room?.();
  }

  #next(): Promise<IteratorResult<T>> {
    const item = this.#take();
    if (item) return Promise.resolve({ value: item.value, done: false });
    if (this.#isClosed()) return this.#userClosed || !this.#closeError ? Promise.resolve(DONE) : Promise.reject(this.#closeError);
    if (this.#consumer) return Promise.reject(new TypeError("the client is already being read by another loop"));
    return new Promise((resolve, reject) => (this.#consumer = { resolve, reject }));
  }
}

/**
 * Creates a {@link ReconnectingClient} on `transport`. Most users call the
 * bound `reconnecting()` from `wireline`; this form is for custom transports.
 * A target or option that can never work throws at once
 * (`ERR_INVALID_ADDRESS`, `ERR_INVALID_OPTION`).
 *
 * @example
 * ```ts
 * import { reconnectingWith, lengthPrefixed } from "wireline";
 * import { memoryTransport } from "wireline/memory";
 * const client = reconnectingWith(memoryTransport, "localhost:7000", { codec: lengthPrefixed() });
 * await client.send(new Uint8Array([1, 2, 3]));
 * ```
 */
export function reconnectingWith<T>(transport: Transport, target: Target, options: ReconnectingOptions<T> & { readonly codec: Codec<T> }): ReconnectingClient<T>;
export function reconnectingWith(transport: Transport, target: Target, options?: ReconnectingOptions<Uint8Array>): ReconnectingClient<Uint8Array>;
export function reconnectingWith<T>(transport: Transport, target: Target, options?: ReconnectingOptions<T>): ReconnectingClient<T> {
  return new ReconnectingClient<T>(transport, target, options);
}
