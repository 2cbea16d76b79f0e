/**
 * Publishes a server's accepts, refusals, filter rejections and TLS
 * handshakes on the diagnostics channels. Each function returns at once
 * when nobody listens.
 *
 * @module
 */

import { formatAddress, type SocketAddress } from "../address.ts";
import { realClock } from "../timers/clock.ts";
import { channels } from "../observability/diagnostics.ts";
import { NetError, toNetError } from "../errors.ts";
import type { RefusedReason } from "../refused-reason.ts";
import type { RawSocket } from "../transport.ts";

/**
 * `wireline:server:accept`. The socket's address is read only if someone subscribed.
 *
 * @example
 * ```ts
 * import { publishAccept } from "./server-diagnostics.ts";
 * import type { RawSocket } from "../transport.ts";
 * declare const accepted: RawSocket;
 * publishAccept(undefined, accepted);
 * ```
 */
export function publishAccept(server: SocketAddress | undefined, socket: RawSocket): void {
  if (channels.serverAccept.hasSubscribers) channels.serverAccept.publish({ server: name(server), remoteAddress: socket.remoteAddress });
}

/**
 * `wireline:server:refuse`.
 *
 * @example
 * ```ts
 * import { publishRefuse } from "./server-diagnostics.ts";
 * publishRefuse(undefined, undefined, "full");
 * ```
 */
export function publishRefuse(server: SocketAddress | undefined, remoteAddress: SocketAddress | undefined, reason: RefusedReason): void {
  if (channels.serverRefuse.hasSubscribers) channels.serverRefuse.publish({ server: name(server), remoteAddress, reason });
}

/**
 * `wireline:server:filter`: the filter said no (`error` undefined), threw, or timed out.
 *
 * @example
 * ```ts
 * import { publishFiltered } from "./server-diagnostics.ts";
 * publishFiltered(undefined, undefined, undefined);
 * ```
 */
export function publishFiltered(server: SocketAddress | undefined, remoteAddress: SocketAddress | undefined, error: unknown): void {
  if (!channels.serverFilter.hasSubscribers) return;
  const failure = error === undefined ? undefined : error instanceof NetError ? error : toNetError(error);
  channels.serverFilter.publish({ server: name(server), remoteAddress, error: failure });
}

/**
 * `wireline:tls:handshake` (server side) once `handshake` settles, timed from now (accept).
 *
 * @example
 * ```ts
 * import { observeServerHandshake } from "./server-diagnostics.ts";
 * declare const raw: import("../transport.ts").RawSocket;
 * if (raw.handshake) observeServerHandshake(raw, raw.handshake);
 * ```
 */
export function observeServerHandshake(raw: RawSocket, handshake: Promise<void>): void {
  const channel = channels.tlsHandshake;
  if (!channel.hasSubscribers) return;
  const started = realClock.now();
  const address = raw.remoteAddress === undefined ? "" : formatAddress(raw.remoteAddress);
  handshake.then(
    () => {
      const tls = raw.tls;
      channel.publish({ side: "server", address, duration: realClock.now() - started, tlsVersion: tls?.tlsVersion, alpnProtocol: tls?.alpnProtocol, error: undefined });
    },
    (error: unknown) => {
      channel.publish({ side: "server", address, duration: realClock.now() - started, tlsVersion: undefined, alpnProtocol: undefined, error: toNetError(error, address, "ERR_TLS") });
    },
  );
}

function name(server: SocketAddress | undefined): string {
  return server === undefined ? "" : formatAddress(server);
}
