/**
 * The options of sessions, on both sides, their defaults and validation.
 *
 * @module
 */

import type { Codec } from "../framing/codec.ts";
import { invalidOption } from "../errors.ts";
import { checkKnownKeys, checkMillis } from "../options.ts";
import type { WindowSize } from "./envelope.ts";

/**
 * Default session window: 1 024 frames and 1 MiB sent but not yet acknowledged.
 *
 * @example
 * ```ts
 * import { reconnecting } from "wireline";
 * const client = reconnecting("127.0.0.1:7000", { session: { window: { frames: 4096 } } }); // default 1024 frames, 1 MiB
 * ```
 */
export const DEFAULT_SESSION_WINDOW: WindowSize = Object.freeze({ frames: 1024, bytes: 1024 * 1024 });
/**
 * Default `ttl`: a server keeps a session whose client is gone for 30 s.
 *
 * @example
 * ```ts
 * import { listen } from "wireline";
 * const server = await listen({ port: 7000, session: { ttl: 60_000 } }, async (session) => { // default 30 000
 *   for await (const frame of session) console.log(frame.length);
 * });
 * ```
 */
export const DEFAULT_SESSION_TTL: number = 30_000;
/**
 * Default `maxSessions`: 1 024 sessions held by one server.
 *
 * @example
 * ```ts
 * import { listen } from "wireline";
 * const server = await listen({ port: 7000, session: { maxSessions: 10_000 } }, async (session) => { // default 1024
 *   for await (const frame of session) console.log(frame.length);
 * });
 * ```
 */
export const DEFAULT_MAX_SESSIONS: number = 1024;
/** The largest window: a session's whole window must fit a connection's write buffer. */
const MAX_WINDOW_BYTES = 8 * 1024 * 1024;

/**
 * The window of a session side: how much it sends without an
 * acknowledgement, and how much it holds unread for its application. The
 * smaller of the two sides' windows applies to each direction.
 *
 * @example
 * ```ts
 * import { reconnecting } from "wireline";
 * const client = reconnecting("127.0.0.1:7000", { session: { window: { frames: 256, bytes: 256 * 1024 } } });
 * ```
 */
export interface SessionWindowOptions {
  /** Frames sent and not yet acknowledged. An integer ≥ 1; default 1 024. */
  readonly frames?: number;
  /** Bytes sent and not yet acknowledged (and the largest frame). An integer from 64 to 8 MiB; default 1 MiB. */
  readonly bytes?: number;
}

/**
 * `reconnecting(target, { session: { ... } })`.
 *
 * @example
 * ```ts
 * import { reconnecting } from "wireline";
 * const client = reconnecting("127.0.0.1:7000", { session: { window: { frames: 256 } } });
 * ```
 */
export interface SessionClientOptions {
  readonly window?: SessionWindowOptions;
}

/**
 * `listen({ session: { ... } }, handler)`.
 *
 * @example
 * ```ts
 * import { listen, lines } from "wireline";
 * await listen({ port: 7000, session: { ttl: 60_000, maxSessions: 10_000, codec: lines() } }, async (session) => {
 *   for await (const line of session) await session.send(line);
 * });
 * ```
 */
export interface SessionServerOptions<T = Uint8Array> {
  /** Ms a session waits for its client to come back before it expires. Default 30 000. */
  readonly ttl?: number;
  /** Sessions held at once; a HELLO beyond it is refused (`ERR_SESSION_REFUSED` at the client, which retries). Default 1 024. */
  readonly maxSessions?: number;
  readonly window?: SessionWindowOptions;
  /** Ms a connection may take to send its HELLO or RESUME. Default 10 000. */
  readonly handshakeTimeout?: number;
  /** Frames in this codec instead of raw byte messages; it must match the client's. */
  readonly codec?: Codec<T>;
}

/** {@link SessionServerOptions} validated, with defaults. */
export interface SessionServerSettings<T> {
  readonly ttl: number;
  readonly maxSessions: number;
  readonly window: WindowSize;
  readonly handshakeTimeout: number;
  readonly codec: Codec<T> | undefined;
}

function integer(name: string, value: unknown, min: number, max: number, fallback: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== "number" || !Number.isSafeInteger(value) || value < min || value > max) throw invalidOption(name, value, `an integer from ${min} to ${max}`);
  return value;
}

/**
 * Validates a window; throws `ERR_INVALID_OPTION`.
 *
 * @example
 * ```ts
 * import { sessionWindow } from "./session-options.ts";
 * sessionWindow({ frames: 16 }); // { frames: 16, bytes: 1048576 }
 * ```
 */
export function sessionWindow(options: SessionWindowOptions | undefined, name = "session.window"): WindowSize {
  if (options === undefined) return DEFAULT_SESSION_WINDOW;
  if (options === null || typeof options !== "object") throw invalidOption(name, options, "an object { frames, bytes }");
  checkKnownKeys(options, ["frames", "bytes"], name);
  return {
    frames: integer(`${name}.frames`, options.frames, 1, 2 ** 31, DEFAULT_SESSION_WINDOW.frames),
    bytes: integer(`${name}.bytes`, options.bytes, 64, MAX_WINDOW_BYTES, DEFAULT_SESSION_WINDOW.bytes),
  };
}

/**
 * Validates the client's `session` option.
 *
 * @example
 * ```ts
 * import { sessionClientWindow } from "./session-options.ts";
 * sessionClientWindow(true); // the default window
 * ```
 */
export function sessionClientWindow(options: true | SessionClientOptions): WindowSize {
  if (options === true) return DEFAULT_SESSION_WINDOW;
  if (options === null || typeof options !== "object") throw invalidOption("session", options, "true or { window }");
  checkKnownKeys(options, ["window"], "session");
  return sessionWindow(options.window);
}

/**
 * Validates the server's `session` option.
 *
 * @example
 * ```ts
 * import { sessionServerSettings } from "./session-options.ts";
 * sessionServerSettings({ ttl: 5_000 }).maxSessions; // 1024
 * ```
 */
export function sessionServerSettings<T>(options: true | SessionServerOptions<T>): SessionServerSettings<T> {
  const given: SessionServerOptions<T> = options === true ? {} : options;
  if (given === null || typeof given !== "object") throw invalidOption("session", options, "true or { ttl, maxSessions, window, handshakeTimeout, codec }");
  checkKnownKeys(given, ["ttl", "maxSessions", "window", "handshakeTimeout", "codec"], "session");
  const codec = given.codec;
  if (codec !== undefined && (codec === null || typeof codec.encode !== "function" || typeof codec.createDecoder !== "function")) {
    throw invalidOption("session.codec", codec, "a Codec (encode and createDecoder)");
  }
  return {
    ttl: checkMillis("session.ttl", given.ttl, 1) ?? DEFAULT_SESSION_TTL,
    maxSessions: integer("session.maxSessions", given.maxSessions, 1, 2 ** 31, DEFAULT_MAX_SESSIONS),
    window: sessionWindow(given.window),
    handshakeTimeout: checkMillis("session.handshakeTimeout", given.handshakeTimeout, 1) ?? 10_000,
    codec,
  };
}
