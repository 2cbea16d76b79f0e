// wireline demo: a reconnecting client rides out a server restart.
//
//   npm run demo            (Node 24; npm run demo:deno, demo:bun)
//   npx tsx demo.ts         a copy of this file, with wireline installed (Node 22.18+ and 24: node demo.ts;
//                           deno run -A demo.ts; bun demo.ts)
//
// An echo server starts; a client connects and prints every state change. The
// server then stops: the client retries with jittered backoff while new writes
// wait in its bounded offline queue. The server comes back on the same port,
// the client reconnects, the queued writes are delivered and echoed, and
// everything closes; the process exits by itself.
import { lines, listen, reconnecting, type Connection, type Server } from "wireline";

const runtime = "Deno" in globalThis ? "deno" : "Bun" in globalThis ? "bun" : "node";

const start = Date.now();
const log = (who: string, message: string): void => {
  console.log(`${String(Date.now() - start).padStart(5)} ms  ${who.padEnd(6)} ${message}`);
};
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

// On server stop, say goodbye with a FIN: the client reconnects at once instead of waiting to notice.
const echo = async (conn: Connection, ctx?: { readonly signal?: AbortSignal }): Promise<void> => {
  ctx?.signal?.addEventListener("abort", () => conn.end(), { once: true });
  for await (const chunk of conn) await conn.write(chunk);
};

let server: Server = await listen({ hostname: "127.0.0.1", port: 0 }, echo);
const port = server.address.transport === "tcp" ? server.address.port : 0;
log("server", `echo server listening on 127.0.0.1:${port} (${runtime})`);

const client = reconnecting(`127.0.0.1:${port}`, {
  codec: lines(),
  backoff: { initial: 100, max: 1_000 },
});
client.on("open", ({ endpoint }) => log("client", `state → ${client.state} (${endpoint.transport === "tcp" ? `${endpoint.hostname}:${endpoint.port}` : endpoint.path})`));
client.on("reconnecting", ({ attempt, delay, error }) =>
  log("client", `state → ${client.state}: attempt ${attempt} in ${Math.round(delay)} ms after ${error.code}`),
);
client.on("drop", ({ count, reason }) => log("client", `${count} queued write(s) dropped: ${reason.code}`));
client.on("close", ({ error }) => log("client", `state → ${client.state}${error ? ` (${error.code})` : ""}`));

const echoed: string[] = [];
const reader = (async () => {
  for await (const line of client) {
    echoed.push(line);
    log("client", `received "${line}"`);
  }
})();
const waitForEcho = async (line: string): Promise<void> => {
  for (let i = 0; i < 500 && !echoed.includes(line); i++) await sleep(10);
};

log("client", `state: ${client.state}`);
await client.opened;
await client.send("hello before the restart");
await waitForEcho("hello before the restart");

log("server", "stopping (restart)");
await server.close();
await sleep(100);

const queued = ["queued 1", "queued 2", "queued 3"].map((line) => client.send(line, { deadline: 5_000 }));
log("client", `${client.queuedWrites} writes wait in the offline queue`);

await sleep(800);
server = await listen({ hostname: "127.0.0.1", port }, echo);
log("server", `back on port ${port}`);

await Promise.all(queued);
log("client", "all queued writes were handed to the new connection");
await waitForEcho("queued 3");

await client.close();
await reader;
await server.close();
log("demo", "done: client and server closed, nothing left running");
