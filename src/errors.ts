/**
 * One error class for every network failure, with a `code` that is the same on
 * Node, Deno and Bun for the same failure.
 *
 * @module
 */

/**
 * Stable error codes. Runtime-specific codes are normalised to one of these;
 * anything unknown keeps the runtime's own `code` when it has one.
 */
export type NetErrorCode =
  | "ECONNREFUSED"
  | "ENOTFOUND"
  | "ETIMEDOUT"
  | "ECONNRESET"
  | "ENETUNREACH"
  | "EHOSTUNREACH"
  | "EPIPE"
  | "EADDRINUSE"
  | "EADDRNOTAVAIL"
  | "EACCES"
  | "ENOENT"
  | "ABORT_ERR"
  | "ERR_SOCKET_CLOSED"
  | "ERR_INVALID_ADDRESS"
  | "ERR_INVALID_OPTION"
  | "ERR_UNSUPPORTED"
  | "ERR_QUEUE_FULL"
  | "ERR_BUFFER_FULL"
  | "ERR_INVALID_STATE"
  | "ERR_WRITE_DROPPED"
  | "ERR_WRITE_DEADLINE"
  | "ERR_RETRIES_EXHAUSTED"
  | "ERR_STALE_CONNECTION"
  | "ERR_NOT_CONNECTED"
  | "ERR_HANDSHAKE_FAILED"
  | "ERR_TLS_CERT"
  | "ERR_TLS"
  | "ERR_FRAME_TOO_LARGE"
  | "ERR_FRAME_MALFORMED"
  | "ERR_REPLY_TIMEOUT"
  | "ERR_CONNECTION_LOST"
  | "ERR_PROXY_PROTOCOL"
  | "ERR_HANDLER"
  | "ERR_SESSION_LOST"
  | "ERR_SESSION_REFUSED"
  | "ERR_SESSION_PROTOCOL"
  | "EUNKNOWN";

/** Registered (`Symbol.for`), so every copy of wireline in a process shares it. */
const NET_ERROR_BRAND: unique symbol = Symbol.for("wireline.NetError");

/**
 * Whether `value` is an object whose prototype chain carries `brand`: the
 * `instanceof` of wireline's error classes, true across module copies.
 *
 * @example
 * ```ts
 * import { hasBrand } from "./errors.ts";
 * hasBrand(new Error("x"), Symbol.for("wireline.NetError")); // false
 * ```
 */
export function hasBrand(value: unknown, brand: symbol): boolean {
  return typeof value === "object" && value !== null && (value as Record<symbol, unknown>)[brand] === true;
}

/**
 * The error every wireline operation rejects or closes with.
 *
 * @example
 * ```ts
 * import { connect, NetError } from "wireline";
 * try {
 *   await connect("127.0.0.1:1");
 * } catch (err) {
 *   if (err instanceof NetError && err.code === "ECONNREFUSED") {
 *     console.log("nobody listens there:", err.message);
 *   }
 * }
 * ```
 */
export class NetError extends Error {
  static {
    Object.defineProperty(this.prototype, NET_ERROR_BRAND, { value: true });
  }

  /**
   * `instanceof NetError` holds for a NetError made by any copy of wireline:
   * its ESM and CommonJS builds (the dual-package hazard), or two installed
   * versions. It checks a brand that every NetError carries instead of the
   * prototype chain; subclasses without their own brand keep the ordinary check.
   */
  static override [Symbol.hasInstance]<T>(this: abstract new (...args: never[]) => T, value: unknown): value is T {
    return this === (NetError as unknown) ? hasBrand(value, NET_ERROR_BRAND) : Function.prototype[Symbol.hasInstance].call(this, value);
  }

  /** The stable code, identical on every runtime for the same failure. */
  readonly code: NetErrorCode;
  /** The address involved, formatted as `host:port`, `[v6]:port` or a Unix path. */
  readonly address: string | undefined;

