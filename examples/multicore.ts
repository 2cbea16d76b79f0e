// Several server processes sharing one port, with the load spread across them.
//
//   node multicore.ts [workers] [connections]            Node 22.18+ / 24: reusePort
//   npx tsx multicore.ts                                  Node 20 - 22.11: node:cluster
//   deno run -A --unstable-net multicore.ts              Deno: reusePort needs --unstable-net
//   bun multicore.ts                                      Bun: reusePort
// Inside this repository, "wireline" is the sources: npm run example -- examples/multicore.ts
// (or example:bun; Deno as above).
//
// | runtime            | mechanism      | who balances                                             |
// |--------------------|----------------|----------------------------------------------------------|
// | Bun                | reusePort      | the Linux kernel (SO_REUSEPORT hashes each connection)   |
// | Deno --unstable-net| reusePort      | the Linux kernel; without the flag: ERR_UNSUPPORTED      |
// | Node 22.12+, 23.1+ | reusePort      | the Linux kernel                                         |
// | Node before 22.12  | node:cluster   | the primary process accepts, hands sockets round-robin   |
//
// SO_REUSEPORT balances on Linux; on macOS and the BSDs the last process to bind gets every
// connection, so there use node:cluster (Node) or one process per port behind a proxy.
//
// The primary starts the workers, opens `connections` connections, and counts which worker
// answered each one; each worker prints its own server stats when it stops.
import cluster from "node:cluster";
import { spawn, type ChildProcess } from "node:child_process";
import process from "node:process";
import { fileURLToPath } from "node:url";
import { connect, listen, NetError } from "wireline";

const runtime = "Deno" in globalThis ? "deno" : "Bun" in globalThis ? "bun" : "node";

const HOST = "127.0.0.1";

/** One worker: serve the shared port, answer every connection with this worker's id. */
async function worker(id: string, port: number, reusePort: boolean): Promise<void> {
  const server = await listen({ hostname: HOST, port, reusePort: reusePort || undefined }, async (conn) => {
    await conn.write(`${id}\n`);
  });
  const stop = async () => {
    const stats = await server.close({ timeout: 2000 });
    console.log(`worker ${id} (pid ${process.pid}) stopped: served ${stats.totalConnections}, max concurrent ${stats.maxConcurrentConnections}`);
    process.exit(0); // a cluster worker's IPC channel would keep it alive
  };
  process.on("SIGTERM", () => void stop());
  if (cluster.isWorker) process.send!({ ready: id, port: server.address.transport === "tcp" ? server.address.port : 0 });
  else console.log(`ready ${id}`);
}

/** Opens `total` connections, `parallel` at a time, and counts the worker id each one reads. */
async function tally(port: number, total: number, parallel = 20): Promise<Map<string, number>> {
  const counts = new Map<string, number>();
  let next = 0;
  await Promise.all(
    Array.from({ length: parallel }, async () => {
      while (next < total) {
        next++;
        const conn = await connect({ hostname: HOST, port });
        let reply = "";
        for await (const chunk of conn) reply += new TextDecoder().decode(chunk);
        const id = reply.trim();
        counts.set(id, (counts.get(id) ?? 0) + 1);
      }
    }),
  );
  return counts;
}

function report(mechanism: string, counts: Map<string, number>, total: number): void {
  console.log(`${total} connections over ${counts.size} workers (${runtime}, ${mechanism}):`);
  for (const [id, n] of [...counts].sort()) console.log(`  worker ${id}: ${String(n).padStart(4)}  ${"#".repeat(Math.round((n / total) * 50))}`);
}

/** The command line that runs this file again as a worker, on the current runtime. */
function workerCommand(args: string[]): [string, string[]] {
  const file = fileURLToPath(import.meta.url);
  if (runtime === "deno") return [process.execPath, ["run", "-A", "--unstable-net", file, ...args]];
  if (runtime === "bun") return [process.execPath, [...process.execArgv, file, ...args]];
  return [process.execPath, [...process.execArgv, file, ...args]];
}

async function withReusePort(workers: number, total: number): Promise<boolean> {
  // Binding first with reusePort both checks that the runtime supports it and reserves a port.
  let probe;
  try {
    probe = await listen({ hostname: HOST, port: 0, reusePort: true }, (conn) => conn.close());
  } catch (error) {
    if (error instanceof NetError && error.code === "ERR_UNSUPPORTED") {
      console.log(`reusePort unavailable: ${error.message}`);
      return false;
    }
    throw error;
  }
  const port = probe.address.transport === "tcp" ? probe.address.port : 0;
  const children: ChildProcess[] = [];
  await Promise.all(
    Array.from({ length: workers }, (_, i) => {
      const [cmd, args] = workerCommand(["worker", String(i + 1), String(port)]);
      const child = spawn(cmd, args, { stdio: ["ignore", "pipe", "inherit"] });
      children.push(child);
      return new Promise<void>((ready, failed) => {
        child.stdout!.on("data", (data: Uint8Array) => {
          const text = new TextDecoder().decode(data);
          if (text.startsWith("ready")) ready();
          else process.stdout.write(text);
        });
        child.on("exit", (code) => failed(new Error(`worker ${i + 1} exited with ${code}`)));
      });
    }),
  );
  // The probe leaves the group before any client connects, so only the workers share the port.
  await probe.close();
  report("reusePort", await tally(port, total), total);
  await Promise.all(
    children.map((child) => new Promise<void>((exited) => {
      child.on("exit", () => exited());
      child.kill("SIGTERM");
    })),
  );
  return true;
}

async function withCluster(workers: number, total: number): Promise<void> {
  const ready = Array.from({ length: workers }, (_, i) => {
    const w = cluster.fork({ WORKER_ID: String(i + 1) });
    return new Promise<{ port: number; worker: typeof w }>((resolve, reject) => {
      w.on("message", (m: { port: number }) => resolve({ port: m.port, worker: w }));
      w.on("exit", (code) => reject(new Error(`worker ${i + 1} exited with ${code}`)));
    });
  });
  const started = await Promise.all(ready);
  report("node:cluster", await tally(started[0]!.port, total), total);
  await Promise.all(
    started.map(({ worker: w }) => new Promise<void>((exited) => {
      w.on("exit", () => exited());
      w.process.kill("SIGTERM");
    })),
  );
}

if (cluster.isWorker) {
  // node:cluster workers all ask for port 0: the primary hands every one of them the same port.
  await worker(process.env.WORKER_ID!, 0, false);
} else if (process.argv[2] === "worker") {
  await worker(process.argv[3]!, Number(process.argv[4]), true);
} else {
  const workers = Number(process.argv[2] ?? 2);
  const total = Number(process.argv[3] ?? 200);
  const done = await withReusePort(workers, total);
  if (!done) {
    if (runtime !== "node") process.exit(1);
    console.log("falling back to node:cluster");
    await withCluster(workers, total);
  }
}
