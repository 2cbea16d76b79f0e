/**
 * Scale: `size` concurrent connections to ONE echo server in this process,
 * from client processes (bench/clients/load-client.mjs, on Node whatever the
 * server's runtime; `ulimit -n` would not let both ends live in one
 * process). Each connection sends a 64-byte request once a second and times
 * the reply. Result: server RSS growth per connection in KiB, after the load
 * and a forced GC that also returns the heap's reserve (the young generation
 * V8 grew under load: a bounded constant, given as `rss_kib_ordinary_gc`
 * after an ordinary GC); extras give p50/p99 latency, the server's CPU use and
 * the RSS growth with the connections open but before any request, and the
 * server's event-loop stalls during the load (bench/lib/stall-monitor.ts):
 * `stall_busy_ms` its own (GC pauses, long runs), `stall_preempted_ms` the
 * machine's (waiting for a CPU the load clients or others held). A p99 miss
 * with little busy stall time is the machine's, not the server's.
 *
 *   WIRELINE_SCALE_CONNECTIONS connections, overriding the size (default 5,000; --quick 1,000)
 *   WIRELINE_SCALE_SECONDS     load duration (default 10)
 *   WIRELINE_SCALE_PROCESSES   client processes (default 4)
 *
 * The full run of issue #12 (15,000 connections, 5,000 storm clients; about
 * a minute per variant and runtime, each variant in a fresh process so RSS
 * growth is its own):
 *
 *   WIRELINE_SCALE_CONNECTIONS=15000 WIRELINE_SCALE_SECONDS=30 WIRELINE_STORM_CLIENTS=5000 \
 *     node bench/main.mjs --scenarios scale,storm --reps 1 --out scale-full
 *
 * Running both variants in one bench/run.ts process measures the second's
 * RSS on top of the first's heap: pass one `--variant` per process.
 *
 * @module
 */

import type { Net } from "../../src/net.ts";
import { rawVariant, wirelineVariant } from "../lib/baseline-variants.ts";
import { rawEchoServer, wirelineEchoServer, type StartEchoServer } from "../lib/counting-echo-server.ts";
import { LoadClients, percentiles } from "../lib/load-clients.ts";
import { collectGarbage, collectGarbageReducingMemory, env, heapUsed, rss, tick } from "../lib/platform.ts";
import { processCpuMs } from "../lib/process-cpu.ts";
import { watchStalls } from "../lib/stall-monitor.ts";
import type { Measurement, Scenario } from "../lib/scenario.ts";

const INTERVAL_MS = 1000;
/** Time to open the connections, per thousand, before the run is declared stuck. */
const CONNECT_MS_PER_1000 = 10_000;

const seconds = (): number => Number(env("WIRELINE_SCALE_SECONDS") ?? 10);
const processes = (): number => Number(env("WIRELINE_SCALE_PROCESSES") ?? 4);

/** RSS after ordinary collections (`ordinaryRss`), then after one that returns the heap's reserve. */
async function settled(): Promise<{ rss: number; ordinaryRss: number; heap: number }> {
  for (let i = 0; i < 3; i++) {
    collectGarbage();
    await tick(50);
  }
  const ordinaryRss = rss();
  collectGarbageReducingMemory();
  await tick(50);
  return { rss: rss(), ordinaryRss, heap: heapUsed() };
}

/** Waits until `accepted()` reaches `count`, or throws after `timeoutMs`. */
async function accepted(server: { accepted(): number }, count: number, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (server.accepted() < count) {
    if (Date.now() > deadline) throw new Error(`server accepted ${server.accepted()} of ${count} connections in ${timeoutMs} ms`);
    await tick(20);
  }
}

async function measure(start: StartEchoServer, size: number): Promise<Measurement> {
  const connections = Number(env("WIRELINE_SCALE_CONNECTIONS") ?? size);
  const durationMs = seconds() * 1000;
  const connectMs = Math.max(10_000, (connections / 1000) * CONNECT_MS_PER_1000);
  const server = await start(0, connections + 1024);
  const before = await settled();
  const clients = LoadClients.start({
    mode: "scale",
    port: server.port,
    connections,
    processes: Math.min(processes(), connections),
    intervalMs: INTERVAL_MS,
    durationMs,
    lifetimeMs: connectMs + durationMs + 30_000,
  });
  try {
    const opened = await clients.next("connected", connectMs);
    // Generous: a handshake the kernel dropped on accept-queue overflow completes on the SYN-ACK's retransmission, seconds later.
    await accepted(server, connections, 20_000);
    const idle = await settled();
    const cpu0 = processCpuMs();
    const t0 = performance.now();
    const stalls = watchStalls();
    clients.broadcast("go");
    const done = await clients.next("done", durationMs + 10_000);
    const stalled = stalls();
    const cpuMs = processCpuMs() - cpu0;
    const wallMs = performance.now() - t0;
    const loaded = await settled();
    const sum = (key: string): number => done.reduce((n, m) => n + (m[key] as number), 0);
    const [p50, p99] = percentiles(
      done.map((m) => m.histogram as [number, number][]),
      [0.5, 0.99],
    );
    const kib = (bytes: number): number => bytes / connections / 1024;
    return {
      value: kib(loaded.rss - before.rss),
      extra: {
        connections,
        p50_us: p50!,
        p99_us: p99!,
        cpu_pct: (cpuMs / wallMs) * 100,
        stall_busy_ms: stalled.busyMs,
        stall_busy_max_ms: stalled.busyMaxMs,
        stall_preempted_ms: stalled.preemptedMs,
        idle_kib_per_conn: kib(idle.rss - before.rss),
        heap_kib_per_conn: kib(loaded.heap - before.heap),
        rss_kib_ordinary_gc: kib(loaded.ordinaryRss - before.ordinaryRss),
        requests: sum("received"),
        unanswered: sum("sent") - sum("received"),
        skipped_late: sum("late"),
        closed_during_run: sum("closed"),
        connect_retries: opened.reduce((n, m) => n + (m.retries as number), 0),
        seconds: durationMs / 1000,
      },
    };
  } finally {
    await clients.close();
    await server.stop();
  }
}

/** The scale scenario. */
export const scale: Scenario = {
  name: "scale",
  title: "scale: 5k connections to one server, 64 B request/s each, RSS per connection",
  unit: "KiB/conn",
  higherIsBetter: false,
  sizes: { full: 5_000, quick: 1_000, guard: 500 },
  // A warm-up would double a long run; ten seconds of load warm the JIT anyway.
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
