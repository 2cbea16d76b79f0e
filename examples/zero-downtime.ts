// Zero-downtime restart: a new server process takes over the port while the old one drains,
// and a reconnecting client keeps writing through it without a single failed write.
//
//   node zero-downtime.ts                         Node 22.12+ / 24 (reusePort)
//   bun zero-downtime.ts                          Bun
//   deno run -A --unstable-net zero-downtime.ts   Deno: reusePort needs --unstable-net
//   node zero-downtime.ts serve 7000 v2           just one server process, as a deployment runs it
// Inside this repository, "wireline" is the sources: npm run example -- examples/zero-downtime.ts
// (or example:bun; Deno as above).
//
// The demo starts server "old", a client that sends numbered lines and waits for each "ok <n>",
// then server "new" on the same port (both bind with reusePort, so the kernel hands new
// connections to either), then sends SIGTERM to "old". On SIGTERM a server:
//   1. stops accepting: server.close() releases its listener, so new connections reach "new" only;
//   2. drains: each handler sees ctx.signal abort, half-closes (a FIN: "no more from me") and keeps
//      reading until the client's FIN, so every line the client sent on it is still read;
//   3. exits once its handlers are done, or after close({ timeout }) at the latest.
// The client reconnects (to "new") as soon as it sees the FIN, and sends again every line that
// was not acknowledged, so none is lost: the protocol is at-least-once, and the servers ignore
// a line they have already seen.
//
// The same recipe on Kubernetes: run with reusePort off (one process per pod), and let the
// rollout start the new pod first. On SIGTERM do steps 1-3 with a timeout below the pod's
// terminationGracePeriodSeconds (default 30 s), after a short pause (a preStop sleep, or a
// failing readiness probe) so the Service stops routing new connections to the pod before
// its listener closes.
import { spawn, type ChildProcess } from "node:child_process";
import process from "node:process";
import { fileURLToPath } from "node:url";
import { lines, listen, NetError, reconnecting } from "wireline";

const HOST = "127.0.0.1";
const TOTAL = 300;
const WINDOW = 10;
const runtime = "Deno" in globalThis ? "deno" : "Bun" in globalThis ? "bun" : "node";

/** One server process: acknowledges each line, drains on SIGTERM, prints what it received. */
async function serve(port: number, name: string): Promise<void> {
  const seen = new Set<number>();
  const server = await listen({ hostname: HOST, port, reusePort: true }, async (conn, ctx) => {
    // Draining: tell the client we are done (FIN), but read on until its own FIN.
    ctx.signal.addEventListener("abort", () => conn.end(), { once: true });
    let pending = "";
    for await (const chunk of conn) {
      pending += new TextDecoder().decode(chunk);
      const complete = pending.split("\n");
      pending = complete.pop()!;
      for (const line of complete) {
        seen.add(Number(line));
        if (!ctx.signal.aborted) await conn.write(`ok ${line}\n`);
      }
    }
  });
  process.once("SIGTERM", async () => {
    const stats = await server.close({ timeout: 10_000 });
    console.log(`${name}: drained, ${seen.size} lines over ${stats.totalConnections} connections`);
    process.exit(0);
  });
  console.log(`ready ${server.address.transport === "tcp" ? server.address.port : 0}`);
}

/** Runs this file again as a server process, on the current runtime; resolves with its port. */
function startServer(port: number, name: string): Promise<{ child: ChildProcess; port: number }> {
  const file = fileURLToPath(import.meta.url);
  const args = runtime === "deno" ? ["run", "-A", "--unstable-net", file] : [...process.execArgv, file];
  const child = spawn(process.execPath, [...args, "serve", String(port), name], { stdio: ["ignore", "pipe", "inherit"] });
  return new Promise((resolve, reject) => {
    child.stdout!.on("data", (data: Uint8Array) => {
      const text = new TextDecoder().decode(data);
      const ready = /^ready (\d+)/.exec(text);
      if (ready) resolve({ child, port: Number(ready[1]) });
      else process.stdout.write(text);
    });
    child.on("exit", (code) => reject(new Error(`server ${name} exited with ${code} before it was ready`)));
  });
}

function stop(child: ChildProcess): Promise<void> {
  return new Promise((exited) => {
    child.on("exit", () => exited());
    child.kill("SIGTERM");
  });
}

async function demo(): Promise<boolean> {
  const old = await startServer(0, "old");
  const { port } = old;
  const client = reconnecting({ hostname: HOST, port }, { codec: lines(), backoff: { initial: 10, max: 200 }, connectTimeout: 2000 });
  let failed = 0;
  let dropped = 0;
  let reconnects = 0;
  client.on("drop", ({ count }) => (dropped += count));
  const unacked = new Set<number>();
  const send = (n: number) => client.send(String(n)).catch((error: unknown) => void (failed++, console.error("write failed:", error)));
  // A connection that ended before its lines were acknowledged: send them again on the next one.
  client.on("open", () => {
    if (reconnects++ > 0) for (const n of unacked) void send(n);
  });

  let wake: (() => void) | undefined;
  const reader = (async () => {
    for await (const reply of client) {
      unacked.delete(Number(reply.slice(3)));
      wake?.();
    }
  })();
  const room = () => new Promise<void>((resolve) => (wake = resolve));

  let fresh: { child: ChildProcess; port: number } | undefined;
  let oldStopped: Promise<void> | undefined;
  for (let n = 1; n <= TOTAL; n++) {
    while (unacked.size >= WINDOW) await room();
    unacked.add(n);
    await send(n);
    if (n === 100) {
      fresh = await startServer(port, "new");
      oldStopped = stop(old.child);
    }
  }
  while (unacked.size > 0) await room();
  await oldStopped;
  await client.close();
  await reader;
  await stop(fresh!.child);
  console.log(`${TOTAL} lines acknowledged across the restart: ${failed} failed writes, ${dropped} dropped, ${reconnects - 1} reconnects`);
  return failed === 0 && dropped === 0;
}

if (process.argv[2] === "serve") {
  await serve(Number(process.argv[3] ?? 0), process.argv[4] ?? "server");
} else {
  const guard = setTimeout(() => {
    console.error("the demo did not finish within 60 s");
    process.exit(1);
  }, 60_000);
  try {
    const ok = await demo();
    clearTimeout(guard);
    process.exit(ok ? 0 : 1);
  } catch (error) {
    if (error instanceof NetError && error.code === "ERR_UNSUPPORTED") console.error(`reusePort unavailable here: ${error.message}`);
    else console.error(error);
    process.exit(1);
  }
}
