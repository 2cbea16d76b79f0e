/**
 * Runs benchmark scenarios inside ONE runtime (Node, Deno or Bun) and prints
 * the results as one JSON line on stdout. bench/main.mjs and bench/guard.mjs
 * spawn it once per runtime and measurement.
 *
 *   run.ts --runtime-info
 *   run.ts --scenario bulk --variant wireline[,raw,...] [--rounds N] [--quick | --guard | --size N]
 *
 * Each listed variant gets an untimed warm-up run, then the variants run in
 * turn `rounds` times (alternating, so drift on a shared machine hits all of
 * them alike).
 *
 * @module
 */

import { loadWireline, exit, runtime, runtimeVersion } from "./lib/platform.ts";
import type { Measurement, Scenario, Variant } from "./lib/scenario.ts";
import { accept } from "./scenarios/accept.ts";
import { bulk } from "./scenarios/bulk.ts";
import { idle } from "./scenarios/idle.ts";
import { pingPong } from "./scenarios/ping-pong.ts";
import { reconnectStorm } from "./scenarios/reconnect-storm.ts";
import { requests } from "./scenarios/requests.ts";
import { scale } from "./scenarios/scale.ts";
import { sessions } from "./scenarios/sessions.ts";
import { smallMessages } from "./scenarios/small-messages.ts";
import { tlsBulk } from "./scenarios/tls-bulk.ts";

const SCENARIOS: readonly Scenario[] = [bulk, tlsBulk, pingPong, smallMessages, accept, idle, scale, reconnectStorm, requests, sessions];

/** A run that hangs (a lost wake-up, a peer that never closes) must still end. */
const WATCHDOG_MS = 300_000;

function argValue(args: readonly string[], name: string): string | undefined {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : undefined;
}

function variantsHere(scenario: Scenario): Variant[] {
  return scenario.variants.filter((v) => !v.runtimes || v.runtimes.includes(runtime));
}

async function runtimeInfo(): Promise<unknown> {
  const scenarios: Record<string, unknown> = {};
  for (const scenario of SCENARIOS) {
    const variants = [];
    for (const v of variantsHere(scenario)) {
      variants.push({ name: v.name, role: v.role, label: v.label, unavailable: await v.unavailable?.() });
    }
    scenarios[scenario.name] = {
      title: scenario.title,
      unit: scenario.unit,
      higherIsBetter: scenario.higherIsBetter,
      sizes: scenario.sizes,
      variants,
    };
  }
  return { runtime, version: runtimeVersion(), scenarios };
}

async function measure(args: readonly string[]): Promise<unknown> {
  const name = argValue(args, "--scenario");
  const scenario = SCENARIOS.find((s) => s.name === name);
  if (!scenario) throw new Error(`unknown scenario ${name}; one of ${SCENARIOS.map((s) => s.name).join(", ")}`);
  const here = variantsHere(scenario);
  const names = (argValue(args, "--variant") ?? "wireline").split(",");
  const variants = names.map((n) => {
    const v = here.find((x) => x.name === n);
    if (!v) throw new Error(`scenario ${scenario.name} has no variant ${n} on ${runtime}`);
    return v;
  });
  for (const v of variants) {
    const why = await v.unavailable?.();
    if (why) throw new Error(`${v.name} unavailable: ${why}`);
  }
  const explicit = argValue(args, "--size");
  const size = explicit
    ? Number(explicit)
    : args.includes("--guard")
      ? scenario.sizes.guard
      : args.includes("--quick")
        ? scenario.sizes.quick
        : scenario.sizes.full;
  const rounds = Number(argValue(args, "--rounds") ?? 1);
  const net = await loadWireline();
  const warm = scenario.warmupSize(size);
  if (warm > 0) for (const v of variants) await v.run(net, warm);
  const samples: Record<string, Measurement[]> = {};
  for (let r = 0; r < rounds; r++) {
    // Alternate which variant goes first, so neither always runs on a cooler or warmer machine.
    const order = r % 2 === 0 ? variants : [...variants].reverse();
    for (const v of order) (samples[v.name] ??= []).push(await v.run(net, size));
  }
  return { runtime, version: runtimeVersion(), scenario: scenario.name, unit: scenario.unit, size, samples };
}

async function main(): Promise<void> {
  const g = globalThis as { process?: { argv: string[] }; Deno?: { args: string[] }; Bun?: unknown };
  const args = g.Deno ? g.Deno.args : g.process!.argv.slice(2);
  const watchdog = setTimeout(() => {
    console.error(`bench/run.ts: no result after ${WATCHDOG_MS} ms, giving up`);
    exit(3);
  }, WATCHDOG_MS);
  try {
    const out = args.includes("--runtime-info") ? await runtimeInfo() : await measure(args);
    console.log(JSON.stringify(out));
    clearTimeout(watchdog);
    exit(0);
  } catch (error) {
    console.error(error instanceof Error ? (error.stack ?? error.message) : String(error));
    exit(1);
  }
}

await main();
