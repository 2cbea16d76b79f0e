/**
 * TLS options and session information, the same on every runtime, and their
 * validation. Verification is on by default; turning it off must be asked for
 * by name (`rejectUnauthorized: false`), and runtimes that cannot honour that
 * refuse with ERR_UNSUPPORTED instead of verifying anyway or skipping silently.
 *
 * @module
 */

import { firstLine, invalidOption, NetError } from "./errors.ts";

/** Client-side TLS options for `connect(address, { tls })` and `startTls()`. */
export interface TlsClientOptions {
  /** Name sent as SNI and checked against the certificate. Default: the host name dialled. */
  serverName?: string;
  /** PEM CA certificate(s) to trust instead of the runtime's default roots. */
  ca?: string | readonly string[];
  /** PEM client certificate (chain), for mutual TLS; needs `key`. */
  cert?: string;
  /** PEM private key of `cert`. */
  key?: string;
  /** ALPN protocols to offer, most preferred first. */
  alpn?: readonly string[];
  /** Default true. `false` accepts any certificate (ERR_UNSUPPORTED on Deno). */
  rejectUnauthorized?: boolean;
}

/** Server-side TLS options for `listen({ tls })` and a server-side `startTls()`. */
export interface TlsServerOptions {
  /** PEM certificate chain. */
  cert: string;
  /** PEM private key of `cert`. */
  key: string;
  /** ALPN protocols the server accepts, most preferred first. */
  alpn?: readonly string[];
  /** Require a client certificate signed by `ca` (mutual TLS). Default false. */
  requestCert?: boolean;
  /** PEM CA certificate(s) that client certificates must chain to. */
  ca?: string | readonly string[];
}

/**
 * Options for `connection.startTls()`: client options, or server options with `isServer: true`.
 *
 * @example
 * ```ts
 * import type { StartTlsOptions } from "wireline";
 * const client: StartTlsOptions = { serverName: "mail.example.com" };
 * const server: StartTlsOptions = { isServer: true, cert: "-----BEGIN CERTIFICATE-----...", key: "-----BEGIN PRIVATE KEY-----..." };
 * ```
 */
export type StartTlsOptions = (TlsClientOptions & { isServer?: false }) | (TlsServerOptions & { isServer: true });

/** The peer's certificate, as far as the runtime reports it. */
export interface PeerCertificate {
  /** Distinguished name, e.g. "CN=localhost, O=Example". */
  readonly subject: string;
  /** The issuer's distinguished name. */
  readonly issuer: string;
  readonly validFrom: Date;
  readonly validTo: Date;
  /** SHA-256 fingerprint, colon-separated upper-case hex. */
  readonly fingerprint256: string;
  /** e.g. "DNS:localhost, IP Address:127.0.0.1", when present. */
  readonly subjectAltName: string | undefined;
}

/**
 * What is known about an established TLS session. Fields the runtime does not
 * report are undefined (Deno reports neither the version nor certificates).
 *
 * @example
 * ```ts
 * import { connect } from "wireline";
 * const conn = await connect("example.com:443", { tls: { alpn: ["http/1.1"] } });
 * console.log(conn.tls?.alpnProtocol, conn.tls?.tlsVersion, conn.tls?.peerCertificate?.subject);
 * ```
 */
export interface TlsInfo {
  /** The negotiated ALPN protocol, or undefined when none was agreed. */
  readonly alpnProtocol: string | undefined;
  /** e.g. "TLSv1.3"; undefined where the runtime does not report it. */
  readonly tlsVersion: string | undefined;
  /** The peer's certificate; undefined when the peer sent none or the runtime does not report it. */
  readonly peerCertificate: PeerCertificate | undefined;
  /** True when the peer's certificate was verified (false only with `rejectUnauthorized: false`, or a server without `requestCert`). */
  readonly authorized: boolean;
}

/** Client TLS options after validation, as a transport receives them. */
export interface RawTlsClientOptions {
  readonly serverName: string;
  readonly ca: readonly string[] | undefined;
  readonly cert: string | undefined;
  readonly key: string | undefined;
  readonly alpn: readonly string[] | undefined;
  readonly rejectUnauthorized: boolean;
}

/** Server TLS options after validation, as a transport receives them. */
export interface RawTlsServerOptions {
  readonly cert: string;
  readonly key: string;
  readonly alpn: readonly string[] | undefined;
  readonly requestCert: boolean;
  readonly ca: readonly string[] | undefined;
}

/** What `RawSocket.startTls` receives. */
export type RawStartTlsOptions =
  | { readonly isServer: false; readonly client: RawTlsClientOptions }
  | {
    readonly isServer: true;
    readonly server: RawTlsServerOptions;
    /**
     * Bytes the client sent after the go-ahead that were read before
     * `startTls()` was called: the start of its handshake (ClientHello). The
     * transport feeds them to its TLS layer first.
     */
    readonly received?: Uint8Array;
  };

function checkPem(name: string, value: unknown): string | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== "string" || !value.includes("-----BEGIN ")) throw invalidOption(name, typeof value === "string" ? "(not PEM)" : value, "a PEM string");
  return value;
}

function checkCa(name: string, value: unknown): readonly string[] | undefined {
  if (value === undefined) return undefined;
  const list = typeof value === "string" ? [value] : value;
  if (!Array.isArray(list) || list.length === 0) throw invalidOption(name, value, "a PEM string or a non-empty array of them");
  return list.map((pem, i) => checkPem(`${name}[${i}]`, pem)!);
}

