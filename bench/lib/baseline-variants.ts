/**
 * The variants every scenario has: wireline itself, and `raw`, the same work
 * written against the runtime's own API (the ratio's denominator), one
 * implementation per runtime.
 *
 * @module
 */

import type { Net } from "../../src/net.ts";
import { runtime, type RuntimeName } from "./platform.ts";
import type { Measurement, Role, Variant } from "./scenario.ts";

/** The same measurement written once per runtime, each with that runtime's own API. */
export type PerRuntime = Readonly<Record<RuntimeName, (size: number) => Promise<Measurement>>>;

/** The wireline variant; `label` names the wireline API used when it is more than plain connect/listen. */
export function wirelineVariant(run: (net: Net, size: number) => Promise<Measurement>, label = "wireline"): Variant {
  return { name: "wireline", role: "wireline", label, run };
}

/** wireline with a non-default option, shown next to the alternatives. */
export function wirelineOptionVariant(name: string, label: string, run: (net: Net, size: number) => Promise<Measurement>): Variant {
  return { name, role: "option", label, run };
}

/** A variant that runs this runtime's implementation; the `raw` baseline unless `options` say otherwise. */
export function rawVariant(
  implementations: PerRuntime,
  options: { readonly name?: string; readonly role?: Role; readonly label?: string } = {},
): Variant {
  const run = implementations[runtime];
  return {
    name: options.name ?? "raw",
    role: options.role ?? "raw",
    label: options.label ?? "raw",
    run: (_net, size) => run(size),
  };
}
