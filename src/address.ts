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
 * import { validatePort } from "wireline";
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

function checkHostname(hostname: string, input: unknown): string {
  if (hostname === "") throw invalid(input, "empty host");
  if (/[\s/]/.test(hostname)) throw invalid(input, `host "${hostname}" contains a space or slash`);
  if (hostname.includes(":") && !isIPv6(hostname)) throw invalid(input, `"${hostname}" is not a valid IPv6 address`);
  return hostname;
}

/** A loose but safe IPv6 literal check: hex groups, at most one `::`, optional zone. */
function isIPv6(text: string): boolean {
  const [addr, zone, ...rest] = text.split("%");
  if (rest.length > 0 || zone === "") return false;
  if (!/^[0-9a-fA-F:.]+$/.test(addr!)) return false;
  const doubles = addr!.split("::").length - 1;
  if (doubles > 1) return false;
  const groups = addr!.split(":").filter((g) => g !== "");
  return groups.length <= 8 && groups.every((g) => g.length <= 4 || g.includes("."));
}

/**
 * Parses any accepted address form into an {@link Address}, or throws a
 * {@link NetError} with code `ERR_INVALID_ADDRESS` that names the problem.
 *
 * @example
 * ```ts
 * import { parseAddress } from "wireline";
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
      if (!isIPv6(host)) throw invalid(input, `"${host}" is not a valid IPv6 address`);
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
    if (typeof input.path !== "string" || input.path === "") throw invalid(input, "empty Unix socket path");
    return { transport: "unix", path: input.path };
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
 * import { formatAddress } from "wireline";
 * formatAddress({ transport: "tcp", hostname: "::1", port: 80 }); // "[::1]:80"
 * ```
 */
export function formatAddress(address: Address): string {
  if (address.transport === "unix") return address.path;
  return address.hostname.includes(":") ? `[${address.hostname}]:${address.port}` : `${address.hostname}:${address.port}`;
}
