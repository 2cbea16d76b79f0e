/**
 * The shape every benchmark scenario has, so that run.ts, main.mjs and
 * guard.mjs can treat them alike.
 *
 * @module
 */

import type { Net } from "../../src/net.ts";
import type { RuntimeName } from "./platform.ts";

/** One timed run of one variant. */
export interface Measurement {
  /** The headline number, in the scenario's unit. */
  readonly value: number;
  /** Secondary numbers (latency percentiles, raw byte counts). */
  readonly extra?: Readonly<Record<string, number>>;
}

/**
 * How a variant relates to wireline: `raw` is the runtime's own API (the
 * ratio's denominator), `reference` another raw approach worth comparing
 * against, `alternative` another library a user might pick, `option`
 * wireline with a non-default option.
 */
export type Role = "wireline" | "raw" | "reference" | "alternative" | "option";

/** One way of doing the scenario's work. */
export interface Variant {
  readonly name: string;
  readonly role: Role;
  /** Shown in the tables. */
  readonly label: string;
  /** Runtimes it exists on; all when absent. */
  readonly runtimes?: readonly RuntimeName[];
  /** Why it cannot run here (a missing optional package), or undefined. */
  unavailable?(): Promise<string | undefined>;
  /** Does `size` units of work and measures them. */
  run(net: Net, size: number): Promise<Measurement>;
}

/** A scenario: sizes, unit and variants. */
export interface Scenario {
  readonly name: string;
  readonly title: string;
  readonly unit: string;
  /** Whether a bigger value is better (false for memory). */
  readonly higherIsBetter: boolean;
  /** Work units for the full run, `--quick` and the regression guard. */
  readonly sizes: { readonly full: number; readonly quick: number; readonly guard: number };
  /** Work units of the untimed warm-up run before the timed one; 0 for none. */
  warmupSize(size: number): number;
  readonly variants: readonly Variant[];
}
