/**
 * Parsing and formatting of the addresses wireline accepts.
 *
 * @module
 */

import { NetError } from "./errors.ts";

/** A TCP endpoint: a host name or IP literal, and a port. */
export interface TcpAddress {
  readonly transport: "tcp";
  /** Host name or IP literal, without brackets for IPv6. */
  readonly hostname: string;
  readonly port: number;
}

/** A Unix domain socket endpoint. */
export interface UnixAddress {
  readonly transport: "unix";
  readonly path: string;
}

/** The address of one end of an open connection. */
export type SocketAddress =
  | { readonly transport: "tcp"; readonly hostname: string; readonly port: number; readonly family: "IPv4" | "IPv6" }
  | { readonly transport: "unix"; readonly path: string };

/** One address a host name resolved to. */
export interface ResolvedAddress {
  /** An IP literal, without brackets. */
  readonly address: string;
  readonly family: 4 | 6;
}

/** A parsed, validated endpoint. */
export type Address = TcpAddress | UnixAddress;

/** What `connect()` accepts: `"host:port"`, `"[::1]:port"`, `{ hostname, port }` or `{ path }`. */
export type AddressInput = string | { hostname?: string; port: number } | { path: string };

function invalid(input: unknown, why: string): NetError {
  const shown = typeof input === "string" ? JSON.stringify(input) : safeJson(input);
  return new NetError("ERR_INVALID_ADDRESS", `invalid address ${shown}: ${why}`);
}

function safeJson(value: unknown): string {
  try {
    return JSON.stringify(value) ?? String(value);
  } catch {
    return String(value);
  }
}

/**
 * Checks that a port is an integer in 0..65535 (0 only where `allowZero`).
 *
 * @example
 * ```ts
 * import { validatePort } from "./address.ts"; // internal: connect() and listen() validate ports
 * validatePort(8080, "127.0.0.1:8080"); // ok
 * ```
 */
export function validatePort(port: unknown, input: unknown, allowZero = false): number {
  if (typeof port !== "number" || !Number.isInteger(port)) throw invalid(input, "port must be an integer");
  if (port < (allowZero ? 0 : 1) || port > 65535) {
    throw invalid(input, `port ${port} is out of range ${allowZero ? 0 : 1}-65535`);
  }
  return port;
}

function parsePortText(text: string, input: unknown, allowZero: boolean): number {
  if (text === "") throw invalid(input, "missing port");
  if (!/^\d+$/.test(text)) throw invalid(input, `port "${text}" is not a number`);
  return validatePort(Number(text), input, allowZero);
}

/** Longest DNS name, in characters, without a trailing dot (RFC 1035). */
const MAX_HOSTNAME_LENGTH = 253;
/** Longest DNS label (RFC 1035). */
const MAX_LABEL_LENGTH = 63;
/**
 * Longest Unix socket path in bytes: Linux's sun_path holds 108 bytes with the
 * terminating NUL. Node 20 silently binds a truncated name past it, so the
 * limit is checked here, the same for every runtime.
 */
const MAX_UNIX_PATH_BYTES = 107;

// C0 controls, DEL, whitespace and "/" can never be part of a host; NUL would cut the name short in C.
const FORBIDDEN_HOST_CHARACTER = /[\u0000-\u0020\u007f/]/;

function describeCharacter(hostname: string): string {
  const found = FORBIDDEN_HOST_CHARACTER.exec(hostname)![0];
  if (found === "/") return "a slash";
  if (found === " ") return "a space";
  return `the control character U+${found.charCodeAt(0).toString(16).toUpperCase().padStart(4, "0")}`;
}

function checkHostname(hostname: string, input: unknown): string {
  if (hostname === "") throw invalid(input, "empty host");
  if (FORBIDDEN_HOST_CHARACTER.test(hostname)) throw invalid(input, `host contains ${describeCharacter(hostname)}`);
  if (hostname.includes(":")) {
    checkIPv6(hostname, input);
    return hostname;
  }
  // Lengths in characters: an internationalised label never gets shorter once encoded, so this never refuses a valid name.
  const name = hostname.endsWith(".") ? hostname.slice(0, -1) : hostname;
  for (const label of name.split(".")) {
    if (label === "") throw invalid(input, "host name has an empty label (two dots in a row, or a leading dot)");
    if (label.length > MAX_LABEL_LENGTH) throw invalid(input, `host name label of ${label.length} characters (at most ${MAX_LABEL_LENGTH})`);
  }
  if (name.length > MAX_HOSTNAME_LENGTH) throw invalid(input, `host name is ${name.length} characters long (at most ${MAX_HOSTNAME_LENGTH})`);
  return hostname;
}

/**
 * Checks an IPv6 literal. Zone ids (`fe80::1%eth0`) are refused: the runtimes
 * disagree on them (Deno resolves only numeric zones, Node accepts an unknown
 * zone silently), so no behaviour would be the same everywhere.
 */
