/**
 * Starting fixture scripts on any of the three runtimes, for interop, leak
 * and black-hole tests. node:child_process exists on Node, Deno and Bun alike.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { existsSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

export type RuntimeName = "node" | "deno" | "bun";

/** The repository root. */
export const root: string = resolve(dirname(fileURLToPath(import.meta.url)), "../..");

function bin(name: string): string {
  const path = join(root, "node_modules/.bin", name);
  return existsSync(path) ? path : name;
}

/** The Node used to run fixtures: the one running Vitest when that is Node, else the system Node. */
function nodeBinary(): string {
  const g = globalThis as { Deno?: unknown; Bun?: unknown };
  return g.Deno || g.Bun ? process.env.WIRELINE_NODE ?? "node" : process.execPath;
}

/** The command line that runs a TypeScript file on `runtime`. */
export function commandFor(runtime: RuntimeName, script: string, args: string[] = []): [string, string[]] {
  const file = join(root, script);
  switch (runtime) {
    case "node":
      return [nodeBinary(), ["--import", "tsx", file, ...args]];
    case "deno":
      return [bin("deno"), ["run", "-A", "--quiet", file, ...args]];
    case "bun":
      return [bin("bun"), ["run", file, ...args]];
  }
}

/** A running fixture: its first stdout line, and a way to stop it. */
export interface Fixture {
  readonly child: ChildProcess;
  /** The first line the fixture printed (fixtures print their port or "ready"). */
  readonly firstLine: string;
  /** Resolves with the exit code once the process ends. */
  readonly exited: Promise<number | null>;
  /** All stdout so far. */
  output(): string;
  stop(): Promise<number | null>;
}

/** Spawns a fixture and waits for its first line of output (bounded by `timeoutMs`). */
export function startFixture(runtime: RuntimeName, script: string, args: string[] = [], timeoutMs = 20_000): Promise<Fixture> {
  const [cmd, argv] = commandFor(runtime, script, args);
  const child = spawn(cmd, argv, { cwd: root, stdio: ["ignore", "pipe", "pipe"] });
  let out = "";
  let err = "";
  const exited = new Promise<number | null>((res) => child.on("exit", (code) => res(code)));
  return new Promise((resolveFixture, reject) => {
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`${runtime} ${script} printed nothing within ${timeoutMs} ms: ${err}`));
    }, timeoutMs);
    child.stderr!.on("data", (d: Uint8Array) => (err += new TextDecoder().decode(d)));
    child.stdout!.on("data", (d: Uint8Array) => {
      const had = out.includes("\n");
      out += new TextDecoder().decode(d);
      if (!had && out.includes("\n")) {
        clearTimeout(timer);
        resolveFixture({
          child,
          firstLine: out.slice(0, out.indexOf("\n")).trim(),
          exited,
          output: () => out,
          stop: () => {
            child.kill("SIGTERM");
            return exited;
          },
        });
      }
    });
    child.on("exit", (code) => {
      clearTimeout(timer);
      if (!out.includes("\n")) reject(new Error(`${runtime} ${script} exited with ${code} before printing: ${err}`));
    });
  });
}

/**
 * For fixture servers: prints the port (the fixture's first line, which
 * startFixture waits for), then serves until SIGTERM, or 60 s if forgotten.
 */
export function serveUntilStopped(server: { readonly address: { transport: string; port?: number }; close(): Promise<unknown> }): void {
  console.log(server.address.port);
  const stop = async (): Promise<void> => {
    await server.close();
    process.exit(0);
  };
  const timer = setTimeout(stop, 60_000);
  process.on("SIGTERM", () => {
    clearTimeout(timer);
    void stop();
  });
}
