/**
 * Picks the adapter for the runtime the test suite is running on, so that one
 * set of test files exercises Node, Deno and Bun.
 */
import type { Transport } from "../../src/transport.ts";

type RuntimeName = "node" | "deno" | "bun";

const g = globalThis as { Deno?: unknown; Bun?: unknown };

/** The runtime running this test file. */
export const runtime: RuntimeName = g.Deno ? "deno" : g.Bun ? "bun" : "node";

// A computed specifier keeps each runtime from type-checking or loading the others' adapters.
const adapterPath = `../../adapters/${runtime}.ts`;

/** The current runtime's adapter module (transport plus the bound API). */
export const adapter: { [key: string]: unknown } = await import(adapterPath);

/** The current runtime's transport. */
export const transport: Transport = adapter[`${runtime}Transport`] as Transport;

import type { Net } from "../../src/net.ts";

/** `connect` bound to the current runtime's transport, as users import it. */
export const connect: Net["connect"] = adapter.connect as Net["connect"];
/** `listen` bound to the current runtime's transport, as users import it. */
export const listen: Net["listen"] = adapter.listen as Net["listen"];

/** The TCP port of a listening server's address. */
export function portOf(address: { transport: string; port?: number }): number {
  if (address.transport !== "tcp" || address.port === undefined) throw new Error("not a TCP address");
  return address.port;
}

/** A unique Unix socket path in the temp directory. */
export function tempSocketPath(tag: string): string {
  return `/tmp/wireline-${runtime}-${tag}-${Date.now()}-${Math.floor(Math.random() * 1e9)}.sock`;
}

/** Sleeps; tests wait on events, never on timing for correctness. */
export function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** `reconnecting` bound to the current runtime's transport. */
export const reconnecting: Net["reconnecting"] = adapter.reconnecting as Net["reconnecting"];
