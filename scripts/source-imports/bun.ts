// Inside this repository, `import ... from "wireline"` loads the sources on Bun
// (`bun --preload ./scripts/source-imports/bun.ts file.ts`, and bunfig.toml for
// `bun test`). See node.mjs.
import entries from "./entries.json" with { type: "json" };

const table: Readonly<Record<string, string>> = entries;

Bun.plugin({
  name: "wireline from source",
  setup(build) {
    build.onResolve({ filter: /^wireline(\/[a-z]+)?$/ }, ({ path }) => {
      const entry = table[path];
      return entry === undefined ? undefined : { path: new URL(`../../${entry.replace("<runtime>", "bun")}`, import.meta.url).pathname };
    });
  },
});
