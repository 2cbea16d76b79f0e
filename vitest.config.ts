import { readFileSync } from "node:fs";
import { defineConfig } from "vitest/config";

// Test files that import an example resolve its `import ... from "wireline"` to
// the sources, for the runtime running the suite (see scripts/source-imports/).
const runtime = "Deno" in globalThis ? "deno" : "Bun" in globalThis ? "bun" : "node";
const entries: Record<string, string> = JSON.parse(readFileSync(new URL("scripts/source-imports/entries.json", import.meta.url), "utf8"));

export default defineConfig({
  resolve: {
    alias: Object.entries(entries).map(([name, file]) => ({
      find: new RegExp(`^${name}$`),
      replacement: new URL(file.replace("<runtime>", runtime), import.meta.url).pathname,
    })),
  },
  test: {
    include: ["test/*.test.ts"],
    testTimeout: 30_000,
    hookTimeout: 30_000,
  },
});
