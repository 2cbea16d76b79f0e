/**
 * The options of `reconnecting()`, their defaults, and their validation: a
 * value out of range or a key that is not an option throws
 * `ERR_INVALID_OPTION` before anything connects.
 *
 * @module
 */

import { createBackoff, type Backoff, type BackoffPolicy } from "./backoff.ts";
import type { Codec } from "../framing/codec.ts";
import { DEFAULT_CONNECT_TIMEOUT, type ConnectOptions } from "../connect/connect.ts";
import type { Connection } from "../connection.ts";
import { invalidOption, type NetError } from "../errors.ts";
import { heartbeatSettings, type HeartbeatOptions, type HeartbeatSettings } from "../liveness/heartbeat.ts";
import type { OverflowPolicy } from "./offline-queue.ts";
import { checkKnownKeys, checkMillis, checkSocketOptions, type SocketOptions } from "../options.ts";
import type { TlsClientOptions } from "../tls.ts";
import type { Transport } from "../transport.ts";
import type { WindowSize } from "../session/envelope.ts";
import { sessionClientWindow, type SessionClientOptions } from "../session/session-options.ts";

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
 * Options of `reconnecting()`. Every default is exported as a constant. A key
 * that is not listed here throws `ERR_INVALID_OPTION`, so a misspelt option
 * is never silently ignored.
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
export interface ReconnectingOptions<T = Uint8Array>
  extends Omit<SocketOptions, "allowHalfOpen" | "borrowedChunks" | "maxBufferedBytes">, Pick<ConnectOptions, "family" | "attemptDelay" | "lookup" | "localAddress"> {
  /** Frames instead of raw chunks: `send(frame)` encodes, iteration yields decoded frames. */
  readonly codec?: Codec<T>;
  /** Ms for one attempt: asking a target function for the address, connecting, and the TLS handshake. Default 10 000. */
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
  /**
   * Ms the connection may hold unsent bytes without the peer taking any of
   * them before it is declared stale (`stale` event, destroyed with
   * `ERR_STALE_CONNECTION`, reconnect): a peer that stopped reading, or a
   * path that went dark while we write. Works without a heartbeat.
   * Default 30 000; Infinity turns it off.
   */
  readonly writeStallTimeout?: number;
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
  /**
   * A resumable session with a wireline server listening with `session`:
   * each frame is delivered exactly once and in order across reconnects, and
   * `send()` resolves once the server's session received it. Not with
   * `heartbeat`, `onConnect` or `writeDeadline`.
   */
  readonly session?: true | SessionClientOptions;
}

/**
 * Default `stableAfter`: 5 s.
 *
 * @example
 * ```ts
 * import { reconnecting } from "wireline";
 * const client = reconnecting("db:5432", { stableAfter: 10_000 }); // default 5000
 * ```
 */
export const DEFAULT_STABLE_AFTER: number = 5_000;
/**
 * Default `maxQueuedBytes`: 1 MiB.
 *
 * @example
 * ```ts
 * import { reconnecting } from "wireline";
 * const client = reconnecting("db:5432", { maxQueuedBytes: 16 * 1024 * 1024 }); // default 1 MiB
 * ```
 */
export const DEFAULT_MAX_QUEUED_BYTES: number = 1024 * 1024;
/**
 * Default `maxQueuedWrites`: 10 000.
 *
 * @example
 * ```ts
 * import { reconnecting } from "wireline";
 * const client = reconnecting("db:5432", { maxQueuedWrites: 100_000 }); // default 10 000
 * ```
 */
export const DEFAULT_MAX_QUEUED_WRITES: number = 10_000;
/**
 * Default `maxUnreadBytes`: 256 KiB.
 *
 * @example
 * ```ts
 * import { reconnecting } from "wireline";
 * const client = reconnecting("db:5432", { maxUnreadBytes: 1024 * 1024 }); // default 256 KiB
 * ```
 */
export const DEFAULT_MAX_UNREAD_BYTES: number = 256 * 1024;
/**
 * Default `handshakeTimeout`: 10 s.
 *
 * @example
 * ```ts
 * import { reconnecting } from "wireline";
 * const client = reconnecting("db:5432", { handshakeTimeout: 30_000 }); // default 10 000
 * ```
 */
