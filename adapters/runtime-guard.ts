/**
 * Keeps a runtime adapter from failing obscurely on another runtime. JSR
 * serves `@wireline/wireline` (the Deno adapter) to Node and Bun users too,
 * and the Bun adapter can be imported anywhere: without the guard their first
 * connect died with `EUNKNOWN: Bun is not defined`. Importing stays free of
 * side effects (type tools and bundlers load every entry); the refusal comes
 * at the first connect or listen, as an ERR_UNSUPPORTED naming the import
 * that works there.
 *
 * @module
 */

import { NetError } from "../src/errors.ts";
import type { Transport } from "../src/transport.ts";

/** The runtimes wireline has an adapter for. */
export type RuntimeName = "node" | "deno" | "bun";

const TITLES: Readonly<Record<RuntimeName, string>> = { node: "Node", deno: "Deno", bun: "Bun" };

/**
 * The runtime running this code, told by the globals each one defines.
 *
 * @example
 * ```ts
 * import { currentRuntime } from "./runtime-guard.ts";
 * console.log(currentRuntime()); // "node", "deno" or "bun"
 * ```
 */
export function currentRuntime(): RuntimeName {
  const g = globalThis as { Deno?: unknown; Bun?: unknown };
  if (g.Deno !== undefined) return "deno";
  if (g.Bun !== undefined) return "bun";
  return "node";
}

/**
 * The ERR_UNSUPPORTED error for using `adapter` on `runtime`: it names the
 * npm and the JSR import of the runtime's own adapter.
 *
 * @example
 * ```ts
 * import { wrongRuntime } from "./runtime-guard.ts";
 * console.log(wrongRuntime("deno", "node").message);
 * // ERR_UNSUPPORTED: wireline/deno runs on Deno only; on Node import "wireline/node" (npm) or "@wireline/wireline/node" (JSR)
 * ```
 */
export function wrongRuntime(adapter: RuntimeName, runtime: RuntimeName): NetError {
  return new NetError(
    "ERR_UNSUPPORTED",
    `wireline/${adapter} runs on ${TITLES[adapter]} only; on ${TITLES[runtime]} import "wireline/${runtime}" (npm) or "@wireline/wireline/${runtime}" (JSR)`,
  );
}

/**
 * `transport` itself when the runtime `adapter` is written for runs this
 * code (no cost on the data path); otherwise a transport with the same name
 * and capabilities whose `connect` fails and `listen` rejects with
 * {@link wrongRuntime}.
 *
 * @example
 * ```ts
 * import { onlyOn } from "./runtime-guard.ts";
 * import type { Transport } from "../src/transport.ts";
 * declare const transport: Transport;
 * const guarded: Transport = onlyOn("deno", transport);
 * ```
 */
export function onlyOn(adapter: RuntimeName, transport: Transport): Transport {
  const runtime = currentRuntime();
  if (runtime === adapter) return transport;
  return {
    ...transport,
    connect: (_address, _options, sink) => sink.failed(wrongRuntime(adapter, runtime)),
    listen: () => Promise.reject(wrongRuntime(adapter, runtime)),
  };
}
