// The README's runtime-support table must say what the adapters declare. Each
// runtime checks its own column (the suite runs on all three) and the memory
// column, which loads everywhere.
import { describe, expect, it } from "vitest";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { memoryTransport } from "../adapters/memory.ts";
import type { Capability, Transport } from "../src/transport.ts";
import { runtime, transport } from "./helpers/runtime.ts";
import { root } from "./helpers/spawn.ts";

const START = "<!-- runtime-table -->";
const END = "<!-- /runtime-table -->";

type Column = "Node" | "Deno" | "Bun" | "memory";

/** The table between the markers: capability key (first cell, in backticks) → column → cell. */
function readTable(): Map<string, Map<Column, string>> {
  const readme = readFileSync(join(root, "README.md"), "utf8");
  const from = readme.indexOf(START);
  const to = readme.indexOf(END);
  if (from < 0 || to < from) {
    throw new Error(`README.md has no runtime table between "${START}" and "${END}" (its text is in /work/notes/api-readme.md)`);
  }
  const rows = readme
    .slice(from + START.length, to)
    .split("\n")
    .filter((line) => line.trim().startsWith("|"))
    .map((line) => line.trim().replace(/^\||\|$/g, "").split("|").map((cell) => cell.trim()));
  const [header, , ...body] = rows;
  if (header === undefined) throw new Error("the runtime table has no header row");
  const table = new Map<string, Map<Column, string>>();
  for (const row of body) {
    const key = /^`(\w+)`$/.exec(row[0] ?? "")?.[1];
    if (key === undefined) throw new Error(`runtime table row "${row.join(" | ")}" must start with a capability name in backticks`);
    table.set(key, new Map(header.map((name, i) => [name as Column, row[i] ?? ""])));
  }
  return table;
}

/** Node's version condition ("Node 22.12+"), the only condition a test can evaluate for sure. */
function nodeAtLeast(condition: string): boolean | undefined {
  const m = /^Node (\d+)\.(\d+)\+$/.exec(condition);
  if (m === undefined || m === null || runtime !== "node") return undefined;
  const [major = 0, minor = 0] = process.versions.node.split(".").map(Number);
  return major > Number(m[1]) || (major === Number(m[1]) && minor >= Number(m[2]));
}

/** Why `cell` disagrees with `declared`, or undefined when they agree. */
function disagreement(cell: string, declared: Capability): string | undefined {
  if (cell === "yes") return declared === true ? undefined : `README says yes, the adapter refuses: ${declared}`;
  if (cell === "ERR_UNSUPPORTED") return declared === true ? "README says ERR_UNSUPPORTED, the adapter declares it supported" : undefined;
  const conditional = /^yes with (.+), else ERR_UNSUPPORTED$/.exec(cell);
  if (conditional === null) return `cell "${cell}" is not "yes", "ERR_UNSUPPORTED" or "yes with <condition>, else ERR_UNSUPPORTED"`;
  const condition = conditional[1]!;
  const met = nodeAtLeast(condition);
  if (met !== undefined) return disagreement(met ? "yes" : "ERR_UNSUPPORTED", declared);
  // A condition the test cannot observe (a runtime flag): the refusal must at least name it.
  if (declared !== true && !declared.includes(condition)) return `the adapter's reason "${declared}" does not mention "${condition}"`;
  return undefined;
}

function check(column: Column, declared: Transport): void {
  const table = readTable();
  const keys = Object.keys(declared.capabilities).sort();
  expect([...table.keys()].sort(), "the table has one row per declared capability").toEqual(keys);
  const wrong: string[] = [];
  for (const key of keys) {
    const cell = table.get(key)?.get(column);
    if (cell === undefined) throw new Error(`the runtime table has no "${column}" column`);
    const why = disagreement(cell, declared.capabilities[key as keyof typeof declared.capabilities]!);
    if (why !== undefined) wrong.push(`${key} (${column}): ${why}`);
  }
  expect(wrong).toEqual([]);
}

const COLUMNS: Record<typeof runtime, Column> = { node: "Node", deno: "Deno", bun: "Bun" };

describe("README runtime table", () => {
  it(`the ${COLUMNS[runtime]} column matches ${runtime}'s declared capabilities`, () => {
    check(COLUMNS[runtime], transport);
  });

  it("the memory column matches the memory transport's declared capabilities", () => {
    check("memory", memoryTransport);
  });
});
