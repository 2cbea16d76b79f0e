/**
 * The Web Streams alternatives the bulk and ping-pong scenarios compare
 * wireline with: Node's `Duplex.toWeb`, the `@arrowood.dev/socket` package
 * (Node, skipped when not installed) and Deno's `conn.readable`/`writable`.
 * Each scenario supplies how it measures them.
 *
 * @module
 */

import { loadArrowood } from "./arrowood.ts";
import type { Measurement, Variant } from "./scenario.ts";

/** A scenario's measurement with each streams API. */
export interface StreamsRuns {
  nodeToWeb(size: number): Promise<Measurement>;
  nodeArrowood(size: number): Promise<Measurement>;
  denoStreams(size: number): Promise<Measurement>;
}

/** The three streams variants, each limited to the runtime that has the API. */
export function streamsAlternatives(runs: StreamsRuns): Variant[] {
  return [
    { name: "node-toweb", role: "alternative", label: "Duplex.toWeb streams", runtimes: ["node"], run: (_n, s) => runs.nodeToWeb(s) },
    {
      name: "node-arrowood",
      role: "alternative",
      label: "@arrowood.dev/socket",
      runtimes: ["node"],
      unavailable: async () => ((await loadArrowood()) ? undefined : "@arrowood.dev/socket is not installed"),
      run: (_n, s) => runs.nodeArrowood(s),
    },
    { name: "deno-streams", role: "alternative", label: "conn.readable/writable", runtimes: ["deno"], run: (_n, s) => runs.denoStreams(s) },
  ];
}