export const DEFAULT_HANDSHAKE_TIMEOUT: number = 10_000;
/**
 * Default `closeTimeout`: 5 s.
 *
 * @example
 * ```ts
 * import { reconnecting } from "wireline";
 * const client = reconnecting("db:5432", { closeTimeout: 1_000 }); // default 5000
 * ```
 */
export const DEFAULT_CLOSE_TIMEOUT: number = 5_000;
/**
 * Default `writeStallTimeout`: 30 s, as long as the default heartbeat's
 * interval, and far beyond any congestion a live peer causes.
 *
 * @example
 * ```ts
 * import { reconnecting } from "wireline";
 * const client = reconnecting("db:5432", { writeStallTimeout: 60_000 }); // default 30 000
 * ```
 */
export const DEFAULT_WRITE_STALL_TIMEOUT: number = 30_000;

/**
 * {@link ReconnectingOptions} validated, with defaults applied.
 *
 * @example
 * ```ts
 * import { reconnectingSettings } from "./options.ts";
 * import { memoryTransport } from "../../adapters/memory.ts";
 * const settings = reconnectingSettings({ maxAttempts: 3 }, memoryTransport);
 * ```
 */
export interface ReconnectingSettings<T> {
  readonly codec: Codec<T> | undefined;
  /** Handed to `connect()` on every attempt, which resolves a host name afresh each time (no cache: DNS changes during a failover are seen). */
  readonly socketOptions: Pick<ConnectOptions, "noDelay" | "tls" | "family" | "attemptDelay" | "lookup" | "localAddress"> & { readonly keepAlive: boolean | number };
  readonly connectTimeout: number;
  readonly backoff: BackoffPolicy;
  readonly maxAttempts: number;
  readonly maxElapsed: number;
  readonly stableAfter: number;
  readonly shouldRetry: ((error: NetError) => boolean) | undefined;
  readonly shuffle: boolean | undefined;
  readonly onConnect: ((conn: Connection) => void | Promise<void>) | undefined;
  readonly handshakeTimeout: number;
  readonly heartbeat: HeartbeatSettings | undefined;
  readonly writeStallTimeout: number;
  readonly offlineQueue: boolean;
  readonly maxQueuedBytes: number;
  readonly maxQueuedWrites: number;
  readonly overflow: OverflowPolicy | undefined;
  readonly writeDeadline: number;
  readonly maxUnreadBytes: number;
  readonly closeTimeout: number;
  readonly session: WindowSize | undefined;
}

// `satisfies` makes the compiler flag a key added to the options type but not here.
const OPTION_KEYS: readonly string[] = Object.keys({
  codec: true,
  connectTimeout: true,
  tls: true,
  family: true,
  attemptDelay: true,
  lookup: true,
  localAddress: true,
  backoff: true,
  maxAttempts: true,
  maxElapsed: true,
  stableAfter: true,
  shouldRetry: true,
  shuffle: true,
  onConnect: true,
  handshakeTimeout: true,
  heartbeat: true,
  writeStallTimeout: true,
  offlineQueue: true,
  maxQueuedBytes: true,
  maxQueuedWrites: true,
  overflow: true,
  writeDeadline: true,
  maxUnreadBytes: true,
  closeTimeout: true,
  session: true,
  noDelay: true,
  keepAlive: true,
} satisfies Record<keyof ReconnectingOptions, true>);

/** Socket options that make no sense for a client that owns its connections. */
const REFUSED: Readonly<Record<string, string>> = {
  allowHalfOpen: "the client closes a connection the peer half-closed, and reconnects",
  borrowedChunks: "received chunks are held in the client's inbox beyond the next read",
  maxBufferedBytes: "the client stops writing at the high-water mark and queues; bound the queue with maxQueuedBytes",
};

function positiveInteger(name: string, value: unknown, fallback: number): number {
  if (value === undefined) return fallback;
  if (value === Infinity) return Infinity;
  if (typeof value !== "number" || !Number.isSafeInteger(value) || value < 1) throw invalidOption(name, value, "a positive integer or Infinity");
  return value;
}

