// Inside this repository, `import ... from "wireline"` loads the sources, as the
// package's export conditions load dist/ for a user, so that the examples and the
// README's blocks are written exactly as a user copies them:
//   node --import ./scripts/source-imports/node.mjs file.ts     (Node 20: --import tsx first)
// The entry points are in entries.json; Bun uses the paths of examples/tsconfig.json,
// Deno deno.json's "imports", tsc this directory's tsconfig.json, Vitest its config's aliases.
import { readFileSync } from "node:fs";
import { register } from "node:module";

const root = new URL("../../", import.meta.url);
const entries = JSON.parse(readFileSync(new URL("entries.json", import.meta.url), "utf8"));

export async function resolve(specifier, context, next) {
  const entry = entries[specifier];
  // Passed on, not short-circuited, so that tsx (Node 20) still sees a TypeScript file.
  return next(entry === undefined ? specifier : new URL(entry.replace("<runtime>", "node"), root).href, context);
}

// Loaded with --import this module registers itself; loaded by register() it only provides the hook.
if (!globalThis.__wirelineSourceImports) {
  globalThis.__wirelineSourceImports = true;
  register(import.meta.url);
}
