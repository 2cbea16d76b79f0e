/**
 * Reconnect storm: `size` clients in client processes (bench/clients/
 * load-client.mjs, node:net, capped exponential backoff with full jitter:
 * 50 ms doubling to 1 s) hold a connection each to an echo server in this
 * process. The server stops (listener and every connection), stays down for
 * a short pause, and starts again on the same port. Result: the peak accept
 * rate after the restart (connections/s, in 100 ms windows); extras give the
 * time from the restart until every client is back, the connects refused
 * while the server was down, and the check that no client is stuck (every
 * one reconnected, within a bounded wait). A client is back once a 1-byte
 * hello is echoed on its new connection, so one whose handshake the kernel
 * dropped (accept queue overflow) is not taken for connected; it drops a
 * connection whose hello is not answered within 2 s and reconnects.
 * Both variants use the same clients, so the ratio compares the servers; the
 * peak rate also follows the clients' backoff schedule, so it is noisy.
 *
 *   WIRELINE_STORM_CLIENTS    clients, overriding the size (default 1,000; --quick 500)
 *   WIRELINE_STORM_PAUSE_MS   how long the server stays down (default 500)
 *   WIRELINE_STORM_PROCESSES  client processes (default 4)
 *
 * Issue #12's 5,000 clients: see the full-run command in scale.ts.
 *
 * @module
 */

import type { Net } from "../../src/net.ts";
import { rawVariant, wirelineVariant } from "../lib/baseline-variants.ts";
import { rawEchoServer, wirelineEchoServer, type StartEchoServer } from "../lib/counting-echo-server.ts";
import { LoadClients, type ClientMessage } from "../lib/load-clients.ts";
import { env, tick } from "../lib/platform.ts";
import type { Measurement, Scenario } from "../lib/scenario.ts";

/** Accept-rate window. */
const WINDOW_MS = 100;
const POLL_MS = 10;
/** Interval of the clients' reports once the server has accepted as many connections as there are clients. */
const REPORT_POLL_MS = 50;
/** How long the clients get to come back before the run fails as stuck. */
const BACK_TIMEOUT_MS = 60_000;
/** Time to open the connections, per thousand, before the run is declared stuck. */
const CONNECT_MS_PER_1000 = 10_000;

const pauseMs = (): number => Number(env("WIRELINE_STORM_PAUSE_MS") ?? 500);
const processes = (): number => Number(env("WIRELINE_STORM_PROCESSES") ?? 4);

async function measure(start: StartEchoServer, size: number): Promise<Measurement> {
  const clientsCount = Number(env("WIRELINE_STORM_CLIENTS") ?? size);
  const connectMs = Math.max(10_000, (clientsCount / 1000) * CONNECT_MS_PER_1000);
  const maxConnections = clientsCount + 1024;
  let server = await start(0, maxConnections);
  const port = server.port;
  const clients = LoadClients.start({
    mode: "storm",
    port,
    connections: clientsCount,
    processes: Math.min(processes(), clientsCount),
    lifetimeMs: connectMs + BACK_TIMEOUT_MS + 30_000,
  });
  try {
    await clients.next("connected", connectMs);
    const deadline = Date.now() + 5000;
    while (server.accepted() < clientsCount && Date.now() < deadline) await tick(20);
    if (server.accepted() < clientsCount) throw new Error(`only ${server.accepted()} of ${clientsCount} clients connected`);
    // Counters as the storm starts, so the initial connects are not counted as refusals.
    clients.broadcast("report");
    const before = await clients.next("report", 5000);
    const baseline = (key: string): number => before.reduce((n, m) => n + (m[key] as number), 0);

    const stopStarted = performance.now();
    await server.stop();
    const stopMs = performance.now() - stopStarted;
    await tick(pauseMs());
    server = await start(port, maxConnections);
    const restarted = performance.now();

    let peak = 0;
    let windowStart = restarted;
    let atWindowStart = 0;
    /** Accepts per WINDOW_MS, for the peak rate. */
    const sampleAccepts = (): void => {
      const t = performance.now();
      if (t - windowStart < WINDOW_MS) return;
      peak = Math.max(peak, ((server.accepted() - atWindowStart) * 1000) / (t - windowStart));
      windowStart = t;
      atWindowStart = server.accepted();
    };
    const backDeadline = restarted + BACK_TIMEOUT_MS;
    // Polled finely while the server catches up: asking the clients costs their CPU, the accept count nothing.
    while (server.accepted() < clientsCount && performance.now() < backDeadline) {
      await tick(POLL_MS);
      sampleAccepts();
    }
    // Back means every client has had its hello answered on a new connection: the server's count alone would
    // take a client whose handshake the kernel dropped (accept queue overflow) for one that is back.
    let reports: ClientMessage[] = [];
    const sum = (key: string): number => reports.reduce((n, m) => n + (m[key] as number), 0);
    let backMs = Number.NaN;
    while (performance.now() < backDeadline) {
      clients.broadcast("report");
      reports = await clients.next("report", 5000);
      sampleAccepts();
      if (sum("stuck") === 0) {
        backMs = performance.now() - restarted;
        break;
      }
      await tick(REPORT_POLL_MS);
    }
    const stuck = sum("stuck");
    if (stuck > 0) {
      throw new Error(`${stuck} of ${clientsCount} clients stuck ${BACK_TIMEOUT_MS} ms after the restart (server accepted ${server.accepted()})`);
    }
    return {
      value: peak,
      extra: {
        clients: clientsCount,
        back_ms: backMs,
        refused: sum("refused") - baseline("refused"),
        hello_timeouts: sum("helloTimeouts") - baseline("helloTimeouts"),
        other_errors: sum("otherErrors") - baseline("otherErrors"),
        stop_ms: stopMs,
        pause_ms: pauseMs(),
        accepted_after_restart: server.accepted(),
        stuck,
      },
    };
  } finally {
    await clients.close();
    await server.stop();
  }
}

/** The reconnect-storm scenario. */
export const reconnectStorm: Scenario = {
  name: "storm",
  title: "reconnect storm: 1k clients, server restarts, peak accept rate",
  unit: "conn/s",
  higherIsBetter: true,
  sizes: { full: 1_000, quick: 500, guard: 200 },
  warmupSize: () => 0,
  variants: [
    wirelineVariant((net: Net, n) => measure(wirelineEchoServer(net), n)),
    rawVariant({
      node: (n) => measure(rawEchoServer, n),
      deno: (n) => measure(rawEchoServer, n),
      bun: (n) => measure(rawEchoServer, n),
    }),
  ],
};