/**
 * Validates every option of `reconnecting()` once, and fills in defaults.
 *
 * @example
 * ```ts
 * import { reconnectingSettings } from "./options.ts";
 * import { memoryTransport } from "../../adapters/memory.ts";
 * reconnectingSettings({ maxAtempts: 3 } as object, memoryTransport); // throws ERR_INVALID_OPTION: unknown option "maxAtempts"
 * ```
 */
export function reconnectingSettings<T>(options: ReconnectingOptions<T>, transport: Transport): ReconnectingSettings<T> {
  if (options === null || typeof options !== "object") throw invalidOption("options", options, "an object");
  for (const key of Object.keys(options)) {
    const why = REFUSED[key];
    if (why) throw invalidOption(key, (options as Record<string, unknown>)[key], `absent for reconnecting(): ${why}`);
  }
  checkKnownKeys(options, OPTION_KEYS);
  checkSocketOptions(options, transport);
  const codec = options.codec;
  if (codec !== undefined && (codec === null || typeof codec.encode !== "function" || typeof codec.createDecoder !== "function")) {
    throw invalidOption("codec", codec, "a Codec (encode and createDecoder)");
  }
  for (const name of ["shouldRetry", "onConnect"] as const) {
    if (options[name] !== undefined && typeof options[name] !== "function") throw invalidOption(name, options[name], "a function");
  }
  const session = options.session === undefined ? undefined : sessionClientWindow(options.session);
  if (session) {
    // Each writes raw bytes (or times writes) outside the session's own stream and acknowledgements.
    for (const name of ["heartbeat", "onConnect", "writeDeadline"] as const) {
      if (options[name] !== undefined) throw invalidOption(name, options[name], "absent with session (the session protocol owns the connection's bytes)");
    }
  }
  const offlineQueue = options.offlineQueue ?? true;
  if (typeof offlineQueue !== "boolean") throw invalidOption("offlineQueue", offlineQueue, "a boolean");
  return {
    codec,
    socketOptions: {
      noDelay: options.noDelay,
      keepAlive: options.keepAlive ?? true,
      tls: options.tls,
      family: options.family,
      attemptDelay: options.attemptDelay,
      lookup: options.lookup,
      localAddress: options.localAddress,
    },
    connectTimeout: checkMillis("connectTimeout", options.connectTimeout) ?? DEFAULT_CONNECT_TIMEOUT,
    backoff: createBackoff(options.backoff),
    maxAttempts: positiveInteger("maxAttempts", options.maxAttempts, Infinity),
    maxElapsed: checkMillis("maxElapsed", options.maxElapsed) ?? Infinity,
    stableAfter: checkMillis("stableAfter", options.stableAfter) ?? DEFAULT_STABLE_AFTER,
    shouldRetry: options.shouldRetry,
    shuffle: options.shuffle,
    onConnect: options.onConnect,
    handshakeTimeout: checkMillis("handshakeTimeout", options.handshakeTimeout, 1) ?? DEFAULT_HANDSHAKE_TIMEOUT,
    heartbeat: options.heartbeat === undefined ? undefined : heartbeatSettings(options.heartbeat),
    writeStallTimeout: checkMillis("writeStallTimeout", options.writeStallTimeout, 1) ?? DEFAULT_WRITE_STALL_TIMEOUT,
    offlineQueue,
    maxQueuedBytes: positiveInteger("maxQueuedBytes", options.maxQueuedBytes, DEFAULT_MAX_QUEUED_BYTES),
    maxQueuedWrites: positiveInteger("maxQueuedWrites", options.maxQueuedWrites, DEFAULT_MAX_QUEUED_WRITES),
    overflow: options.overflow,
    writeDeadline: checkMillis("writeDeadline", options.writeDeadline) ?? Infinity,
    maxUnreadBytes: positiveInteger("maxUnreadBytes", options.maxUnreadBytes, DEFAULT_MAX_UNREAD_BYTES),
    closeTimeout: checkMillis("closeTimeout", options.closeTimeout) ?? DEFAULT_CLOSE_TIMEOUT,
    session,
  };
}
