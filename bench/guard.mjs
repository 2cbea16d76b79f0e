// Benchmark regression guard, run from `npm test`: a few seconds per runtime,
// checking wireline against the raw runtime API with generous margins, so a
// hot-path regression fails while a noisy shared machine does not.
//
//   node bench/guard.mjs [--runtimes node,deno,bun] [--node-tsx]
//
// Each check runs wireline and raw in one process, alternating, twice each,
// and compares the best of each (noise only ever slows a run down). A failing
// check is re-run up to 2 more times before it counts as failed. A runtime
// whose binary is missing is skipped, not failed. The LAST line printed is
// exactly `N passed, N failed`; the exit code is non-zero on any failure.

import { existsSync } from "node:fs";
import { join } from "node:path";
import { preferNode24, root, runJson } from "./lib/spawn-run.mjs";

const CHECKS = [
  // Deno: every chunk handed to the user is a fresh buffer, while the raw loop reuses one, so the ratio falls as
  // raw gets faster (a CI run gave 0.34: wireline 1.04 against raw 3.05 GB/s, in full runs raw is 1.5-2.2).
  // Deno's floor against raw is therefore 0.3, and the check that catches a regression of wireline's own is the
  // next one: against the raw loop that takes fresh memory per read as wireline must (1.19x in the last full run).
  { scenario: "bulk", against: "raw", min: 0.7, minFor: { deno: 0.3 }, what: "bulk throughput ≥ 0.7× raw (Deno ≥ 0.3×)" },
  { scenario: "bulk", runtimes: ["deno"], against: "raw-fresh", min: 0.8, what: "bulk throughput ≥ 0.8× the raw loop with fresh memory per read" },
  // With borrowedChunks the Deno adapter reuses read buffers: the path that closes that gap.
  { scenario: "bulk", variant: "wireline-borrowed", runtimes: ["deno"], against: "raw", min: 0.7, what: "bulk with borrowedChunks ≥ 0.7× raw" },
  // read(into) reads straight into the caller's buffer on Deno: 0.72-0.99× raw in full runs.
  { scenario: "bulk", variant: "wireline-read-into", runtimes: ["deno"], against: "raw", min: 0.6, what: "bulk with read(into) ≥ 0.6× raw" },
  // Full runs 0.77-1.04 (Bun's pairs from 0.77).
  { scenario: "ping-pong", against: "raw", min: 0.75, what: "ping-pong round trips/s ≥ 0.75× raw" },
  // framed() with encodeInto and batches() ran at 4-9× the one-write-per-message raw loop.
  { scenario: "small", against: "raw", min: 2.0, what: "framed small messages ≥ 2× raw one-write-per-message" },
  // forEach(): full-run ratios 0.82-0.86 (pairs from 0.62) since frames are decoded in place; 0.58-0.76 before.
  { scenario: "small", against: "raw-batched", min: 0.5, what: "framed small messages ≥ 0.5× raw with manual 64 KiB batches" },
  // Issue 14: a session against plain framed() in the same run; full runs gave 0.94-1.15 since acknowledgements
  // stopped waiting for a timer (0.69-1.06 before; single pairs from 0.61).
  { scenario: "sessions", against: "framed", min: 0.6, what: "session throughput ≥ 0.6× framed()" },
  // Against raw with the same graceful close; seen at 0.4-0.75 (Bun 0.28-0.74: its raw loop is the fastest, so
  // wireline's fixed cost per connection weighs most). A timer turn per close (Deno, ~1 ms) fell to 0.05.
  { scenario: "accept", against: "raw", min: 0.3, minFor: { bun: 0.2 }, what: "accept rate ≥ 0.3× raw (connect + graceful close; Bun ≥ 0.2×)" },
  // Memory per socket, lower is better, both ends receiving with conn.forEach: full runs +0.77 (Node) and
  // +0.92 KiB (Bun) over raw, a guard-size run +1.06 (Node); with for await it was +1.5 to +2.1. Deno's
  // wireline uses less than raw (9 against 53 KiB in full runs: raw reads with 64 KiB buffers).
  { scenario: "idle", against: "raw", maxOver: 1.8, maxOverFor: { deno: 0 }, what: "idle memory ≤ raw + 1.8 KiB per socket (Deno ≤ raw)" },
];
const ATTEMPTS = 3;

const args = process.argv.slice(2);
const i = args.indexOf("--runtimes");
const runtimes = (i >= 0 ? args[i + 1] : "node,deno,bun").split(",");
const node24 = preferNode24(args);

function present(runtime) {
  return runtime === "node" || existsSync(join(root, "node_modules/.bin", runtime));
}

async function attempt(runtime, check) {
  const variant = check.variant ?? "wireline";
  const r = await runJson(runtime, ["--guard", "--scenario", check.scenario, "--variant", `${variant},${check.against}`, "--rounds", "2"], {
    timeoutMs: 120_000,
    node24,
  });
  if (r.error) return { error: r.error };
  // Best of the rounds: the highest rate, or the lowest memory.
  const best = (name) => (check.maxOver === undefined ? Math.max : Math.min)(...r.samples[name].map((m) => m.value));
  const wireline = best(variant);
  const raw = best(check.against);
  return { wireline, raw, ratio: wireline / raw, over: wireline - raw, unit: r.unit };
}

/** Whether an attempt meets the check: a ratio at least `min`, or memory at most `maxOver` above raw. */
function meets(check, runtime, result) {
  if (result.error) return false;
  if (check.maxOver !== undefined) return result.over <= (check.maxOverFor?.[runtime] ?? check.maxOver);
  return result.ratio >= (check.minFor?.[runtime] ?? check.min);
}

let passed = 0;
let failed = 0;
for (const runtime of runtimes) {
  if (!present(runtime)) {
    console.log(`skip ${runtime}: node_modules/.bin/${runtime} not installed`);
    continue;
  }
  for (const check of CHECKS) {
    if (check.runtimes && !check.runtimes.includes(runtime)) continue;
    let last;
    for (let n = 1; n <= ATTEMPTS; n++) {
      last = await attempt(runtime, check);
      if (meets(check, runtime, last)) break;
    }
    const ok = meets(check, runtime, last);
    if (ok) passed++;
    else failed++;
    const detail = last.error
      ? `error: ${last.error.split("\n").join(" | ")}`
      : check.maxOver !== undefined
        ? `${last.over >= 0 ? "+" : ""}${last.over.toFixed(2)} ${last.unit} (wireline ${last.wireline.toPrecision(3)} vs raw ${last.raw.toPrecision(3)})`
        : `${last.ratio.toFixed(2)}× (wireline ${last.wireline.toPrecision(3)} vs raw ${last.raw.toPrecision(3)} ${last.unit})`;
    console.log(`${ok ? "ok  " : "FAIL"} ${runtime} ${check.what}: ${detail}`);
  }
}
console.log(`${passed} passed, ${failed} failed`);
process.exitCode = failed > 0 ? 1 : 0;