  constructor(
    code: NetErrorCode,
    message: string,
    options?: { cause?: unknown; address?: string },
  ) {
    const where = options?.address ? ` (${options.address})` : "";
    super(`${code}: ${message}${where}`, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = "NetError";
    this.code = code;
    this.address = options?.address;
  }
}

const KNOWN_CODES: ReadonlySet<string> = new Set<NetErrorCode>([
  "ECONNREFUSED",
  "ENOTFOUND",
  "ETIMEDOUT",
  "ECONNRESET",
  "ENETUNREACH",
  "EHOSTUNREACH",
  "EPIPE",
  "EADDRINUSE",
  "EADDRNOTAVAIL",
  "EACCES",
  "ENOENT",
  "ABORT_ERR",
]);

/** Web-standard DOMException names mapped to codes. Runtime-specific error classes are their adapter's to map. */
const NAME_TO_CODE: Readonly<Record<string, NetErrorCode>> = {
  TimeoutError: "ETIMEDOUT",
  AbortError: "ABORT_ERR",
};

const CODE_ALIASES: Readonly<Record<string, NetErrorCode>> = {
  EAI_AGAIN: "ENOTFOUND",
  EAI_NONAME: "ENOTFOUND",
  EAI_FAIL: "ENOTFOUND",
  ERR_SOCKET_CLOSED_BEFORE_CONNECTION: "ECONNRESET",
  ERR_STREAM_DESTROYED: "ERR_SOCKET_CLOSED",
  ERR_SOCKET_CLOSED: "ERR_SOCKET_CLOSED",
  ECONNABORTED: "ECONNRESET",
  // A component of a Unix socket's path is a file, not a directory.
  ENOTDIR: "ENOENT",
  // bind/connect refuse the address itself (a link-local IPv6 address without its zone id).
  EINVAL: "ERR_INVALID_ADDRESS",
};

/**
 * Normalises any runtime error into a {@link NetError}. Adapters call it with
 * their own errors; it reads `code` first, then a web-standard `name`
 * (AbortError, TimeoutError), then takes `fallback`: the code the adapter
 * read from its runtime's own error classes.
 *
 * @example
 * ```ts
 * import { toNetError } from "wireline/transport";
 * const err = toNetError(Object.assign(new Error("boom"), { code: "ECONNRESET" }), "10.0.0.1:80");
 * console.log(err.code); // "ECONNRESET"
 * ```
 */
export function toNetError(error: unknown, address?: string, fallback: NetErrorCode = "EUNKNOWN"): NetError {
  if (error instanceof NetError) return error;
  const e = error as { code?: unknown; name?: unknown; message?: unknown } | undefined;
  const rawCode = typeof e?.code === "string" ? e.code : undefined;
  const name = typeof e?.name === "string" ? e.name : undefined;
  let code: NetErrorCode = fallback;
  if (rawCode && KNOWN_CODES.has(rawCode)) code = rawCode as NetErrorCode;
  else if (rawCode && rawCode in CODE_ALIASES) code = CODE_ALIASES[rawCode]!;
  else if (name && name in NAME_TO_CODE) code = NAME_TO_CODE[name]!;
  const message = firstLine(typeof e?.message === "string" && e.message ? e.message : String(error));
  return new NetError(code, describe(code, message, rawCode), { cause: error, address });
}

/**
 * The first non-empty line of a runtime's message, trimmed: some (OpenSSL's
 * error queue) span several lines, and an error message is one line; the
 * full text stays in `cause`.
 *
 * @example
 * ```ts
 * import { firstLine } from "./errors.ts";
 * firstLine("wrong version number:ssl3_record.c:354:\n"); // "wrong version number:ssl3_record.c:354:"
 * ```
 */
export function firstLine(message: string): string {
  return message.split(/\r?\n/).find((line) => line.trim() !== "")?.trim() ?? "";
}

function describe(code: NetErrorCode, runtimeMessage: string, rawCode: string | undefined): string {
  switch (code) {
    case "ECONNREFUSED":
      return "connection refused";
    case "ENOTFOUND":
      return `host name could not be resolved (${runtimeMessage})`;
    case "ETIMEDOUT":
      return "operation timed out";
    case "ECONNRESET":
      return "connection reset by peer";
    case "EPIPE":
      return "broken pipe: the peer closed the connection";
    case "EADDRINUSE":
      return "address already in use";
    case "EACCES":
      return `permission denied (${runtimeMessage})`;
    case "ENOENT":
      return rawCode === "ENOTDIR" ? "a component of the Unix socket's path is not a directory" : "no such Unix socket, or its directory does not exist";
    case "ENETUNREACH":
      return "network is unreachable: no route to that network";
    case "EHOSTUNREACH":
      return "host is unreachable: no route to it";
    case "ERR_INVALID_ADDRESS":
      return `the system refused the address (${runtimeMessage})`;
    case "ABORT_ERR":
      return "operation aborted";
    case "ERR_SOCKET_CLOSED":
      return "socket is closed";
    default:
      return runtimeMessage;
  }
}

/**
 * Creates the ERR_UNSUPPORTED error used when a runtime cannot honour an option.
 *
 * @example
 * ```ts
 * import { unsupported } from "wireline/transport";
 * throw unsupported("reusePort", "Node 20 has no SO_REUSEPORT; use Node 22.12+");
 * ```
 */
export function unsupported(feature: string, reason: string): NetError {
  return new NetError("ERR_UNSUPPORTED", `${feature} is not supported here: ${reason}`);
}

/**
 * Creates the ERR_INVALID_OPTION error for an option outside its range.
 *
 * @example
 * ```ts
 * import { invalidOption } from "wireline/transport";
 * throw invalidOption("timeout", -1, "a non-negative number of milliseconds");
 * ```
 */
export function invalidOption(name: string, value: unknown, expected: string): NetError {
  return new NetError("ERR_INVALID_OPTION", `option "${name}" must be ${expected}, got ${String(value)}`);
}
