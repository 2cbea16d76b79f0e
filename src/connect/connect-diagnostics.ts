/**
 * Publishes `connect()` on the diagnostics channels: start, then end or
 * error with the duration, and the client's TLS handshake.
 *
 * @module
 */

import { formatAddress, parseAddress, type AddressInput } from "../address.ts";
import { realClock } from "../timers/clock.ts";
import type { Connection } from "../connection.ts";
import { channels, connectId } from "../observability/diagnostics.ts";
import { toNetError } from "../errors.ts";

/**
 * Runs `open` (one `connect()`), publishing its start, end or error when
 * someone listens; otherwise just runs it.
 *
 * @example
 * ```ts
 * import { observeConnect } from "./connect-diagnostics.ts";
 * declare function dial(): Promise<import("../connection.ts").Connection>;
 * const conn = await observeConnect("node", "127.0.0.1:7000", dial);
 * ```
 */
export function observeConnect(transport: string, input: AddressInput, open: () => Promise<Connection>): Promise<Connection> {
  if (!connectObserved()) return open();
  const { connectStart, connectEnd, connectError, tlsHandshake } = channels;
  const id = connectId();
  const address = label(input);
  const started = realClock.now();
  if (connectStart.hasSubscribers) connectStart.publish({ id, address, transport });
  return open().then(
    (conn) => {
      const duration = realClock.now() - started;
      if (connectEnd.hasSubscribers) {
        connectEnd.publish({ id, address, transport, duration, localAddress: conn.localAddress, remoteAddress: conn.remoteAddress, tls: conn.tls !== undefined });
      }
      if (conn.tls !== undefined && tlsHandshake.hasSubscribers) {
        tlsHandshake.publish({ side: "client", address, duration, tlsVersion: conn.tls.tlsVersion, alpnProtocol: conn.tls.alpnProtocol, error: undefined });
      }
      return conn;
    },
    (caught: unknown) => {
      const duration = realClock.now() - started;
      const error = toNetError(caught, address);
      if (connectError.hasSubscribers) connectError.publish({ id, address, transport, duration, error });
      if ((error.code === "ERR_TLS" || error.code === "ERR_TLS_CERT") && tlsHandshake.hasSubscribers) {
        tlsHandshake.publish({ side: "client", address, duration, tlsVersion: undefined, alpnProtocol: undefined, error });
      }
      throw caught;
    },
  );
}

/**
 * Whether any connect channel has a subscriber: a caller can then skip making the `open` closure of
 * {@link observeConnect}.
 *
 * @example
 * ```ts
 * import { connectObserved } from "./connect-diagnostics.ts";
 * if (connectObserved()) console.log("connects are being traced");
 * ```
 */
export function connectObserved(): boolean {
  const { connectStart, connectEnd, connectError, tlsHandshake } = channels;
  return connectStart.hasSubscribers || connectEnd.hasSubscribers || connectError.hasSubscribers || tlsHandshake.hasSubscribers;
}

/** The address as the connect's errors name it; what the user passed if it does not parse (connect rejects it then). */
function label(input: AddressInput): string {
  try {
    return formatAddress(parseAddress(input));
  } catch {
    return typeof input === "string" ? input : JSON.stringify(input);
  }
}
