// The README runs as written: every ```ts block type-checks (importing "wireline"
// as a user does), every block not marked `<!-- fragment -->` runs and exits by
// itself on the runtime running this file, the examples type-check and the
// self-terminating ones run, and the error table lists every NetErrorCode.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { runBounded } from "./helpers/bounded-run.ts";
import { anchorLinks, errorTableCodes, headingAnchors, netErrorCodes, readmeBlocks } from "./helpers/readme-blocks.ts";
import { testCerts } from "./helpers/certs.ts";
import { runtime } from "./helpers/runtime.ts";
import { nodeBinary, sourceCommand, type RuntimeFlags } from "./helpers/source-command.ts";
import { root } from "./helpers/spawn.ts";

const readme = readFileSync(join(root, "README.md"), "utf8");
const blocks = readmeBlocks(readme);

/** A README block must be done within this once loaded; the Quickstart once took 10 s to exit. */
const BLOCK_EXITS_WITHIN = 5_000;
/** Written first by the copy of a block that runs: imports load before it, so the bound measures the block itself. */
const STARTED = "<<readme block started>>";
/** Examples start servers, child processes and a restart; they get longer, still bounded. */
const EXAMPLE_EXITS_WITHIN = 20_000;

/** An example that stops by itself; the others need a person (chat) or a Redis server (tested in redis.test.ts). */
interface RunnableExample {
  readonly file: string;
  readonly args: () => string[];
  readonly flags?: RuntimeFlags;
  readonly expect: RegExp;
  /** Why it cannot run on the runtime running this file, if it cannot. */
  readonly cannot?: Partial<Record<typeof runtime, string>>;
}

const RUNNABLE_EXAMPLES: readonly RunnableExample[] = [
  { file: "testing-with-memory.ts", args: () => [], expect: /all checks passed/ },
  { file: "echo-server.ts", args: () => ["0", "--demo"], expect: /total connections: +50/ },
  { file: "demo.ts", args: () => [], expect: /done: client and server closed/ },
  { file: "multicore.ts", args: () => ["2", "20"], flags: { deno: ["--unstable-net"] }, expect: /20 connections over 2 workers/ },
  { file: "opentelemetry.ts", args: () => [], expect: /wireline\.server\.accepted/ },
  {
    file: "smtp-starttls.ts",
    args: () => {
      const certs = testCerts();
      return ["--cert", certs.server.certFile, "--key", certs.server.keyFile, "--ca", certs.caFile];
    },
    expect: /client: message sent/,
    cannot: { deno: "its server side needs server STARTTLS, which Deno lacks" },
  },
];

// Inside the repository (so that tsconfig and node_modules apply), one directory per run.
const dir = join(root, ".test-results", `readme-${runtime}-${process.pid}`);
const blockFile = (line: number): string => join(dir, `readme-line-${line}.ts`);
const runnableFile = (line: number): string => join(dir, `readme-line-${line}.run.ts`);

beforeAll(() => {
  mkdirSync(dir, { recursive: true });
  // Bun applies the paths of the tsconfig.json next to the file it runs: "wireline" is the Bun adapter's sources.
  writeFileSync(join(dir, "tsconfig.json"), JSON.stringify({ extends: "../../examples/tsconfig.json" }));
  for (const block of blocks) {
    writeFileSync(blockFile(block.line), block.code);
    if (!block.fragment) writeFileSync(runnableFile(block.line), `console.error(${JSON.stringify(STARTED)});\n${block.code}`);
  }
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("README.md", () => {
  it("has ts blocks, few of them fragments", () => {
    expect(blocks.length).toBeGreaterThan(5);
    expect(blocks.filter((b) => b.fragment).length).toBeLessThan(blocks.length / 2);
  });

  it("lists every NetErrorCode in the error table, and no other code", () => {
    const union = netErrorCodes(readFileSync(join(root, "src/errors.ts"), "utf8"));
    const table = errorTableCodes(readme);
    expect(union.length).toBeGreaterThan(20);
    expect(union.filter((code) => !table.includes(code)), "codes missing from the README's error table").toEqual([]);
    expect(table.filter((code) => !union.includes(code)), "codes in the README's error table that NetErrorCode lacks").toEqual([]);
  });

  it("every in-page link points at a heading", () => {
    const anchors = headingAnchors(readme);
    expect(anchorLinks(readme).filter((link) => !anchors.has(link))).toEqual([]);
  });

  it("every ts block and every example type-checks with the repository's settings", async () => {
    // Not tsconfig.json, which is Bun's (see beforeAll): these paths are Node's entry points.
    const tsconfig = join(dir, "tsconfig.readme.json");
    writeFileSync(tsconfig, JSON.stringify({ extends: "../../scripts/source-imports/tsconfig.json", include: ["*.ts", "../../examples"], exclude: ["*.run.ts"] }));
    const tsc = join(root, "node_modules/typescript/bin/tsc");
    const result = await runBounded(nodeBinary(), [tsc, "--noEmit", "-p", tsconfig], { cwd: root, timeoutMs: 110_000 });
    expect(result.timedOut).toBe(false);
    // The sources' own errors are the main typecheck's to report; here only the blocks' and the examples' count
    // (and errors that name no file, such as a broken tsconfig).
    const diagnostics = `${result.stdout}${result.stderr}`.split(/\n(?=\S)/).filter((d) => d.trim() !== "");
    const ours = diagnostics.filter((d) => !/^[^\s(]+\(\d+,\d+\): /.test(d) || /^[^\s(]*(readme-line-\d+\.ts|examples\/)/.test(d));
    // Name README blocks by their line in README.md rather than by the copy's path.
    const report = ours.map((d) => d.replace(/^[^\s(]*readme-line-(\d+)\.ts\((\d+)/, (_, line: string, at: string) => `README.md block at line ${line} (line ${Number(line) + Number(at)}`));
    expect(report).toEqual([]);
  }, 120_000);

  for (const block of blocks.filter((b) => !b.fragment)) {
    it(`the block at line ${block.line} runs on ${runtime} and exits by itself`, async () => {
      const [cmd, args] = sourceCommand(runtime, runnableFile(block.line));
      const result = await runBounded(cmd, args, { cwd: root, timeoutMs: BLOCK_EXITS_WITHIN, startMarker: STARTED });
      const detail = `README.md:${block.line}\nstdout: ${result.stdout}\nstderr: ${result.stderr}`;
      expect(result.timedOut, `still running after ${BLOCK_EXITS_WITHIN} ms: ${detail}`).toBe(false);
      expect(result.code, detail).toBe(0);
    }, 90_000);
  }
});

describe("examples/", () => {
  for (const example of RUNNABLE_EXAMPLES) {
    const cannot = example.cannot?.[runtime];
    it.skipIf(cannot !== undefined)(`${example.file} runs on ${runtime} and exits by itself${cannot ? ` (not here: ${cannot})` : ""}`, async () => {
      const [cmd, args] = sourceCommand(runtime, join(root, "examples", example.file), example.args(), example.flags);
      const result = await runBounded(cmd, args, { cwd: root, timeoutMs: EXAMPLE_EXITS_WITHIN });
      const detail = `stdout: ${result.stdout}\nstderr: ${result.stderr}`;
      expect(result.timedOut, `still running after ${EXAMPLE_EXITS_WITHIN} ms: ${detail}`).toBe(false);
      expect(result.code, detail).toBe(0);
      expect(result.stdout).toMatch(example.expect);
    }, EXAMPLE_EXITS_WITHIN + 5_000);
  }
});
