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
