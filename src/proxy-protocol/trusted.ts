/**
 * The peers allowed to send a PROXY header: addresses and CIDR ranges, IPv4
 * and IPv6, matched against the socket's real peer.
 *
 * @module
 */

import { invalidOption } from "../errors.ts";
import type { SocketAddress } from "../address.ts";
import { isV4Mapped, parseIP } from "./ip.ts";

interface Range {
  readonly bytes: Uint8Array;
  readonly prefix: number;
}

/**
 * A set of addresses and CIDR ranges. IPv4-mapped IPv6 peers
 * (`::ffff:10.0.0.1`, as a dual-stack listener reports them) match IPv4
 * entries.
 *
 * @example
 * ```ts
 * import { TrustedPeers } from "./trusted.ts";
 * const trusted = new TrustedPeers(["10.0.0.0/8", "::1"]);
 * console.log(trusted.has({ transport: "tcp", hostname: "10.1.2.3", port: 4000, family: "IPv4" })); // true
 * ```
 */
export class TrustedPeers {
  readonly #ranges: readonly Range[];

  /** Parses `entries`; a malformed one throws ERR_INVALID_OPTION naming it. */
  constructor(entries: readonly string[], optionName = "proxyProtocol.trusted") {
    if (!Array.isArray(entries)) throw invalidOption(optionName, entries, "an array of addresses and CIDR ranges");
    this.#ranges = entries.map((entry, i) => parseRange(entry, `${optionName}[${i}]`));
  }

  /** True if `address` is a TCP peer inside one of the ranges. */
  has(address: SocketAddress | undefined): boolean {
    if (address?.transport !== "tcp") return false;
    let bytes = parseIP(address.hostname);
    if (!bytes) return false;
    if (isV4Mapped(bytes)) bytes = bytes.subarray(12);
    for (const range of this.#ranges) if (inRange(bytes, range)) return true;
    return false;
  }
}

function parseRange(entry: unknown, name: string): Range {
  const expected = 'an IP address or CIDR range ("10.0.0.0/8", "fd00::/8")';
  if (typeof entry !== "string") throw invalidOption(name, entry, expected);
  const slash = entry.indexOf("/");
  let bytes = parseIP(slash < 0 ? entry : entry.slice(0, slash));
  if (!bytes) throw invalidOption(name, entry, expected);
  let prefix = bytes.length * 8;
  if (slash >= 0) {
    const text = entry.slice(slash + 1);
    if (!/^(0|[1-9][0-9]{0,2})$/.test(text) || Number(text) > bytes.length * 8) throw invalidOption(name, entry, `${expected} with a prefix of 0 to ${bytes.length * 8}`);
    prefix = Number(text);
  }
  if (isV4Mapped(bytes) && prefix >= 96) {
    bytes = bytes.subarray(12);
    prefix -= 96;
  }
  return { bytes, prefix };
}

function inRange(bytes: Uint8Array, range: Range): boolean {
  if (bytes.length !== range.bytes.length) return false;
  const full = range.prefix >> 3;
  for (let i = 0; i < full; i++) if (bytes[i] !== range.bytes[i]) return false;
  const bits = range.prefix & 7;
  if (bits === 0) return true;
  const mask = (0xff << (8 - bits)) & 0xff;
  return (bytes[full]! & mask) === (range.bytes[full]! & mask);
}
