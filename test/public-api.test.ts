// The public surface is a compatibility promise: this file pins it, so that
// adding or removing an exported name is a deliberate change made here too.
import { describe, expect, it } from "vitest";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import * as memoryEntry from "../adapters/memory.ts";
import * as root from "../src/mod.ts";
import * as transportEntry from "../src/transport-entry.ts";
import { adapter, runtime } from "./helpers/runtime.ts";
import { root as repo } from "./helpers/spawn.ts";

/** The runtime values `wireline` exports besides the bound connect/listen/reconnecting and the transport. */
const ROOT_VALUES = [
  "DIAGNOSTICS_CHANNELS",
  "FramingError",
  "NetError",
  "RespError",
  "RespSimpleString",
  "createNet",
  "delimited",
  "framed",
  "lengthPrefixed",
  "lines",
  "requester",
  "resp",
  "text",
];

/** What each runtime entry (`wireline`, `wireline/<runtime>`, `wireline/memory`) adds to the root. */
const BOUND = ["connect", "listen", "reconnecting"];

const TRANSPORT_VALUES = [
  "NetError",
  "PullDriver",
  "createNet",
  "createRawSocket",
  "formatAddress",
  "invalidOption",
  "parseAddress",
  "realClock",
  "toNetError",
  "toTlsError",
  "unsupported",
  "useDiagnosticsSink",
  "useTimerRefHooks",
];

/** Internals that once leaked from the root; each would have become a promise. */
const INTERNALS = [
  "AdmissionQueue",
  "OfflineQueue",
  "Heartbeat",
  "IdleWatcher",
  "ServerStatsRecorder",
  "DETACHED_HANDLERS",
  "checkMillis",
  "checkSocketOptions",
  "applySocketOptions",
  "checkTlsClientOptions",
  "checkTlsServerOptions",
  "checkIdleTimeout",
  "heartbeatSettings",
  "toTlsError",
  "peerCertificateFrom",
  "toNetError",
  "unsupported",
  "invalidOption",
  "emitEvent",
  "connectWith",
  "listenWith",
  "reconnectingWith",
  "validatePort",
  "createRawSocket",
  "Requester",
  "FifoInFlight",
  "IdInFlight",
  "isReconnecting",
];

const MAX_ENTRY_VALUES = 35;

const sorted = (names: Iterable<string>): string[] => [...names].sort();

describe("public API", () => {
  it("the root exports exactly the application's values", () => {
    expect(sorted(Object.keys(root))).toEqual(sorted(ROOT_VALUES));
  });

  it(`each runtime entry exports the root, the bound API and its transport, at most ${MAX_ENTRY_VALUES} values`, () => {
    const entries: Array<[string, Record<string, unknown>]> = [
      [runtime, adapter],
      ["memory", memoryEntry],
    ];
    for (const [name, entry] of entries) {
      expect(sorted(Object.keys(entry)), name).toEqual(sorted([...ROOT_VALUES, ...BOUND, `${name}Transport`]));
      expect(Object.keys(entry).length).toBeLessThanOrEqual(MAX_ENTRY_VALUES);
    }
  });

  it("no internal leaks from the root or a runtime entry", () => {
    for (const entry of [root, adapter, memoryEntry] as Record<string, unknown>[]) {
      expect(INTERNALS.filter((name) => name in entry)).toEqual([]);
    }
  });

  it("wireline/transport exports exactly what a transport author needs", () => {
    expect(sorted(Object.keys(transportEntry))).toEqual(sorted(TRANSPORT_VALUES));
    // One class per concept: the entry's NetError is the one every connection throws.
    expect(transportEntry.NetError).toBe(root.NetError);
  });

  it("users cannot emit a server's events", async () => {
    const server = await memoryEntry.listen({ port: 0 }, (conn) => conn.close());
    try {
      let heard = 0;
      server.on("connection", () => heard++);
      expect(() => server.dispatchEvent(new Event("connection"))).toThrow(expect.objectContaining({ code: "ERR_UNSUPPORTED" }));
      expect("emit" in server).toBe(false);
      expect(heard).toBe(0);
    } finally {
      await server.close();
    }
  });
});

describe("package entry points", () => {
  const pkg = JSON.parse(readFileSync(join(repo, "package.json"), "utf8")) as { exports: Record<string, unknown>; files: string[] };
  const jsr = JSON.parse(readFileSync(join(repo, "deno.json"), "utf8")) as { exports: Record<string, string> };
  const tsup = readFileSync(join(repo, "tsup.config.ts"), "utf8");
  const tsupEntries = Object.fromEntries([...tsup.matchAll(/^\s*(\w+): "([^"]+\.ts)",$/gm)].map((m) => [m[1]!, `./${m[2]!}`]));
  const npmSubpaths = Object.keys(pkg.exports).filter((subpath) => subpath !== "./package.json");

  it("npm and JSR expose the same subpaths", () => {
    expect(sorted(npmSubpaths)).toEqual(sorted(Object.keys(jsr.exports)));
    expect(sorted(npmSubpaths)).toEqual(sorted([".", "./node", "./deno", "./bun", "./memory", "./transport"]));
  });

  it("each npm subpath is built from the source file JSR publishes for it", () => {
    for (const subpath of npmSubpaths) {
      const target = pkg.exports[subpath] as Record<string, unknown>;
      // "." picks an adapter by condition on npm; JSR is Deno's, so it matches the deno condition.
      // Each module system has its own types (.d.ts for import, .d.cts for require: see attw).
      type Condition = { types: string; default: string };
      const conditions = (subpath === "." ? target.deno : target) as { import: Condition; require: Condition };
      const built = /^\.\/dist\/(\w+)\.js$/.exec(conditions.import.default)?.[1];
      expect(built, subpath).toBeDefined();
      expect(conditions.import.types, subpath).toBe(`./dist/${built}.d.ts`);
      expect(conditions.require, subpath).toEqual({ types: `./dist/${built}.d.cts`, default: `./dist/${built}.cjs` });
      expect(tsupEntries[built!], `tsup entry "${built}" for ${subpath}`).toBe(jsr.exports[subpath]);
    }
  });
});
