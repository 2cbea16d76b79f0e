// src/ is the runtime-agnostic core: it must never reach for a runtime's own API.
import { describe, expect, it } from "vitest";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { root } from "./helpers/spawn.ts";

const FORBIDDEN: Array<[RegExp, string]> = [
  [/from\s+["'](node:|bun\b|bun:)/, "imports a runtime module"],
  [/import\(\s*["'](node:|bun\b|bun:)/, "imports a runtime module dynamically"],
  [/require\(/, "uses require()"],
  [/\bDeno\s*\./, "touches the Deno global"],
  [/\bBun\s*\./, "touches the Bun global"],
  [/\bprocess\s*\./, "touches Node's process"],
  [/\bBuffer\s*\./, "uses Node's Buffer"],
];

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? sourceFiles(join(dir, e.name)) : e.name.endsWith(".ts") ? [join(dir, e.name)] : [],
  );
}

/** Drops comments so that documentation may mention runtimes freely. */
function code(text: string): string {
  return text.replace(/\/\*[\s\S]*?\*\//g, "").replace(/(^|[^:"'`])\/\/.*$/gm, "$1");
}

describe("src/ purity", () => {
  const files = sourceFiles(join(root, "src"));

  it("finds the core sources", () => {
    expect(files.length).toBeGreaterThan(5);
  });

  it("no file in src/ touches a runtime API", () => {
    const offences: string[] = [];
    for (const file of files) {
      const lines = code(readFileSync(file, "utf8")).split("\n");
      lines.forEach((line, i) => {
        for (const [pattern, why] of FORBIDDEN) if (pattern.test(line)) offences.push(`${file}:${i + 1} ${why}: ${line.trim()}`);
      });
    }
    expect(offences).toEqual([]);
  });

  it("the check itself catches an offending line", () => {
    const sample = code('import { connect } from "node:net";\nconst x = Deno.connect;');
    const hits = FORBIDDEN.filter(([p]) => sample.split("\n").some((l) => p.test(l)));
    expect(hits.length).toBe(2);
  });
});
