// An echo server in the shape of POCO's TCPServer: one handler call per connection, at most
// `maxConnections` running, `maxQueued` waiting, the rest refused; counters printed at the end.
//
//   npx tsx echo-server.ts 7007           Node 20 (Node 22.18+ and 24 run it as `node echo-server.ts 7007`)
//   deno run -A echo-server.ts 7007  ·  bun echo-server.ts 7007
// Inside this repository, "wireline" is the sources: npm run example -- examples/echo-server.ts 7007
// (or example:deno, example:bun).
// Ctrl-C stops it. With `0 --demo` instead of `7007` it runs 50 clients against itself, then stops.
//
// Try it with `nc 127.0.0.1 7007`. A client that says nothing for 10 s after connecting, or
// stays silent for 60 s later on, is dropped.
import process from "node:process";
import { connect, listen, type Server } from "wireline";

const runtime = "Deno" in globalThis ? "deno" : "Bun" in globalThis ? "bun" : "node";

const port = Number(process.argv[2] ?? 7007);
const demo = process.argv.includes("--demo");

const server = await listen(
  {
    hostname: "127.0.0.1",
    port,
    maxConnections: 100, // POCO's maxThreads
    maxQueued: 20, // POCO's maxQueued
    firstByteTimeout: 10_000, // slowloris protection
    idleTimeout: { all: 60_000 }, // "close" is the default action
  },
  // POCO's TCPServerConnection::run(): the connection closes when this returns.
  async (conn, ctx) => {
    for await (const chunk of conn) {
      await conn.write(chunk);
      if (ctx.signal.aborted) break; // the server is stopping: leave between two messages
    }
  },
);

server.on("refused", ({ remoteAddress, reason }) => console.warn("refused", remoteAddress, reason));
server.on("error", ({ error, remoteAddress }) => console.warn("handler failed for", remoteAddress, error.message));
server.on("close", () => console.log("stopped"));

const address = server.address;
console.log(`echo server on ${runtime} at ${address.transport === "tcp" ? `${address.hostname}:${address.port}` : address.path}`);

function printStats(stats: Server["stats"]): void {
  console.log("current connections:       ", stats.currentConnections);
  console.log("total connections:         ", stats.totalConnections);
  console.log("max concurrent connections:", stats.maxConcurrentConnections);
  console.log("queued connections:        ", stats.queuedConnections);
  console.log("refused connections:       ", stats.refusedConnections);
  console.log("filtered connections:      ", stats.filteredConnections);
  console.log("bytes read / written:      ", stats.bytesRead, "/", stats.bytesWritten);
}

let stopping = false;
async function stop(): Promise<void> {
  if (stopping) return;
  stopping = true;
  // Graceful: stop accepting, signal the handlers, give them 5 s, then destroy what is left.
  printStats(await server.close({ timeout: 5000 }));
}

process.on("SIGINT", () => void stop());
process.on("SIGTERM", () => void stop());

if (demo) {
  const target = { hostname: "127.0.0.1", port: address.transport === "tcp" ? address.port : 0 };
  await Promise.all(
    Array.from({ length: 50 }, async (_, i) => {
      const conn = await connect(target);
      const message = `hello from client ${i}\n`;
      await conn.write(message);
      let echoed = "";
      for await (const chunk of conn) {
        echoed += new TextDecoder().decode(chunk);
        if (echoed.length >= message.length) break;
      }
      if (echoed !== message) throw new Error(`client ${i} got ${JSON.stringify(echoed)}`);
      await conn.close();
    }),
  );
  await stop();
}
