/**
 * An incremental PROXY protocol header parser (HAProxy's specification):
 * v1 (text) and v2 (binary) told apart by their first bytes, fed chunks as
 * they arrive, with a hard bound on what it holds (107 bytes for v1, the
 * declared v2 length, at most 16 + 65 535). It never throws on input: hostile
 * bytes give an `invalid` result naming the problem.
 *
 * @module
 */

import { crc32c } from "./crc32c.ts";
import { formatIPv4, formatIPv6, parseIPv4, parseIPv6 } from "./ip.ts";
import type { ProxiedProtocol, ProxyHeader, ProxySslInfo, ProxyTlv, ProxyTlvs } from "./types.ts";
import type { SocketAddress } from "../address.ts";

/** The 12 bytes every v2 header starts with. */
export const PROXY_V2_SIGNATURE: Uint8Array = Uint8Array.of(0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a);
/** The longest v1 header, CRLF included (the specification's bound). */
export const MAX_PROXY_V1_HEADER = 107;
/** The longest v2 header: 16 fixed bytes and a 16-bit length. */
export const MAX_PROXY_V2_HEADER: number = 16 + 0xffff;

const V1_PREFIX = Uint8Array.of(0x50, 0x52, 0x4f, 0x58, 0x59, 0x20); // "PROXY "
const utf8 = new TextDecoder();
const NO_TLVS: ProxyTlvs = Object.freeze({ all: Object.freeze([]) as readonly ProxyTlv[] });

/** What {@link ProxyHeaderParser.push} found. */
export type ProxyParseResult =
  /** Not enough bytes yet. */
  | { readonly status: "more" }
  /** A complete header; `rest` holds the bytes that followed it in the same chunks. */
  | { readonly status: "header"; readonly header: ProxyHeader; readonly rest: Uint8Array }
  /** The bytes cannot start a header: `data` is everything received so far, untouched. */
  | { readonly status: "absent"; readonly data: Uint8Array }
  /** A header that is malformed or too long. */
  | { readonly status: "invalid"; readonly reason: string };

const MORE: ProxyParseResult = Object.freeze({ status: "more" });

function invalid(reason: string): ProxyParseResult {
  return { status: "invalid", reason };
}

/**
 * Parses one PROXY header from the start of a byte stream. Feed chunks to
 * {@link ProxyHeaderParser.push} until the result is not "more"; the parser is
 * then done, and pushing again throws.
 *
 * @example
 * ```ts
 * import { ProxyHeaderParser } from "./parse.ts";
 * const parser = new ProxyHeaderParser();
 * const result = parser.push(new TextEncoder().encode("PROXY TCP4 203.0.113.9 10.0.0.1 51000 443\r\nGET /"));
 * if (result.status === "header") console.log(result.header.source, result.rest.length); // ... 5
 * ```
 */
export class ProxyHeaderParser {
  #buf: Uint8Array = new Uint8Array(64);
  #len = 0;
  #done = false;

  /** Bytes received so far (held until a result other than "more"). */
  get received(): number {
    return this.#len;
  }

  /** A copy of the bytes held so far (a header prefix, while the result is "more"). */
  held(): Uint8Array {
    return this.#buf.slice(0, this.#len);
  }

