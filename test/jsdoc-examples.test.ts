// JSR renders the ```ts examples of JSDoc comments: an example must import each name from an
// entry that really exports it ("wireline", "wireline/node", ..., "wireline/transport"). This
// scans src/ and adapters/ for them and checks every imported name against the entry's
// runtime exports (values) and its TypeScript exports (types), both read at test time.
import { readdirSync, readFileSync } from "node:fs";
import { join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import ts from "typescript";
import { describe, expect, it } from "vitest";

const repo = fileURLToPath(new URL("..", import.meta.url));
// The repo's own mapping of the package's specifiers to sources (deno.json "imports", the one JSR users see).
const specifiers = (JSON.parse(readFileSync(join(repo, "deno.json"), "utf8")) as { imports: Record<string, string> }).imports;
const entries: Record<string, string> = Object.fromEntries(
  Object.entries(specifiers).filter(([name]) => /^wireline(\/[\w-]+)?$/.test(name)).map(([name, path]) => [name, join(repo, path)]),
);

function sourceFiles(dir: string): string[] {
  return readdirSync(join(repo, dir), { withFileTypes: true, recursive: true })
    .filter((d) => d.isFile() && d.name.endsWith(".ts"))
    .map((d) => join(d.parentPath, d.name));
}

interface Import {
  readonly file: string;
  readonly line: number;
  readonly name: string;
  readonly typeOnly: boolean;
  readonly from: string;
}

/** Every name a JSDoc ```ts example imports from "wireline" or "wireline/<entry>". */
function exampleImports(file: string): Import[] {
  const text = readFileSync(file, "utf8");
  const found: Import[] = [];
  for (const doc of text.matchAll(/\/\*\*[\s\S]*?\*\//g)) {
    const body = doc[0].split("\n").map((l) => l.replace(/^\s*\*\s?/, "")).join("\n");
    for (const block of body.matchAll(/```(?:ts|typescript)\n([\s\S]*?)```/g)) {
      for (const m of block[1]!.matchAll(/import\s+(type\s+)?\{([^}]*)\}\s*from\s*["'](wireline(?:\/[\w-]+)?)["']/g)) {
        const line = text.slice(0, doc.index).split("\n").length;
        for (const part of m[2]!.split(",").map((p) => p.trim()).filter(Boolean)) {
          const typed = /^type\s+/.test(part);
          const name = part.replace(/^type\s+/, "").split(/\s+as\s+/)[0]!.trim();
          found.push({ file: relative(repo, file), line, name, typeOnly: Boolean(m[1]) || typed, from: m[3]! });
        }
      }
    }
  }
  return found;
}

const imports = ["src", "adapters"].flatMap(sourceFiles).flatMap(exampleImports);

/** Each entry's exports as TypeScript sees them: each name, and whether it is a value (not only a type). */
function typeExports(): Map<string, Map<string, boolean>> {
  const roots = [...new Set(Object.values(entries))];
  const program = ts.createProgram(roots, {
    target: ts.ScriptTarget.ES2022,
    module: ts.ModuleKind.NodeNext,
    moduleResolution: ts.ModuleResolutionKind.NodeNext,
    allowImportingTsExtensions: true,
    noEmit: true,
    skipLibCheck: true,
    types: ["node", "bun"],
  });
  const checker = program.getTypeChecker();
  const byPath = new Map<string, Map<string, boolean>>();
  for (const root of roots) {
    const source = program.getSourceFile(root);
    const symbol = source && checker.getSymbolAtLocation(source);
    const exported = symbol ? checker.getExportsOfModule(symbol) : [];
    byPath.set(root, new Map(exported.map((s) => {
      const target = s.flags & ts.SymbolFlags.Alias ? checker.getAliasedSymbol(s) : s;
      return [s.name, (target.flags & ts.SymbolFlags.Value) !== 0];
    })));
  }
  return byPath;
}

describe("JSDoc examples import names from where they are exported", () => {
  it("finds examples that import from the package (the scan works)", () => {
    expect(imports.length).toBeGreaterThan(50);
    expect(Object.keys(entries).sort()).toEqual(["wireline", "wireline/bun", "wireline/deno", "wireline/memory", "wireline/node", "wireline/transport"]);
  });

  it("every imported name is exported by that entry (values at run time, types per TypeScript)", async () => {
    const types = typeExports();
    const values = new Map<string, Set<string>>();
    for (const [name, path] of Object.entries(entries)) values.set(name, new Set(Object.keys((await import(path)) as object)));
    // A name must be exported; a value imported as a value must also exist at run time.
    const exported = (i: Import): boolean => {
      const isValue = types.get(entries[i.from]!)?.get(i.name);
      return isValue !== undefined && (i.typeOnly || !isValue || values.get(i.from)!.has(i.name));
    };
    const wrong = imports
      .filter((i) => !(i.from in entries) || !exported(i))
      .map((i) => `${i.file}:${i.line}: ${i.typeOnly ? "type " : ""}${i.name} from "${i.from}"`);
    expect(wrong).toEqual([]);
  }, 60_000);
});
