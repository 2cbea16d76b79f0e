/**
 * What a server counts, after POCO's TCPServer, plus the filtered count and
 * byte totals POCO lacks.
 *
 * @module
 */

/**
 * A snapshot of a server's counters, read from `server.stats`.
 *
 * @example
 * ```ts
 * import { listen } from "wireline";
 * const server = await listen({ port: 0 }, (conn) => conn.close());
 * const { currentConnections, refusedConnections } = server.stats;
 * console.log(currentConnections, refusedConnections);
 * ```
 */
export interface ServerStats {
  /** Connections being served now: from dispatch until the handler has settled and the socket is closed. */
  readonly currentConnections: number;
  /** Connections dispatched to the handler since the server started. */
  readonly totalConnections: number;
  /** The highest `currentConnections` seen. */
  readonly maxConcurrentConnections: number;
  /** Accepted connections waiting for a free slot now. */
  readonly queuedConnections: number;
  /** Connections closed unserved because both limits were reached, or because the server stopped while they waited. */
  readonly refusedConnections: number;
  /** Connections the `filter` rejected, or gave no verdict on within `filterTimeout`. */
  readonly filteredConnections: number;
  /** Of `filteredConnections`, those whose filter gave no verdict within `filterTimeout`. */
  readonly filterTimeouts: number;
  /** TLS connections accepted and still in their handshake now; they count against the limits. */
  readonly handshakingConnections: number;
  /** TLS handshakes that failed (a bad certificate, a peer that is not speaking TLS, a reset). */
  readonly handshakeFailures: number;
  /** TLS handshakes not completed within `handshakeTimeout`: those connections were destroyed. */
  readonly handshakeTimeouts: number;
  /** Connections destroyed for receiving less than `minReceiveRate` while being read. */
  readonly slowConnections: number;
  /** Connections closed for a PROXY protocol header that was missing, malformed, oversize, late or from an untrusted peer. */
  readonly proxyProtocolErrors: number;
  /** Connections refused because their client already had `maxConnectionsPerClient` open (also in `refusedConnections`). */
  readonly perClientRefusals: number;
  /** Connections refused because their client exceeded `clientRate` (also in `refusedConnections`). */
  readonly clientRateRefusals: number;
  /** Bytes received on every connection, closed or open. */
  readonly bytesRead: number;
  /** Bytes handed to `write()` on every connection, closed or open. */
  readonly bytesWritten: number;
}

/** Anything whose traffic counters can be summed. */
interface ByteCounters {
  readonly bytesRead: number;
  readonly bytesWritten: number;
}

/**
 * The mutable side of {@link ServerStats}: the server records events here and
 * hands out frozen snapshots.
 *
 * @example
 * ```ts
 * import { ServerStatsRecorder } from "./server-stats.ts"; // internal: read server.stats instead
 * const stats = new ServerStatsRecorder();
 * stats.begin();
 * stats.end({ bytesRead: 10, bytesWritten: 10 });
 * console.log(stats.snapshot(0, 0, []).totalConnections); // 1
 * ```
 */
export class ServerStatsRecorder {
  #current = 0;
  #total = 0;
  #maxConcurrent = 0;
  #refused = 0;
  #filtered = 0;
  #filterTimeouts = 0;
  #handshakeFailures = 0;
  #handshakeTimeouts = 0;
  #slow = 0;
  #proxyProtocolErrors = 0;
  #perClientRefusals = 0;
  #clientRateRefusals = 0;
  #closedBytesRead = 0;
  #closedBytesWritten = 0;

  /** A connection was dispatched to the handler. */
  begin(): void {
    this.#total++;
    if (++this.#current > this.#maxConcurrent) this.#maxConcurrent = this.#current;
  }

  /** A dispatched connection finished; its bytes move to the closed totals. */
  end(connection: ByteCounters): void {
    this.#current--;
    this.addBytes(connection);
  }

  /** Adds the bytes of a connection that closed without being dispatched. */
  addBytes(connection: ByteCounters): void {
    this.#closedBytesRead += connection.bytesRead;
    this.#closedBytesWritten += connection.bytesWritten;
  }

  refused(): void {
    this.#refused++;
  }

  /** A per-client refusal; `refused()` counts it among all refusals too. */
  clientRefused(reason: "per-client" | "client-rate"): void {
    if (reason === "per-client") this.#perClientRefusals++;
    else this.#clientRateRefusals++;
  }

  filtered(): void {
    this.#filtered++;
  }

  /** The filter gave no verdict in time; also counts as filtered. */
  filterTimedOut(): void {
    this.#filtered++;
    this.#filterTimeouts++;
  }

  handshakeFailed(): void {
    this.#handshakeFailures++;
  }

  handshakeTimedOut(): void {
    this.#handshakeTimeouts++;
  }

  slow(): void {
    this.#slow++;
  }

  proxyProtocolFailed(): void {
    this.#proxyProtocolErrors++;
  }

  /**
   * Current counters. `queued` and `handshaking` are the gauges the server
   * holds; `open` are the connections still alive, whose bytes are added live.
   */
  snapshot(queued: number, handshaking: number, open: Iterable<ByteCounters>): ServerStats {
    let bytesRead = this.#closedBytesRead;
    let bytesWritten = this.#closedBytesWritten;
    for (const c of open) {
      bytesRead += c.bytesRead;
      bytesWritten += c.bytesWritten;
    }
    return Object.freeze({
      currentConnections: this.#current,
      totalConnections: this.#total,
      maxConcurrentConnections: this.#maxConcurrent,
      queuedConnections: queued,
      refusedConnections: this.#refused,
      filteredConnections: this.#filtered,
      filterTimeouts: this.#filterTimeouts,
      handshakingConnections: handshaking,
      handshakeFailures: this.#handshakeFailures,
      handshakeTimeouts: this.#handshakeTimeouts,
      slowConnections: this.#slow,
      proxyProtocolErrors: this.#proxyProtocolErrors,
      perClientRefusals: this.#perClientRefusals,
      clientRateRefusals: this.#clientRateRefusals,
      bytesRead,
      bytesWritten,
    });
  }
}