function checkIPv6(text: string, input: unknown): void {
  if (text.includes("%")) throw invalid(input, `IPv6 zone ids ("%${text.slice(text.indexOf("%") + 1)}") are not supported`);
  if (!isIPv6(text)) throw invalid(input, `"${text}" is not a valid IPv6 address`);
}

/** A loose but safe IPv6 literal check: hex groups, at most one `::`. */
function isIPv6(addr: string): boolean {
  if (!/^[0-9a-fA-F:.]+$/.test(addr)) return false;
  const doubles = addr.split("::").length - 1;
  if (doubles > 1) return false;
  const groups = addr.split(":").filter((g) => g !== "");
  return groups.length <= 8 && groups.every((g) => g.length <= 4 || g.includes("."));
}

function checkUnixPath(path: unknown, input: unknown): string {
  if (typeof path !== "string" || path === "") throw invalid(input, "empty Unix socket path");
  if (path.includes("\u0000")) throw invalid(input, "Unix socket path contains a NUL byte (abstract sockets are not supported)");
  const bytes = new TextEncoder().encode(path).length;
  if (bytes > MAX_UNIX_PATH_BYTES) throw invalid(input, `Unix socket path is ${bytes} bytes long (at most ${MAX_UNIX_PATH_BYTES})`);
  return path;
}

/**
 * Parses any accepted address form into an {@link Address}, or throws a
 * {@link NetError} with code `ERR_INVALID_ADDRESS` that names the problem.
 *
 * @example
 * ```ts
 * import { parseAddress } from "wireline/transport";
 * parseAddress("localhost:6379"); // { transport: "tcp", hostname: "localhost", port: 6379 }
 * parseAddress("[::1]:443");      // { transport: "tcp", hostname: "::1", port: 443 }
 * parseAddress({ path: "/tmp/app.sock" }); // { transport: "unix", path: "/tmp/app.sock" }
 * ```
 */
export function parseAddress(input: AddressInput, options?: { allowPortZero?: boolean }): Address {
  const allowZero = options?.allowPortZero ?? false;
  if (typeof input === "string") {
    const text = input.trim();
    if (text === "") throw invalid(input, "empty address");
    if (text.startsWith("[")) {
      const close = text.indexOf("]");
      if (close < 0) throw invalid(input, "missing ']' after IPv6 address");
      const host = text.slice(1, close);
      const after = text.slice(close + 1);
      if (!after.startsWith(":")) throw invalid(input, after === "" ? "missing port" : "expected ':' after ']'");
      checkIPv6(host, input);
      return { transport: "tcp", hostname: host, port: parsePortText(after.slice(1), input, allowZero) };
    }
    const colon = text.lastIndexOf(":");
    if (colon < 0) throw invalid(input, "missing port (expected host:port)");
    const host = text.slice(0, colon);
    if (host.includes(":")) throw invalid(input, "IPv6 addresses must be written as [addr]:port");
    return { transport: "tcp", hostname: checkHostname(host, input), port: parsePortText(text.slice(colon + 1), input, allowZero) };
  }
  if (input === null || typeof input !== "object") throw invalid(input, "expected a string or an object");
  if ("path" in input) {
    return { transport: "unix", path: checkUnixPath(input.path, input) };
  }
  const hostname = (input as { hostname?: unknown }).hostname ?? "localhost";
  if (typeof hostname !== "string") throw invalid(input, "hostname must be a string");
  const host = hostname.startsWith("[") && hostname.endsWith("]") ? hostname.slice(1, -1) : hostname;
  return { transport: "tcp", hostname: checkHostname(host, input), port: validatePort(input.port, input, allowZero) };
}

/**
 * Formats an address the way error messages and logs show it.
 *
 * @example
 * ```ts
 * import { formatAddress } from "wireline/transport";
 * formatAddress({ transport: "tcp", hostname: "::1", port: 80 }); // "[::1]:80"
 * ```
 */
export function formatAddress(address: Address): string {
  if (address.transport === "unix") return address.path;
  return address.hostname.includes(":") ? `[${address.hostname}]:${address.port}` : `${address.hostname}:${address.port}`;
}

/**
 * A TCP end as a runtime reports it, text and port, with its family read from
 * the text (only IPv6 text has a colon): no runtime call for the family.
 * Undefined when either part is missing (a runtime that forgot a closed socket's).
 *
 * @example
 * ```ts
 * import { tcpSocketAddress } from "./address.ts";
 * tcpSocketAddress("::1", 80); // { transport: "tcp", hostname: "::1", port: 80, family: "IPv6" }
 * ```
 */
export function tcpSocketAddress(hostname: string | undefined, port: number | undefined): SocketAddress | undefined {
  if (!hostname || port === undefined) return undefined;
  return { transport: "tcp", hostname, port, family: hostname.includes(":") ? "IPv6" : "IPv4" };
}