  /** Adds a chunk; the chunk is copied, never kept. */
  push(chunk: Uint8Array): ProxyParseResult {
    if (this.#done) throw new Error("ProxyHeaderParser.push() after a final result");
    this.#append(chunk);
    const result = this.#parse();
    if (result.status !== "more") this.#done = true;
    return result;
  }

  #append(chunk: Uint8Array): void {
    const need = this.#len + chunk.length;
    if (need > this.#buf.length) {
      const grown = new Uint8Array(Math.max(need, this.#buf.length * 2));
      grown.set(this.#buf.subarray(0, this.#len));
      this.#buf = grown;
    }
    this.#buf.set(chunk, this.#len);
    this.#len = need;
  }

  #parse(): ProxyParseResult {
    const bytes = this.#buf.subarray(0, this.#len);
    const v1 = startsLike(bytes, V1_PREFIX);
    const v2 = startsLike(bytes, PROXY_V2_SIGNATURE);
    if (!v1 && !v2) return { status: "absent", data: bytes.slice() };
    if (v1 && bytes.length >= V1_PREFIX.length) return parseV1(bytes);
    if (v2 && bytes.length >= 16) return parseV2(bytes);
    return MORE;
  }
}

/** `bytes` and `prefix` agree on their common length. */
function startsLike(bytes: Uint8Array, prefix: Uint8Array): boolean {
  const n = Math.min(bytes.length, prefix.length);
  for (let i = 0; i < n; i++) if (bytes[i] !== prefix[i]) return false;
  return true;
}

function parseV1(bytes: Uint8Array): ProxyParseResult {
  const scan = Math.min(bytes.length, MAX_PROXY_V1_HEADER);
  let end = -1;
  for (let i = 0; i < scan; i++) {
    const b = bytes[i]!;
    if (b === 0x0d) {
      if (i + 1 >= bytes.length) return MORE;
      if (bytes[i + 1] !== 0x0a) return invalid("v1 header: CR not followed by LF");
      end = i;
      break;
    }
    if (b < 0x20 || b > 0x7e) return invalid(`v1 header: unexpected byte 0x${b.toString(16).padStart(2, "0")}`);
  }
  if (end < 0) return bytes.length >= MAX_PROXY_V1_HEADER ? invalid(`v1 header: no CRLF within ${MAX_PROXY_V1_HEADER} bytes`) : MORE;
  const line = String.fromCharCode(...bytes.subarray(V1_PREFIX.length, end));
  const rest = bytes.slice(end + 2);
  const fields = line.split(" ");
  if (fields[0] === "UNKNOWN") {
    return { status: "header", rest, header: { version: 1, command: "PROXY", protocol: "UNKNOWN", source: undefined, destination: undefined, tlvs: NO_TLVS } };
  }
  if (fields[0] !== "TCP4" && fields[0] !== "TCP6") return invalid(`v1 header: unknown protocol "${fields[0]}"`);
  if (fields.length !== 5) return invalid(`v1 header: expected 5 fields after "PROXY", got ${fields.length}`);
  const [protocol, src, dst, sport, dport] = fields as [string, string, string, string, string];
  const v6 = protocol === "TCP6";
  const source = v1Endpoint(src, sport, v6);
  const destination = v1Endpoint(dst, dport, v6);
  if (typeof source === "string") return invalid(`v1 header: ${source}`);
  if (typeof destination === "string") return invalid(`v1 header: ${destination}`);
  return { status: "header", rest, header: { version: 1, command: "PROXY", protocol: v6 ? "TCP6" : "TCP4", source, destination, tlvs: NO_TLVS } };
}

/** An endpoint of a v1 line, or why it is not one. */
function v1Endpoint(ip: string, port: string, v6: boolean): SocketAddress | string {
  const bytes = v6 ? parseIPv6(ip) : parseIPv4(ip);
  if (!bytes) return `"${ip}" is not an ${v6 ? "IPv6" : "IPv4"} address`;
  if (!/^(0|[1-9][0-9]{0,4})$/.test(port) || Number(port) > 0xffff) return `"${port}" is not a port`;
  return v6
    ? { transport: "tcp", hostname: formatIPv6(bytes), port: Number(port), family: "IPv6" }
    : { transport: "tcp", hostname: formatIPv4(bytes), port: Number(port), family: "IPv4" };
}

/** Address block sizes by address family (high nibble of byte 13). */
const ADDRESS_BYTES = [0, 12, 36, 216] as const;

function parseV2(bytes: Uint8Array): ProxyParseResult {
  const verCmd = bytes[12]!;
  if (verCmd >> 4 !== 2) return invalid(`v2 header: version ${verCmd >> 4}, expected 2`);
  const cmd = verCmd & 0x0f;
  if (cmd > 1) return invalid(`v2 header: unknown command ${cmd}`);
  const family = bytes[13]! >> 4;
  const transport = bytes[13]! & 0x0f;
  if (family > 3) return invalid(`v2 header: unknown address family ${family}`);
  if (transport > 2) return invalid(`v2 header: unknown transport protocol ${transport}`);
  const length = (bytes[14]! << 8) | bytes[15]!;
  const total = 16 + length;
  if (bytes.length < total) return MORE;
  const rest = bytes.slice(total);
  const header = bytes.subarray(0, total);
  if (cmd === 0) {
    // LOCAL: the balancer speaks for itself; its address block means nothing (the specification says to skip it).
    return { status: "header", rest, header: { version: 2, command: "LOCAL", protocol: "UNKNOWN", source: undefined, destination: undefined, tlvs: NO_TLVS } };
  }
  const addressBytes = ADDRESS_BYTES[family as 0 | 1 | 2 | 3];
  if (length < addressBytes) return invalid(`v2 header: ${length} bytes cannot hold a ${addressBytes}-byte address block`);
  const block = header.subarray(16, 16 + addressBytes);
  const protocol = v2Protocol(family, transport);
  const endpoints = protocol === "UNKNOWN" ? undefined : v2Endpoints(family, block);
  const tlvs = parseTlvs(header, 16 + addressBytes);
  if (typeof tlvs === "string") return invalid(`v2 header: ${tlvs}`);
  return {
    status: "header",
    rest,
    header: { version: 2, command: "PROXY", protocol, source: endpoints?.[0], destination: endpoints?.[1], tlvs },
  };
}

function v2Protocol(family: number, transport: number): ProxiedProtocol {
  if (family === 0 || transport === 0) return "UNKNOWN";
  const stream = transport === 1;
  if (family === 1) return stream ? "TCP4" : "UDP4";
  if (family === 2) return stream ? "TCP6" : "UDP6";
  return stream ? "UNIX_STREAM" : "UNIX_DGRAM";
}

function v2Endpoints(family: number, block: Uint8Array): [SocketAddress, SocketAddress] {
  const port = (at: number) => (block[at]! << 8) | block[at + 1]!;
  if (family === 1) {
    return [
      { transport: "tcp", hostname: formatIPv4(block.subarray(0, 4)), port: port(8), family: "IPv4" },
      { transport: "tcp", hostname: formatIPv4(block.subarray(4, 8)), port: port(10), family: "IPv4" },
    ];
  }
  if (family === 2) {
    return [
      { transport: "tcp", hostname: formatIPv6(block.subarray(0, 16)), port: port(32), family: "IPv6" },
      { transport: "tcp", hostname: formatIPv6(block.subarray(16, 32)), port: port(34), family: "IPv6" },
    ];
  }
  return [{ transport: "unix", path: unixPath(block.subarray(0, 108)) }, { transport: "unix", path: unixPath(block.subarray(108, 216)) }];
}

function unixPath(bytes: Uint8Array): string {
  const nul = bytes.indexOf(0);
  return utf8.decode(nul < 0 ? bytes : bytes.subarray(0, nul));
}

/** Splits `bytes[from..]` into TLVs, or says why it cannot. */
function splitTlvs(bytes: Uint8Array, from: number): ProxyTlv[] | string {
  const out: ProxyTlv[] = [];
  let at = from;
  while (at < bytes.length) {
    if (bytes.length - at < 3) return `truncated TLV header at byte ${at}`;
    const type = bytes[at]!;
    const length = (bytes[at + 1]! << 8) | bytes[at + 2]!;
    if (at + 3 + length > bytes.length) return `TLV 0x${type.toString(16)} claims ${length} bytes, only ${bytes.length - at - 3} left`;
    out.push({ type, value: bytes.slice(at + 3, at + 3 + length) });
    at += 3 + length;
  }
  return out;
}

const PP2_TYPE_ALPN = 0x01;
const PP2_TYPE_AUTHORITY = 0x02;
const PP2_TYPE_CRC32C = 0x03;
const PP2_TYPE_UNIQUE_ID = 0x05;
const PP2_TYPE_SSL = 0x20;
const PP2_TYPE_NETNS = 0x30;
const MAX_UNIQUE_ID = 128;

function parseTlvs(header: Uint8Array, from: number): ProxyTlvs | string {
  const all = splitTlvs(header, from);
  if (typeof all === "string") return all;
  const tlvs: { -readonly [K in keyof ProxyTlvs]: ProxyTlvs[K] } = { all };
  let at = from;
  for (const tlv of all) {
    const valueAt = at + 3;
    at = valueAt + tlv.value.length;
    switch (tlv.type) {
      case PP2_TYPE_ALPN:
        tlvs.alpn = utf8.decode(tlv.value);
        break;
      case PP2_TYPE_AUTHORITY:
        tlvs.authority = utf8.decode(tlv.value);
        break;
      case PP2_TYPE_CRC32C: {
        if (tlv.value.length !== 4) return `CRC32C TLV of ${tlv.value.length} bytes, expected 4`;
        const zeroed = header.slice();
        zeroed.fill(0, valueAt, valueAt + 4);
        const expected = new DataView(tlv.value.buffer, tlv.value.byteOffset, 4).getUint32(0);
        if (crc32c(zeroed) !== expected) return "CRC32C checksum mismatch";
        break;
      }
      case PP2_TYPE_UNIQUE_ID:
        if (tlv.value.length > MAX_UNIQUE_ID) return `unique id of ${tlv.value.length} bytes, at most ${MAX_UNIQUE_ID} allowed`;
        tlvs.uniqueId = tlv.value;
        break;
      case PP2_TYPE_SSL: {
        const ssl = parseSsl(tlv.value);
        if (typeof ssl === "string") return ssl;
        tlvs.ssl = ssl;
        break;
      }
      case PP2_TYPE_NETNS:
        tlvs.netns = utf8.decode(tlv.value);
        break;
    }
  }
  return tlvs;
}

function parseSsl(value: Uint8Array): ProxySslInfo | string {
  if (value.length < 5) return `SSL TLV of ${value.length} bytes, at least 5 expected`;
  const client = value[0]!;
  const verify = new DataView(value.buffer, value.byteOffset + 1, 4).getUint32(0);
  const subs = splitTlvs(value, 5);
  if (typeof subs === "string") return `SSL TLV: ${subs}`;
  const ssl: { -readonly [K in keyof ProxySslInfo]: ProxySslInfo[K] } = {
    client,
    ssl: (client & 0x01) !== 0,
    certInConnection: (client & 0x02) !== 0,
    certInSession: (client & 0x04) !== 0,
    verified: verify === 0,
  };
  for (const sub of subs) {
    const text = utf8.decode(sub.value);
    if (sub.type === 0x21) ssl.version = text;
    else if (sub.type === 0x22) ssl.commonName = text;
    else if (sub.type === 0x23) ssl.cipher = text;
    else if (sub.type === 0x24) ssl.signatureAlgorithm = text;
    else if (sub.type === 0x25) ssl.keyAlgorithm = text;
  }
  return ssl;
}
