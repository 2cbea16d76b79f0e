import { defineConfig } from "tsup";

export default defineConfig({
  entry: {
    node: "adapters/node.ts",
    deno: "adapters/deno.ts",
    bun: "adapters/bun.ts",
    memory: "adapters/memory.ts",
    transport: "src/transport-entry.ts",
  },
  format: ["esm", "cjs"],
  dts: true,
  clean: true,
  target: "es2022",
  platform: "neutral",
  external: ["node:net", "node:tls", "node:child_process", "bun"],
  sourcemap: false,
  splitting: true,
  treeshake: true,
});
