/**
 * Writing a PROXY protocol header, as a balancer does: what
 * `connect(address, { proxyHeader })` sends before anything else.
 *
 * @module
 */

import { invalidOption } from "../errors.ts";
import { crc32c } from "./crc32c.ts";
import { formatIPv4, formatIPv6, parseIPv4, parseIPv6 } from "./ip.ts";
import { PROXY_V2_SIGNATURE } from "./parse.ts";
import type { ProxyEndpoint, ProxyHeaderOptions } from "./types.ts";

const ascii = new TextEncoder();
const HEADER_KEYS = new Set(["version", "command", "source", "destination", "tlvs", "crc32c"]);

type Resolved = { kind: "ip"; bytes: Uint8Array; v6: boolean; port: number } | { kind: "unix"; path: Uint8Array };

function resolve(name: string, endpoint: ProxyEndpoint | undefined): Resolved {
  if (endpoint === null || typeof endpoint !== "object") throw invalidOption(name, endpoint, "{ hostname, port } or { path }");
  if ("path" in endpoint) {
    const path = typeof endpoint.path === "string" ? ascii.encode(endpoint.path) : undefined;
    if (!path || path.length === 0 || path.length > 107 || path.includes(0)) throw invalidOption(`${name}.path`, endpoint.path, "a Unix path of 1 to 107 bytes");
    return { kind: "unix", path };
  }
  const { hostname, port } = endpoint;
  if (typeof port !== "number" || !Number.isInteger(port) || port < 0 || port > 0xffff) throw invalidOption(`${name}.port`, port, "an integer from 0 to 65535");
  const v4 = typeof hostname === "string" ? parseIPv4(hostname) : undefined;
  const v6 = typeof hostname === "string" && !v4 ? parseIPv6(hostname) : undefined;
  if (!v4 && !v6) throw invalidOption(`${name}.hostname`, hostname, "an IPv4 or IPv6 literal");
  return v4 ? { kind: "ip", bytes: v4, v6: false, port } : { kind: "ip", bytes: v6!, v6: true, port };
}

/**
 * Encodes a PROXY protocol header; invalid options throw ERR_INVALID_OPTION
 * (so `connect()` fails before dialling). Source and destination must be of
 * one family; Unix paths, TLVs and CRC32C need version 2.
 *
 * @example
 * ```ts
 * import { encodeProxyHeader } from "./encode.ts";
 * const bytes = encodeProxyHeader({ version: 1, source: { hostname: "203.0.113.9", port: 51000 }, destination: { hostname: "10.0.0.1", port: 443 } });
 * console.log(new TextDecoder().decode(bytes)); // "PROXY TCP4 203.0.113.9 10.0.0.1 51000 443\r\n"
 * ```
 */
export function encodeProxyHeader(options: ProxyHeaderOptions): Uint8Array {
  if (options === null || typeof options !== "object") throw invalidOption("proxyHeader", options, "an object");
  for (const key of Object.keys(options)) if (!HEADER_KEYS.has(key)) throw invalidOption(`proxyHeader.${key}`, (options as unknown as Record<string, unknown>)[key], `a known key (${[...HEADER_KEYS].join(", ")})`);
  const { version } = options;
  if (version !== 1 && version !== 2) throw invalidOption("proxyHeader.version", version, "1 or 2");
  const command = options.command ?? "PROXY";
  if (command !== "PROXY" && command !== "LOCAL") throw invalidOption("proxyHeader.command", command, '"PROXY" or "LOCAL"');
  if (version === 1 && (options.tlvs !== undefined || options.crc32c !== undefined)) throw invalidOption("proxyHeader.tlvs", options.tlvs ?? options.crc32c, "used with version 2 (v1 has no TLVs)");
  let endpoints: [Resolved, Resolved] | undefined;
  if (command === "PROXY") {
    const source = resolve("proxyHeader.source", options.source);
    const destination = resolve("proxyHeader.destination", options.destination);
    if (source.kind !== destination.kind || (source.kind === "ip" && destination.kind === "ip" && source.v6 !== destination.v6)) {
      throw invalidOption("proxyHeader.destination", options.destination, "of the same address family as source");
    }
    endpoints = [source, destination];
  } else if (options.source !== undefined || options.destination !== undefined) {
    throw invalidOption("proxyHeader.source", options.source ?? options.destination, 'left out with command "LOCAL" (it carries no addresses)');
  }
  return version === 1 ? encodeV1(endpoints) : encodeV2(endpoints, options);
}

