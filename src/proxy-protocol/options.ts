/**
 * Validation of `listen({ proxyProtocol })`.
 *
 * @module
 */

import { invalidOption } from "../errors.ts";
import { checkMillis } from "../options.ts";
import { TrustedPeers } from "./trusted.ts";
import type { ProxyProtocolOptions } from "./types.ts";

/** Default {@link ProxyProtocolOptions.timeout}, in ms. */
export const DEFAULT_PROXY_HEADER_TIMEOUT = 5_000;

/** Validated `proxyProtocol` settings. */
export interface ProxyProtocolSettings {
  /** Undefined: every peer may send a header. */
  readonly trusted: TrustedPeers | undefined;
  readonly optional: boolean;
  /** 0: wait forever. */
  readonly timeout: number;
}

const KEYS = new Set(["trusted", "optional", "timeout"]);

/**
 * Checks `proxyProtocol` (`true` or {@link ProxyProtocolOptions}); undefined
 * when it is off. `trusted` is refused on a Unix-socket listener, whose peers
 * have no address to match.
 *
 * @example
 * ```ts
 * import { checkProxyProtocolOptions } from "./options.ts";
 * const settings = checkProxyProtocolOptions({ trusted: ["10.0.0.0/8"], timeout: 2000 }, "tcp");
 * console.log(settings?.timeout); // 2000
 * ```
 */
export function checkProxyProtocolOptions(value: unknown, transport: "tcp" | "unix"): ProxyProtocolSettings | undefined {
  if (value === undefined || value === false) return undefined;
  if (value === true) return { trusted: undefined, optional: false, timeout: DEFAULT_PROXY_HEADER_TIMEOUT };
  if (value === null || typeof value !== "object" || Array.isArray(value)) throw invalidOption("proxyProtocol", value, "true or { trusted, optional, timeout }");
  for (const key of Object.keys(value)) {
    if (!KEYS.has(key)) throw invalidOption(`proxyProtocol.${key}`, (value as Record<string, unknown>)[key], `a known key (${[...KEYS].join(", ")})`);
  }
  const o = value as ProxyProtocolOptions;
  if (o.optional !== undefined && typeof o.optional !== "boolean") throw invalidOption("proxyProtocol.optional", o.optional, "a boolean");
  if (o.trusted !== undefined && transport === "unix") throw invalidOption("proxyProtocol.trusted", o.trusted, "used with a TCP listener (Unix-socket peers have no address)");
  const ms = checkMillis("proxyProtocol.timeout", o.timeout) ?? DEFAULT_PROXY_HEADER_TIMEOUT;
  return {
    trusted: o.trusted === undefined ? undefined : new TrustedPeers(o.trusted),
    optional: o.optional === true,
    timeout: ms === Infinity ? 0 : ms,
  };
}
