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
  // Emits .d.ts for `import` and .d.cts for `require`: under node16 resolution a CommonJS
  // consumer given ESM-flavoured .d.ts types breaks (TS1479).
  dts: true,
  clean: true,
  target: "es2022",
  platform: "neutral",
  // Keeps "node:net": Deno resolves Node built-ins by that prefix only, and it says what they are.
  removeNodeProtocol: false,
  external: [/^node:/, "bun"],
  // No source maps or declaration maps: they would point at sources the package does not ship.
  sourcemap: false,
  splitting: true,
  treeshake: true,
});