function checkAlpn(name: string, value: unknown): readonly string[] | undefined {
  if (value === undefined) return undefined;
  const valid = Array.isArray(value) && value.length > 0 &&
    value.every((p) => typeof p === "string" && p.length > 0 && new TextEncoder().encode(p).length < 256);
  if (!valid) throw invalidOption(name, value, "a non-empty array of protocol names (1-255 bytes each)");
  return [...(value as string[])];
}

function checkBoolean(name: string, value: unknown): boolean | undefined {
  if (value !== undefined && typeof value !== "boolean") throw invalidOption(name, value, "a boolean");
  return value;
}

function checkKeyPair(prefix: string, cert: unknown, key: unknown): void {
  if ((cert === undefined) !== (key === undefined)) throw invalidOption(`${prefix}${cert === undefined ? "cert" : "key"}`, undefined, `set together with ${prefix}${cert === undefined ? "key" : "cert"}`);
}

/**
 * Validates client TLS options; `true` means "verify against the default roots".
 * `defaultServerName` is the dialled host name (undefined for a Unix socket, which then needs `serverName`).
 *
 * @example
 * ```ts
 * import { checkTlsClientOptions } from "./tls.ts"; // internal: connect({ tls }) calls it
 * const raw = checkTlsClientOptions(true, "example.com");
 * console.log(raw.serverName, raw.rejectUnauthorized); // "example.com" true
 * ```
 */
export function checkTlsClientOptions(tls: true | TlsClientOptions, defaultServerName: string | undefined, name = "tls"): RawTlsClientOptions {
  if (tls !== true && (typeof tls !== "object" || tls === null)) throw invalidOption(name, tls, "true or an object of TLS options");
  const o: TlsClientOptions = tls === true ? {} : tls;
  const serverName = o.serverName ?? defaultServerName;
  if (typeof serverName !== "string" || serverName === "") {
    throw invalidOption(`${name}.serverName`, o.serverName, "a host name (required for a Unix socket)");
  }
  checkKeyPair(`${name}.`, o.cert, o.key);
  return {
    serverName: serverName.startsWith("[") && serverName.endsWith("]") ? serverName.slice(1, -1) : serverName,
    ca: checkCa(`${name}.ca`, o.ca),
    cert: checkPem(`${name}.cert`, o.cert),
    key: checkPem(`${name}.key`, o.key),
    alpn: checkAlpn(`${name}.alpn`, o.alpn),
    rejectUnauthorized: checkBoolean(`${name}.rejectUnauthorized`, o.rejectUnauthorized) ?? true,
  };
}

/**
 * Validates server TLS options.
 *
 * @example
 * ```ts
 * import { checkTlsServerOptions } from "./tls.ts"; // internal: listen({ tls }) calls it
 * declare const cert: string, key: string;
 * const raw = checkTlsServerOptions({ cert, key, alpn: ["h2"] });
 * ```
 */
export function checkTlsServerOptions(tls: TlsServerOptions, name = "tls"): RawTlsServerOptions {
  if (typeof tls !== "object" || tls === null) throw invalidOption(name, tls, "an object with cert and key");
  if (tls.cert === undefined || tls.key === undefined) checkKeyPair(`${name}.`, tls.cert, tls.key);
  if (tls.cert === undefined) throw invalidOption(`${name}.cert`, undefined, "a PEM certificate (a server needs cert and key)");
  const requestCert = checkBoolean(`${name}.requestCert`, tls.requestCert) ?? false;
  const ca = checkCa(`${name}.ca`, tls.ca);
  if (requestCert && ca === undefined) throw invalidOption(`${name}.ca`, undefined, "set when requestCert is true (the CA client certificates must chain to)");
  return { cert: checkPem(`${name}.cert`, tls.cert)!, key: checkPem(`${name}.key`, tls.key)!, alpn: checkAlpn(`${name}.alpn`, tls.alpn), requestCert, ca };
}

/**
 * Turns a runtime's TLS failure into a {@link NetError}: ERR_TLS_CERT when the
 * peer's certificate was refused (unknown issuer, wrong host name, expired...),
 * ERR_TLS for any other handshake failure. Which failures are refusals is
 * runtime knowledge, so the adapter decides (`certRefused`), and may give a
 * readable `detail` (by default the first line of the error's message).
 *
 * @example
 * ```ts
 * import { toTlsError } from "wireline/transport";
 * const err = toTlsError(new Error("invalid peer certificate: Expired"), "db:5432", true);
 * console.log(err.code); // "ERR_TLS_CERT"
 * ```
 */
export function toTlsError(error: unknown, address: string | undefined, certRefused: boolean, detail?: string): NetError {
  if (error instanceof NetError) return error;
  const e = error as { code?: unknown; message?: unknown } | undefined;
  const code = typeof e?.code === "string" ? e.code : undefined;
  // A TLS library's message can span lines (OpenSSL's error queue): the first says what failed; `cause` keeps the rest.
  const what = detail ?? firstLine(typeof e?.message === "string" && e.message ? e.message : String(error));
  return certRefused
    ? new NetError("ERR_TLS_CERT", `the peer's certificate was refused: ${what}${code ? ` [${code}]` : ""}`, { cause: error, address })
    : new NetError("ERR_TLS", `TLS handshake failed: ${what}`, { cause: error, address });
}
