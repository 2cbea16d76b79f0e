#!/usr/bin/env node
// Builds the npm package and checks that `import "wireline"` and `require("wireline")`
// load the right adapter on each runtime and can open a connection, and that
// `wireline/transport` loads on both module systems; that errors cross the ESM/CJS
// boundary; that npm and JSR have the same entry points; and what the tarball holds.
import { spawnSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const node = process.env.WIRELINE_NODE ?? process.execPath;
let failures = 0;

function step(label, cmd, args, expect) {
  const r = spawnSync(cmd, args, { cwd: root, encoding: "utf8", timeout: 120_000 });
  const out = `${r.stdout ?? ""}${r.stderr ?? ""}`.trim();
  const ok = r.status === 0 && (!expect || out.includes(expect));
  console.log(`${ok ? "ok  " : "FAIL"} ${label}${ok ? "" : `\n${out}`}`);
  if (!ok) failures++;
}

function report(label, ok, detail) {
  console.log(`${ok ? "ok  " : "FAIL"} ${label}${ok ? "" : `\n${detail}`}`);
  if (!ok) failures++;
}

// An echo round trip through the built package: proves the entry loads and the adapter works.
const probe = (load) => `
const w = ${load};
const server = await w.listen({ port: 0 }, async (c) => { for await (const x of c) await c.write(x); });
const conn = await w.connect({ hostname: "127.0.0.1", port: server.address.port });
await conn.write("hi");
const it = conn[Symbol.asyncIterator]();
const { value } = await it.next();
await conn.close();
await server.close();
const picked = ["nodeTransport", "bunTransport", "denoTransport"].find((k) => k in w);
console.log("adapter=" + picked + " echo=" + new TextDecoder().decode(value));
`;

step("npm run build (tsup: ESM + CJS + .d.ts)", "npm", ["run", "--silent", "build"]);
step("Node ESM: import 'wireline'", node, ["--input-type=module", "-e", probe(`await import("wireline")`)], "adapter=nodeTransport echo=hi");
step("Node CJS: require('wireline')", node, ["--input-type=module", "-e", probe(`(await import("node:module")).createRequire(process.cwd() + "/x.cjs")("wireline")`)], "adapter=nodeTransport echo=hi");
step("Bun: import 'wireline' picks the bun condition", join(root, "node_modules/.bin/bun"), ["-e", probe(`await import("wireline")`)], "adapter=bunTransport echo=hi");
// The adapter authors' entry: same classes as the root (one NetError), on both module systems.
const transportProbe = (load) => `
const t = ${load("wireline/transport")};
const w = ${load("wireline")};
const ok = typeof t.createRawSocket === "function" && typeof t.createNet === "function" && t.NetError === w.NetError && !("createRawSocket" in w);
console.log("transport-entry=" + ok);
`;
step("Node ESM: import 'wireline/transport'", node, ["--input-type=module", "-e", transportProbe((id) => `await import("${id}")`)], "transport-entry=true");
step("Node CJS: require('wireline/transport')", node, ["--input-type=module", "-e", transportProbe((id) => `(await import("node:module")).createRequire(process.cwd() + "/x.cjs")("${id}")`)], "transport-entry=true");
step("types: dist/transport.d.ts names TransportCapabilities and SocketDriver", node, ["-e", `const s=require("fs").readFileSync("dist/transport.d.ts","utf8"); if(!/TransportCapabilities/.test(s) || !/SocketDriver/.test(s)) process.exit(1)`]);
// The dual-package hazard: one process can load both builds (an ESM app, a CommonJS dependency).
// Errors from either must pass `instanceof` of the other's classes.
const dualProbe = `
const cjs = (await import("node:module")).createRequire(process.cwd() + "/x.cjs")("wireline");
const esm = await import("wireline");
const refused = (w) => w.connect("127.0.0.1:1").then(() => undefined, (e) => e);
const tooLarge = (w) => { try { w.lengthPrefixed({ maxFrameLength: 1024 }).createDecoder().decode(new Uint8Array([0, 1, 0, 0]), () => {}); } catch (e) { return e; } };
const fromCjs = await refused(cjs), fromEsm = await refused(esm);
const framingCjs = tooLarge(cjs), framingEsm = tooLarge(esm);
const checks = {
  twoCopies: cjs.NetError !== esm.NetError,
  cjsErrorIsEsmNetError: fromCjs instanceof esm.NetError && fromCjs.code === "ECONNREFUSED",
  esmErrorIsCjsNetError: fromEsm instanceof cjs.NetError && fromEsm.code === "ECONNREFUSED",
  cjsFramingIsEsmFraming: framingCjs instanceof esm.FramingError && framingCjs instanceof esm.NetError,
  esmFramingIsCjsFraming: framingEsm instanceof cjs.FramingError && framingEsm instanceof cjs.NetError,
  netErrorIsNoFramingError: !(fromCjs instanceof esm.FramingError) && !(fromEsm instanceof cjs.FramingError),
  plainErrorIsNoNetError: !(new Error("x") instanceof esm.NetError) && !({ code: "ECONNREFUSED" } instanceof cjs.NetError),
};
const failed = Object.entries(checks).filter(([, ok]) => !ok).map(([name]) => name);
console.log(failed.length ? "dual-package failed: " + failed.join(", ") : "dual-package=ok");
`;
step("Node: a NetError/FramingError from the CJS build is instanceof the ESM build's, and back", node, ["--input-type=module", "-e", dualProbe], "dual-package=ok");

// npm and JSR expose the same entry points.
const pkg = JSON.parse(readFileSync(join(root, "package.json"), "utf8"));
const jsr = JSON.parse(readFileSync(join(root, "deno.json"), "utf8"));
const npmEntries = Object.keys(pkg.exports).filter((k) => k !== "./package.json").sort();
const jsrEntries = Object.keys(jsr.exports).sort();
report("npm and JSR expose the same entry points", JSON.stringify(npmEntries) === JSON.stringify(jsrEntries), `npm: ${npmEntries.join(" ")}\njsr: ${jsrEntries.join(" ")}`);

// What ships: docs and dist only, no source maps, and every dist file reached from an entry.
const packed = spawnSync("npm", ["pack", "--dry-run", "--json", "--ignore-scripts"], { cwd: root, encoding: "utf8" });
const shipped = packed.status === 0 ? JSON.parse(packed.stdout)[0].files.map((f) => f.path) : [];
const strays = shipped.filter((f) => !/^(package\.json|README\.md|CHANGELOG\.md|LICENSE)$/.test(f) && !/^dist\/[\w-]+\.(js|cjs|d\.ts|d\.cts)$/.test(f));
report("npm pack ships package.json, README, CHANGELOG, LICENSE and dist (no sources, no maps)", packed.status === 0 && strays.length === 0 && shipped.includes("CHANGELOG.md"), `unexpected: ${strays.join(" ") || "(npm pack failed or CHANGELOG.md missing)"}`);
const entryFiles = new Set();
const collect = (v) => (typeof v === "string" ? entryFiles.add(v.replace(/^\.\//, "")) : Object.values(v ?? {}).forEach(collect));
collect(pkg.exports);
collect([pkg.main, pkg.module, pkg.types]);
collect(pkg.typesVersions);
const reached = new Set();
const visit = (file) => {
  if (reached.has(file) || !existsSync(join(root, file))) return;
  reached.add(file);
  // Comments hold JSDoc examples with their own import lines: only code counts.
  const code = readFileSync(join(root, file), "utf8").replace(/\/\*[\s\S]*?\*\//g, "").replace(/^\s*\/\/.*$/gm, "");
  for (const m of code.matchAll(/(?:from|import|require\()\s*["'](\.\/[^"']+)["']/g)) {
    let target = join(dirname(file), m[1]);
    if (file.endsWith(".d.ts")) target = target.replace(/\.js$/, ".d.ts");
    if (file.endsWith(".d.cts")) target = target.replace(/\.cjs$/, ".d.cts");
    visit(target);
  }
};
for (const f of entryFiles) visit(f);
const unreached = shipped.filter((f) => f.startsWith("dist/") && !reached.has(f));
const missing = [...entryFiles].filter((f) => f !== "package.json" && !existsSync(join(root, f)));
report("every shipped dist file is reached from an entry, and every entry exists", unreached.length === 0 && missing.length === 0, `unreached: ${unreached.join(" ")}\nmissing: ${missing.join(" ")}`);

step("types: dist/node.d.ts exists and names Connection", node, ["-e", `const s=require("fs").readFileSync("dist/node.d.ts","utf8"); if(!/Connection/.test(s)) process.exit(1)`]);
process.exit(failures ? 1 : 0);
