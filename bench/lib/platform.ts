/**
 * What the benchmarks need from the runtime they run on: its name, wireline
 * bound to its transport, a forced GC, RSS, and a way to exit.
 *
 * @module
 */

import { createNet, type Net } from "../../src/net.ts";
import type { Transport } from "../../src/transport.ts";
import type { DenoApi } from "./deno-api.ts";

/** A runtime the suite measures. */
export type RuntimeName = "node" | "deno" | "bun";

const g = globalThis as unknown as {
  Deno?: DenoApi;
  Bun?: { gc(force: boolean): void; version: string };
  gc?: () => void;
  process?: {
    versions: Record<string, string>;
    memoryUsage: { (): { heapUsed: number }; rss(): number };
    exit(code: number): never;
  };
};

/** The runtime running this process. */
export const runtime: RuntimeName = g.Deno ? "deno" : g.Bun ? "bun" : "node";

/** The Deno namespace; throws outside Deno. */
export function denoApi(): DenoApi {
  if (!g.Deno) throw new Error("not running on Deno");
  return g.Deno;
}

/** The runtime's version, and the Node version when the runtime is Node. */
export function runtimeVersion(): string {
  if (runtime === "deno") return denoApi().version.deno;
  if (runtime === "bun") return g.Bun!.version;
  return g.process!.versions.node!;
}

/**
 * wireline's `connect`/`listen` bound to this runtime's transport, as the
 * adapters export them. Built from the transport directly so the bench does
 * not depend on how far each adapter's entry point is finished.
 */
export async function loadWireline(): Promise<Net> {
  // A computed specifier keeps each runtime from loading the others' adapters. WIRELINE_BENCH_ADAPTER
  // points at a patched copy of an adapter instead, to measure a hot-path change before proposing it.
  const path = env("WIRELINE_BENCH_ADAPTER") ?? `../../adapters/${runtime}.ts`;
  const mod = (await import(path)) as Record<string, unknown>;
  return createNet(mod[`${runtime}Transport`] as Transport);
}

/** An environment variable, or undefined. */
export function env(name: string): string | undefined {
  if (runtime === "deno") return (g.Deno as unknown as { env: { get(n: string): string | undefined } }).env.get(name);
  return (g.process as unknown as { env: Record<string, string | undefined> }).env[name];
}

/** Runs a full garbage collection; false if the runtime was started without a GC hook. */
export function collectGarbage(): boolean {
  if (runtime === "bun") {
    g.Bun!.gc(true);
    return true;
  }
  if (typeof g.gc !== "function") return false;
  g.gc();
  return true;
}

/**
 * A full collection that also gives back what the heap holds in reserve: V8's
 * young generation, which grows (up to 64 MiB on Node 24) while many objects
 * survive, as they do when thousands of connections open, and stays grown
 * after an ordinary collection. RSS read after this counts what is retained,
 * not that reserve. Bun's full collection already does; false without a GC hook.
 */
export function collectGarbageReducingMemory(): boolean {
  if (runtime === "bun") return collectGarbage();
  if (typeof g.gc !== "function") return false;
  (g.gc as (options: object) => void)({ type: "major", execution: "sync", flavor: "last-resort" });
  return true;
}

/** Resident set size of this process, in bytes. */
export function rss(): number {
  if (runtime === "deno") return denoApi().memoryUsage().rss;
  return g.process!.memoryUsage.rss();
}

/** Bytes used by the JS heap (live objects after a GC), for telling retained objects from allocator slack. */
export function heapUsed(): number {
  if (runtime === "deno") return denoApi().memoryUsage().heapUsed;
  return g.process!.memoryUsage().heapUsed;
}

/** Ends the process, whatever handles are still open. */
export function exit(code: number): never {
  if (runtime === "deno") return denoApi().exit(code);
  return g.process!.exit(code);
}

/** Monotonic time in ms. */
export const now = (): number => performance.now();

/** A promise with its resolve function, for waiting on callbacks. */
export function signal<T = void>(): { promise: Promise<T>; resolve: (value: T) => void } {
  let resolve!: (value: T) => void;
  const promise = new Promise<T>((r) => (resolve = r));
  return { promise, resolve };
}

/** The TCP port of an address wireline reports. */
export function portOf(address: { transport: string; port?: number }): number {
  if (address.transport !== "tcp" || address.port === undefined) throw new Error("not a TCP address");
  return address.port;
}

/** Lets pending I/O callbacks and timers run. */
export function tick(ms = 0): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
