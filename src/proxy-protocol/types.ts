/**
 * What a PROXY protocol header (HAProxy's specification, v1 text and v2
 * binary) says about a proxied connection, and the options that turn it on.
 *
 * @module
 */

import type { SocketAddress } from "../address.ts";

/** One v2 TLV (type-length-value) as it came on the wire. */
export interface ProxyTlv {
  readonly type: number;
  readonly value: Uint8Array;
}

/** The v2 PP2_TYPE_SSL TLV: what the balancer knows of the client's TLS session. */
export interface ProxySslInfo {
  /** The raw `client` bit field (PP2_CLIENT_SSL 0x01, PP2_CLIENT_CERT_CONN 0x02, PP2_CLIENT_CERT_SESS 0x04). */
  readonly client: number;
  /** The client spoke TLS to the balancer (PP2_CLIENT_SSL). */
  readonly ssl: boolean;
  /** The client presented a certificate on this connection (PP2_CLIENT_CERT_CONN). */
  readonly certInConnection: boolean;
  /** The client presented a certificate at least once in this TLS session (PP2_CLIENT_CERT_SESS). */
  readonly certInSession: boolean;
  /** The `verify` field was 0: the client's certificate, if any, was verified. */
  readonly verified: boolean;
  /** PP2_SUBTYPE_SSL_VERSION, e.g. "TLSv1.3". */
  readonly version?: string;
  /** PP2_SUBTYPE_SSL_CN: the client certificate's Common Name. */
  readonly commonName?: string;
  /** PP2_SUBTYPE_SSL_CIPHER, e.g. "TLS_AES_128_GCM_SHA256". */
  readonly cipher?: string;
  /** PP2_SUBTYPE_SSL_SIG_ALG: the certificate's signature algorithm. */
  readonly signatureAlgorithm?: string;
  /** PP2_SUBTYPE_SSL_KEY_ALG: the certificate's key algorithm. */
  readonly keyAlgorithm?: string;
}

/** The v2 TLVs wireline understands, decoded; every TLV also stays in `all`. */
export interface ProxyTlvs {
  /** PP2_TYPE_ALPN: the protocol the client negotiated with the balancer, e.g. "h2". */
  readonly alpn?: string;
  /** PP2_TYPE_AUTHORITY: the host name the client asked for (TLS SNI or Host). */
  readonly authority?: string;
  /** PP2_TYPE_UNIQUE_ID: the balancer's opaque id of this connection (up to 128 bytes). */
  readonly uniqueId?: Uint8Array;
  /** PP2_TYPE_SSL. */
  readonly ssl?: ProxySslInfo;
  /** PP2_TYPE_NETNS: the network namespace the balancer accepted the connection in. */
  readonly netns?: string;
  /** Every TLV of the header, known or not, in order (PP2_TYPE_NOOP included). */
  readonly all: readonly ProxyTlv[];
}

/** The transport protocol and family a header announces. */
export type ProxiedProtocol = "TCP4" | "TCP6" | "UDP4" | "UDP6" | "UNIX_STREAM" | "UNIX_DGRAM" | "UNKNOWN";

/** A parsed PROXY protocol header. */
export interface ProxyHeader {
  readonly version: 1 | 2;
  /**
   * "PROXY": a relayed connection, whose addresses are `source` and
   * `destination`. "LOCAL": the balancer's own connection (a health check);
   * the socket's addresses stand.
   */
  readonly command: "PROXY" | "LOCAL";
  readonly protocol: ProxiedProtocol;
  /** The client, as the balancer saw it; undefined for LOCAL and UNKNOWN/UNSPEC. */
  readonly source: SocketAddress | undefined;
  /** The address the client dialled; undefined for LOCAL and UNKNOWN/UNSPEC. */
  readonly destination: SocketAddress | undefined;
  /** v2 TLVs; empty for v1. */
  readonly tlvs: ProxyTlvs;
}

/**
 * What `conn.proxy` holds for a connection that arrived with a PROXY header.
 *
 * @example
 * ```ts
 * import { listen } from "wireline";
 * await listen({ port: 0, proxyProtocol: { trusted: ["10.0.0.0/8"] } }, (conn) => {
 *   console.log(conn.remoteAddress, "via", conn.proxy?.via, conn.proxy?.tlvs.authority);
 *   conn.close();
 * });
 * ```
 */
export interface ProxyInfo extends ProxyHeader {
  /** The real socket peer: the balancer that sent the header. */
  readonly via: SocketAddress | undefined;
}

/** `listen({ proxyProtocol })` in its object form. */
export interface ProxyProtocolOptions {
  /**
   * Addresses (`"10.0.0.7"`, `"::1"`) and CIDR ranges (`"10.0.0.0/8"`,
   * `"fd00::/8"`) allowed to send a header. A header from any other peer
   * closes the connection; without `optional`, such peers are refused at
   * accept. IPv4-mapped IPv6 peers (`::ffff:a.b.c.d`) match IPv4 entries.
   * Default: every peer. Only for TCP listeners.
   */
  trusted?: readonly string[];
  /**
   * Serve peers that send no header as they are, with the socket's
   * addresses, instead of refusing them. A peer that stays silent for
   * `timeout` ms is then served too (it may be waiting for the server to
   * speak first). Default false.
   */
  optional?: boolean;
  /** How long to wait for the complete header, in ms; default 5 000; 0 waits forever. */
  timeout?: number;
}

/** An endpoint written into a PROXY header by a client: an IP literal and port, or a Unix path (v2 only). */
export type ProxyEndpoint = { readonly hostname: string; readonly port: number } | { readonly path: string };

/**
 * `connect(address, { proxyHeader })`: the header a client sends before
 * anything else, as a balancer written with wireline would.
 *
 * @example
 * ```ts
 * import { connect } from "wireline";
 * const conn = await connect("127.0.0.1:8080", {
 *   proxyHeader: { version: 2, source: { hostname: "203.0.113.9", port: 51000 }, destination: { hostname: "10.0.0.1", port: 443 } },
 * });
 * ```
 */
export interface ProxyHeaderOptions {
  readonly version: 1 | 2;
  /** "LOCAL" (v2) or UNKNOWN (v1) sends no addresses: a health check. Default "PROXY". */
  readonly command?: "PROXY" | "LOCAL";
  /** The client being relayed. Required for "PROXY". */
  readonly source?: ProxyEndpoint;
  /** The address it dialled; same family as `source`. Required for "PROXY". */
  readonly destination?: ProxyEndpoint;
  /** v2 only: TLVs to append, in order (type 0x03, CRC32C, is computed by `crc32c`). */
  readonly tlvs?: readonly ProxyTlv[];
  /** v2 only: append a PP2_TYPE_CRC32C checksum of the header. Default false. */
  readonly crc32c?: boolean;
}
