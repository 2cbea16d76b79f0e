/**
 * What Node and Bun share because both run OpenSSL (or its API, BoringSSL):
 * which verification codes mean "the certificate was refused", and the shape
 * of `getPeerCertificate()`. The core (`src/tls.ts`) knows none of this.
 *
 * @module
 */

import type { NetError } from "../src/errors.ts";
import { toTlsError, type PeerCertificate } from "../src/tls.ts";

/** OpenSSL verification codes (Node and Bun), all of which mean "the certificate was not accepted". */
const CERT_CODES: ReadonlySet<string> = new Set([
  "CERT_HAS_EXPIRED",
  "CERT_NOT_YET_VALID",
  "CERT_REVOKED",
  "CERT_UNTRUSTED",
  "CERT_REJECTED",
  "CERT_SIGNATURE_FAILURE",
  "CERT_CHAIN_TOO_LONG",
  "DEPTH_ZERO_SELF_SIGNED_CERT",
  "SELF_SIGNED_CERT_IN_CHAIN",
  "UNABLE_TO_GET_ISSUER_CERT",
  "UNABLE_TO_GET_ISSUER_CERT_LOCALLY",
  "UNABLE_TO_VERIFY_LEAF_SIGNATURE",
  "INVALID_CA",
  "INVALID_PURPOSE",
  "HOSTNAME_MISMATCH",
  "ERR_TLS_CERT_ALTNAME_INVALID",
]);

function codeOf(error: unknown): string | undefined {
  const code = (error as { code?: unknown } | undefined)?.code;
  return typeof code === "string" ? code : undefined;
}

/**
 * True when an OpenSSL-backed runtime's error says the peer's certificate was refused.
 *
 * @example
 * ```ts
 * import { isCertificateRefusal } from "./openssl-tls.ts";
 * console.log(isCertificateRefusal({ code: "CERT_HAS_EXPIRED" })); // true
 * ```
 */
export function isCertificateRefusal(error: unknown): boolean {
  const code = codeOf(error);
  return code !== undefined && CERT_CODES.has(code);
}

/**
 * True for an error raised by the TLS layer itself (`ERR_SSL_*`: an alert from
 * the peer, a protocol failure), as opposed to a plain socket error. Node
 * reports a server's refusal of a missing client certificate this way, after
 * the client's handshake already completed.
 *
 * @example
 * ```ts
 * import { isTlsLayerError } from "./openssl-tls.ts";
 * console.log(isTlsLayerError({ code: "ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED" })); // true
 * ```
 */
export function isTlsLayerError(error: unknown): boolean {
  const code = codeOf(error);
  return code !== undefined && (code.startsWith("ERR_SSL_") || code.startsWith("ERR_TLS_") || CERT_CODES.has(code));
}

/**
 * {@link toTlsError} with OpenSSL's classification: ERR_TLS_CERT for a refused
 * certificate, ERR_TLS otherwise.
 *
 * @example
 * ```ts
 * import { toOpenSslTlsError } from "./openssl-tls.ts";
 * const err = toOpenSslTlsError(Object.assign(new Error("certificate has expired"), { code: "CERT_HAS_EXPIRED" }), "db:5432");
 * console.log(err.code); // "ERR_TLS_CERT"
 * ```
 */
export function toOpenSslTlsError(error: unknown, address: string | undefined): NetError {
  return toTlsError(error, address, isCertificateRefusal(error), opensslReason(error));
}

/**
 * OpenSSL's reason ("wrong version number") instead of its error-queue line
 * ("40CD…:error:0A00010B:SSL routines:tls_validate_record_header:wrong version
 * number:../deps/openssl/…/tlsany_meth.c:77:"). Node gives it as `reason`;
 * Bun's BoringSSL only in the line ("error:100000f7:SSL
 * routines:OPENSSL_internal:WRONG_VERSION_NUMBER").
 */
function opensslReason(error: unknown): string | undefined {
  const e = error as { reason?: unknown; message?: unknown } | undefined;
  if (typeof e?.reason === "string" && e.reason) return e.reason;
  const line = typeof e?.message === "string" ? /error:[0-9A-Fa-f]+:[^:]*:[^:]*:([^:\n]+)/.exec(e.message) : null;
  return line ? line[1]!.trim().toLowerCase().replace(/_/g, " ") : undefined;
}

/**
 * Formats a certificate's name object (`{ CN: "localhost", O: ["A", "B"] }`) as "CN=localhost, O=A, O=B".
 *
 * @example
 * ```ts
 * import { formatDistinguishedName } from "./openssl-tls.ts";
 * console.log(formatDistinguishedName({ CN: "localhost" })); // "CN=localhost"
 * ```
 */
export function formatDistinguishedName(name: Readonly<Record<string, string | readonly string[] | undefined>> | undefined): string {
  if (!name) return "";
  const parts: string[] = [];
  for (const [k, v] of Object.entries(name)) {
    if (v === undefined) continue;
    for (const item of typeof v === "string" ? [v] : v) parts.push(`${k}=${item}`);
  }
  return parts.join(", ");
}

/** The shape of a certificate as Node's and Bun's `getPeerCertificate()` return it. */
export interface OpenSslCertificate {
  readonly subject?: Readonly<Record<string, string | readonly string[] | undefined>>;
  readonly issuer?: Readonly<Record<string, string | readonly string[] | undefined>>;
  readonly valid_from?: string;
  readonly valid_to?: string;
  readonly fingerprint256?: string;
  readonly subjectaltname?: string;
}

/**
 * Builds a {@link PeerCertificate} from an OpenSSL-style certificate object;
 * undefined for the empty object the runtimes return when the peer sent none.
 *
 * @example
 * ```ts
 * import { peerCertificateFrom } from "./openssl-tls.ts";
 * const cert = peerCertificateFrom({ subject: { CN: "a" }, issuer: { CN: "ca" }, valid_from: "Jan  1 00:00:00 2000 GMT", valid_to: "Jan  1 00:00:00 2001 GMT", fingerprint256: "AB:CD" });
 * console.log(cert?.subject); // "CN=a"
 * ```
 */
export function peerCertificateFrom(cert: OpenSslCertificate | null | undefined): PeerCertificate | undefined {
  if (!cert || cert.fingerprint256 === undefined) return undefined;
  return {
    subject: formatDistinguishedName(cert.subject),
    issuer: formatDistinguishedName(cert.issuer),
    validFrom: new Date(cert.valid_from ?? NaN),
    validTo: new Date(cert.valid_to ?? NaN),
    fingerprint256: cert.fingerprint256,
    subjectAltName: cert.subjectaltname,
  };
}
