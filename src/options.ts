/**
 * Validation of the socket options shared by clients and servers.
 *
 * @module
 */

import { checkKeepAliveCapability } from "./capabilities.ts";
import { invalidOption, NetError } from "./errors.ts";
import type { RawSocket, Transport } from "./transport.ts";

/** Per-socket options, with the same defaults on every runtime. */
export interface SocketOptions {
  /** Disable Nagle's algorithm. Default true on every runtime (the runtimes' own defaults differ). */
  noDelay?: boolean;
  /**
   * TCP keep-alive: `false` (default) off, `true` on with the system's probe
   * delay, or the idle time in ms (≥ 1000) before the first probe.
   */
  keepAlive?: boolean | number;
  /** Keep the write side open after the peer half-closes. Default false. */
  allowHalfOpen?: boolean;
  /**
   * Each chunk from iteration stays valid only until the next iteration step,
   * after which wireline may read into its memory again: copy what you keep.
   * For bulk readers that process each chunk at once; it saves allocating and
   * zero-filling a buffer per read where the runtime reads into JavaScript
   * memory (Deno). Not for `framed()`, whose frames are views into chunks.
   * Default false.
   */
  borrowedChunks?: boolean;
  /**
   * Hard cap on bytes buffered in user space, in bytes (default 16 MiB). A
   * `write()` made while this much is already buffered, by a caller that did
   * not wait for the previous one, rejects with ERR_BUFFER_FULL.
   */
  maxBufferedBytes?: number;
}

/**
 * Checks a value that must be a finite number of milliseconds ≥ `min`, or undefined.
 *
 * @example
 * ```ts
 * import { checkMillis } from "./options.ts";
 * checkMillis("timeout", 5000); // ok
 * ```
 */
export function checkMillis(name: string, value: unknown, min = 0): number | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== "number" || Number.isNaN(value) || value < min || (value !== Infinity && !Number.isFinite(value))) {
    throw invalidOption(name, value, `a number of milliseconds ≥ ${min}`);
  }
  return value;
}

/**
 * Validates {@link SocketOptions} eagerly, so a bad option, or one the
 * transport cannot honour, fails before any socket exists.
 *
 * @example
 * ```ts
 * import { checkSocketOptions } from "./options.ts";
 * import { nodeTransport } from "../adapters/node.ts";
 * checkSocketOptions({ noDelay: true, keepAlive: 30_000 }, nodeTransport);
 * ```
 */
export function checkSocketOptions(options: SocketOptions, transport?: Transport): void {
  const { noDelay, keepAlive, allowHalfOpen } = options;
  if (noDelay !== undefined && typeof noDelay !== "boolean") throw invalidOption("noDelay", noDelay, "a boolean");
  if (allowHalfOpen !== undefined && typeof allowHalfOpen !== "boolean") throw invalidOption("allowHalfOpen", allowHalfOpen, "a boolean");
  if (options.borrowedChunks !== undefined && typeof options.borrowedChunks !== "boolean") {
    throw invalidOption("borrowedChunks", options.borrowedChunks, "a boolean");
  }
  const cap = options.maxBufferedBytes;
  if (cap !== undefined && (typeof cap !== "number" || !Number.isInteger(cap) || cap < 65_536)) {
    throw invalidOption("maxBufferedBytes", cap, "an integer number of bytes ≥ 65536");
  }
  if (keepAlive !== undefined && typeof keepAlive !== "boolean") {
    // Node silently ignores delays under one second; refusing them keeps the runtimes alike.
    if (typeof keepAlive !== "number" || !Number.isInteger(keepAlive) || keepAlive < 1000) {
      throw invalidOption("keepAlive", keepAlive, "false, true, or an integer delay in ms ≥ 1000");
    }
  }
  if (transport !== undefined) checkKeepAliveCapability(transport.capabilities, keepAlive);
}

/**
 * Refuses keys of an options object that are not in `known`, naming the first
 * one, so that a misspelt option (`keepalive`, `rejectUnauthorised`) fails
 * instead of being silently ignored. `name` prefixes nested objects ("tls").
 *
 * @example
 * ```ts
 * import { checkKnownKeys } from "./options.ts";
 * checkKnownKeys({ timeout: 1000, keepalive: true }, ["timeout", "keepAlive"]); // ERR_INVALID_OPTION: unknown option "keepalive"
 * ```
 */
export function checkKnownKeys(options: object, known: readonly string[], name?: string): void {
  for (const key of Object.keys(options)) {
    if (known.includes(key)) continue;
    const shown = name === undefined ? key : `${name}.${key}`;
    const near = known.find((k) => k.toLowerCase() === key.toLowerCase());
    const hint = near === undefined ? `known options: ${known.join(", ")}` : `did you mean "${near}"?`;
    throw new NetError("ERR_INVALID_OPTION", `unknown option "${shown}" (${hint})`);
  }
}

/**
 * Applies {@link SocketOptions} to a freshly opened raw socket. Adapters throw
 * ERR_UNSUPPORTED for what their runtime cannot do (a keep-alive delay on Deno).
 *
 * @example
 * ```ts
 * import { applySocketOptions } from "./options.ts";
 * import type { RawSocket } from "./transport.ts";
 * declare const raw: RawSocket;
 * applySocketOptions(raw, { keepAlive: 10_000 }, true);
 * ```
 */
export function applySocketOptions(raw: RawSocket, options: SocketOptions, isTcp: boolean): void {
  if (!isTcp) return;
  raw.setNoDelay(options.noDelay ?? true);
  const keepAlive = options.keepAlive ?? false;
  if (keepAlive !== false) raw.setKeepAlive(true, keepAlive === true ? undefined : keepAlive);
}