function encodeV1(endpoints: [Resolved, Resolved] | undefined): Uint8Array {
  if (!endpoints) return ascii.encode("PROXY UNKNOWN\r\n");
  const [s, d] = endpoints;
  if (s.kind !== "ip" || d.kind !== "ip") throw invalidOption("proxyHeader.source", "a Unix path", "an IP endpoint with version 1 (v1 has no Unix addresses)");
  const text = (r: { bytes: Uint8Array; v6: boolean }) => (r.v6 ? formatIPv6(r.bytes) : formatIPv4(r.bytes));
  return ascii.encode(`PROXY ${s.v6 ? "TCP6" : "TCP4"} ${text(s)} ${text(d)} ${s.port} ${d.port}\r\n`);
}

function encodeV2(endpoints: [Resolved, Resolved] | undefined, options: ProxyHeaderOptions): Uint8Array {
  let family = 0x00;
  let block = new Uint8Array(0);
  if (endpoints) {
    const [s, d] = endpoints;
    if (s.kind === "unix" && d.kind === "unix") {
      family = 0x31;
      block = new Uint8Array(216);
      block.set(s.path, 0);
      block.set(d.path, 108);
    } else if (s.kind === "ip" && d.kind === "ip") {
      const size = s.v6 ? 16 : 4;
      family = s.v6 ? 0x21 : 0x11;
      block = new Uint8Array(size * 2 + 4);
      block.set(s.bytes, 0);
      block.set(d.bytes, size);
      const view = new DataView(block.buffer);
      view.setUint16(size * 2, s.port);
      view.setUint16(size * 2 + 2, d.port);
    }
  }
  const tlvs = options.tlvs ?? [];
  if (!Array.isArray(tlvs)) throw invalidOption("proxyHeader.tlvs", tlvs, "an array of { type, value }");
  for (const [i, tlv] of tlvs.entries()) {
    const ok = tlv !== null && typeof tlv === "object" && Number.isInteger(tlv.type) && tlv.type >= 0 && tlv.type <= 0xff && tlv.value instanceof Uint8Array && tlv.value.length <= 0xffff;
    if (!ok || tlv.type === 0x03) throw invalidOption(`proxyHeader.tlvs[${i}]`, tlv, "{ type: 0-255 (not 3: use crc32c), value: a Uint8Array of at most 65535 bytes }");
  }
  if (options.crc32c !== undefined && typeof options.crc32c !== "boolean") throw invalidOption("proxyHeader.crc32c", options.crc32c, "a boolean");
  const withCrc = options.crc32c === true;
  const length = block.length + tlvs.reduce((n, t) => n + 3 + t.value.length, 0) + (withCrc ? 7 : 0);
  if (length > 0xffff) throw invalidOption("proxyHeader.tlvs", `${length} bytes`, "at most 65535 bytes of addresses and TLVs");
  const out = new Uint8Array(16 + length);
  const view = new DataView(out.buffer);
  out.set(PROXY_V2_SIGNATURE, 0);
  out[12] = endpoints ? 0x21 : 0x20;
  out[13] = family;
  view.setUint16(14, length);
  out.set(block, 16);
  let at = 16 + block.length;
  for (const tlv of tlvs) {
    out[at] = tlv.type;
    view.setUint16(at + 1, tlv.value.length);
    out.set(tlv.value, at + 3);
    at += 3 + tlv.value.length;
  }
  if (withCrc) {
    out[at] = 0x03;
    view.setUint16(at + 1, 4);
    view.setUint32(at + 3, crc32c(out));
  }
  return out;
}
