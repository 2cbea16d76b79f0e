/**
 * The command line that runs a user's TypeScript file (an example, a README
 * block) on a runtime, with `import ... from "wireline"` resolved to this
 * repository's sources: a loader hook on Node (scripts/source-imports/),
 * deno.json's imports on Deno, and on Bun the paths of the tsconfig.json
 * nearest to the file (examples/tsconfig.json, or one extending it).
 */
import { existsSync } from "node:fs";
import { join } from "node:path";
import type { RuntimeName } from "./spawn.ts";
import { root } from "./spawn.ts";

function bin(name: string): string {
  const path = join(root, "node_modules/.bin", name);
  return existsSync(path) ? path : name;
}

/** The Node running this test when that is Node, else the machine's (as spawn.ts picks it). */
export function nodeBinary(): string {
  const g = globalThis as { Deno?: unknown; Bun?: unknown };
  return g.Deno || g.Bun ? (process.env.WIRELINE_NODE ?? "node") : process.execPath;
}

/** Node 22.18+ and 24 run TypeScript themselves; Node 20 needs tsx, as its users do. */
function nodeStripsTypes(): boolean {
  const g = globalThis as { Deno?: unknown; Bun?: unknown };
  return !g.Deno && !g.Bun && Boolean((process.features as { typescript?: unknown }).typescript);
}

/** Runtime flags an example needs besides the file (Deno's permissions and unstable APIs). */
export interface RuntimeFlags {
  readonly deno?: readonly string[];
}

/** `[command, args]` running `file` (absolute) on `runtime`, as a user of the package would. */
export function sourceCommand(runtime: RuntimeName, file: string, args: readonly string[] = [], flags: RuntimeFlags = {}): [string, string[]] {
  switch (runtime) {
    case "node": {
      const hook = join(root, "scripts/source-imports/node.mjs");
      return [nodeBinary(), [...(nodeStripsTypes() ? [] : ["--import", "tsx"]), "--import", hook, file, ...args]];
    }
    case "deno":
      return [bin("deno"), ["run", "-A", "--quiet", ...(flags.deno ?? []), file, ...args]];
    case "bun":
      return [bin("bun"), [file, ...args]];
  }
}
