#!/usr/bin/env node
// Builds the npm package and checks that `import "wireline"` and `require("wireline")`
// load the right adapter on each runtime and can open a connection, and that
// `wireline/transport` loads on both module systems.
import { spawnSync } from "node:child_process";
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
step("types: dist/node.d.ts exists and names Connection", node, ["-e", `const s=require("fs").readFileSync("dist/node.d.ts","utf8"); if(!/Connection/.test(s)) process.exit(1)`]);
process.exit(failures ? 1 : 0);
