/**
 * Node's TLS for the Node adapter: wireline's TLS options as `node:tls` takes
 * them, and waiting for a handshake. Server sockets are built by hand (a
 * listener's accepted sockets and server-side STARTTLS alike), so that a
 * socket exists before its handshake; this module does what `tls.Server`
 * would otherwise do for them: verify the client's certificate.
 *
 * @module
 */

import { isIP } from "node:net";
import * as tls from "node:tls";
import { NetError } from "../src/errors.ts";
import type { RawTlsClientOptions, RawTlsServerOptions, TlsInfo } from "../src/tls.ts";
import { peerCertificateFrom, toOpenSslTlsError } from "./openssl-tls.ts";

/**
 * The session of a TLS socket whose handshake is done.
 *
 * @example
 * ```ts
 * import * as tls from "node:tls";
 * import { tlsInfoOf } from "./node-tls.ts";
 * declare const socket: tls.TLSSocket;
 * console.log(tlsInfoOf(socket).tlsVersion);
 * ```
 */
export function tlsInfoOf(socket: tls.TLSSocket): TlsInfo {
  return {
    alpnProtocol: socket.alpnProtocol || undefined,
    tlsVersion: socket.getProtocol() ?? undefined,
    peerCertificate: peerCertificateFrom(socket.getPeerCertificate()),
    authorized: socket.authorized,
  };
}

/**
 * Client options for `tls.connect`.
 *
 * @example
 * ```ts
 * import * as tls from "node:tls";
 * import { clientTlsOptions } from "./node-tls.ts";
 * const socket = tls.connect({ ...clientTlsOptions({ serverName: "localhost", ca: undefined, cert: undefined, key: undefined, alpn: undefined, rejectUnauthorized: true }), port: 443 });
 * ```
 */
export function clientTlsOptions(o: RawTlsClientOptions): tls.ConnectionOptions {
  const serverName = o.serverName;
  return {
    // SNI must not carry an IP address (RFC 6066); the identity check below still uses it.
    servername: isIP(serverName) !== 0 ? undefined : serverName,
    checkServerIdentity: (_host, cert) => tls.checkServerIdentity(serverName, cert),
    ca: o.ca ? [...o.ca] : undefined,
    cert: o.cert,
    key: o.key,
    ALPNProtocols: o.alpn ? [...o.alpn] : undefined,
    rejectUnauthorized: o.rejectUnauthorized,
  };
}

/**
 * Options for a hand-made server `TLSSocket`; the secure context is built once per call.
 *
 * @example
 * ```ts
 * import * as tls from "node:tls";
 * import { serverTlsOptions } from "./node-tls.ts";
 * declare const plain: import("node:net").Socket, cert: string, key: string;
 * const secure = new tls.TLSSocket(plain, serverTlsOptions({ cert, key, alpn: undefined, requestCert: false, ca: undefined }));
 * ```
 */
export function serverTlsOptions(o: RawTlsServerOptions): tls.TLSSocketOptions {
  return {
    isServer: true,
    secureContext: tls.createSecureContext({ cert: o.cert, key: o.key, ca: o.ca ? [...o.ca] : undefined }),
    requestCert: o.requestCert,
    rejectUnauthorized: o.requestCert,
    ALPNProtocols: o.alpn ? [...o.alpn] : undefined,
  };
}

/**
 * Resolves once a client socket's handshake succeeded; an error or an early
 * close rejects with ERR_TLS_CERT or ERR_TLS, after destroying the socket.
 *
 * @example
 * ```ts
 * import * as tls from "node:tls";
 * import { clientHandshake } from "./node-tls.ts";
 * const secure = await clientHandshake(tls.connect({ host: "example.com", port: 443 }), "example.com:443");
 * ```
 */
export function clientHandshake(socket: tls.TLSSocket, label: string): Promise<tls.TLSSocket> {
  return awaitHandshake(socket, "secureConnect", label, () => undefined);
}

/**
 * Resolves once a hand-made server socket's handshake succeeded and, with
 * `requestCert`, the client's certificate was verified. A hand-made server
 * `TLSSocket` neither verifies nor sets `authorized`: `tls.Server` does both
 * after the handshake, from the native handle's `verifyError()` (Node's own
 * verify callback accepts every chain so that JavaScript decides). This does
 * the same, and refuses where that method is missing.
 *
 * @example
 * ```ts
 * import * as tls from "node:tls";
 * import { serverHandshake, serverTlsOptions } from "./node-tls.ts";
 * declare const plain: import("node:net").Socket, options: import("../src/tls.ts").RawTlsServerOptions;
 * const secure = await serverHandshake(new tls.TLSSocket(plain, serverTlsOptions(options)), options.requestCert, "127.0.0.1:443");
 * ```
 */
export function serverHandshake(secure: tls.TLSSocket, requestCert: boolean, label: string): Promise<tls.TLSSocket> {
  return awaitHandshake(secure, "secure", label, () => {
    if (!requestCert) return undefined;
    const handle = (secure as unknown as { _handle?: { verifyError?(): Error | null } })._handle;
    const refusal = handle?.verifyError === undefined ? new Error("cannot verify the client certificate on this Node version") : handle.verifyError();
    if (refusal === null) secure.authorized = true;
    return refusal === null ? undefined : toOpenSslTlsError(refusal, label);
  });
}

function awaitHandshake(socket: tls.TLSSocket, event: "secureConnect" | "secure", label: string, verify: () => NetError | undefined): Promise<tls.TLSSocket> {
  return new Promise((resolve, reject) => {
    const onError = (err: Error) => {
      socket.destroy();
      reject(toOpenSslTlsError(err, label));
    };
    const onClose = () => reject(new NetError("ERR_TLS", "TLS handshake failed: the peer closed the connection", { address: label }));
    // A peer that sends its FIN before the handshake is done can never finish it, and a half-open socket
    // (allowHalfOpen, as the listener's are) would wait for handshakeTimeout: 'end' comes even paused.
    const onEnd = () => {
      socket.destroy();
      onClose();
    };
    socket.once("error", onError).once("close", onClose).once("end", onEnd);
    socket.once(event, () => {
      socket.off("error", onError).off("close", onClose).off("end", onEnd);
      const refused = verify();
      if (refused === undefined) return resolve(socket);
      socket.destroy(refused);
      reject(refused);
    });
  });
}
