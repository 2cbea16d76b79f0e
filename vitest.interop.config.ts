import { defineConfig } from "vitest/config";

// Interop runs once, on Node, and drives fixtures on every runtime.
export default defineConfig({
  test: {
    include: ["test/interop/*.interop.ts"],
    testTimeout: 120_000,
    hookTimeout: 120_000,
  },
});
