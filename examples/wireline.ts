// The examples run unchanged on Node 24, Deno and Bun. Installed from npm, `import ... from "wireline"`
// picks the adapter through package export conditions; inside this repository we pick it here.
import type { Net } from "../src/mod.ts";

const g = globalThis as { Deno?: unknown; Bun?: unknown };
const adapter: Net = g.Deno
  ? await import("../adapters/deno.ts")
  : g.Bun
    ? await import("../adapters/bun.ts")
    : await import("../adapters/node.ts");

export const connect: Net["connect"] = adapter.connect;
export const listen: Net["listen"] = adapter.listen;
export const runtime: string = g.Deno ? "deno" : g.Bun ? "bun" : "node";
export * from "../src/mod.ts";
