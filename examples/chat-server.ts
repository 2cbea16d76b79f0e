// A line-based chat server: every line a client sends goes to every other client.
//
//   npx tsx chat-server.ts 7070           Node 20 (Node 22.18+ and 24 run it as `node chat-server.ts 7070`)
//   deno run -A chat-server.ts 7070  ·  bun chat-server.ts 7070
// Inside this repository, "wireline" is the sources: npm run example -- examples/chat-server.ts 7070
// (or example:deno, example:bun).
// Then, in other terminals, chat-client.ts 127.0.0.1:7070 alice (and bob...).
//
// Lines are capped at 4 KiB: a longer one closes that client with ERR_FRAME_TOO_LARGE.
// A client that reads too slowly is dropped rather than buffered without bound.
import { framed, lines, listen, type FramedChannel } from "wireline";

const runtime = "Deno" in globalThis ? "deno" : "Bun" in globalThis ? "bun" : "node";

const port = Number((globalThis as { process?: { argv: string[] } }).process?.argv[2] ?? 7070);
const clients = new Set<FramedChannel<string>>();
const MAX_BUFFERED_LINES = 256;
/** Lines sent to each client and not yet accepted by its connection. */
const backlog = new WeakMap<FramedChannel<string>, number>();

function broadcast(from: FramedChannel<string> | undefined, line: string): void {
  for (const client of clients) {
    if (client === from) continue;
    // Not awaited: one slow reader must not stall the room. Its backlog is bounded below.
    const pending = (backlog.get(client) ?? 0) + 1;
    if (pending > MAX_BUFFERED_LINES) {
      client.destroy(new Error("too slow: dropped"));
      continue;
    }
    backlog.set(client, pending);
    client.send(line).then(
      () => backlog.set(client, (backlog.get(client) ?? 1) - 1),
      () => clients.delete(client),
    );
  }
}

const server = await listen({ hostname: "127.0.0.1", port }, async (conn) => {
  const chat = framed(conn, lines({ maxLength: 4096 }));
  const who = conn.remoteAddress?.transport === "tcp" ? `${conn.remoteAddress.hostname}:${conn.remoteAddress.port}` : "someone";
  let name = who;
  clients.add(chat);
  await chat.send(`welcome to the ${runtime} chat; ${clients.size - 1} other(s) here. First line = your name.`);
  try {
    let first = true;
    for await (const line of chat) {
      if (first) {
        name = line.trim().slice(0, 32) || who;
        first = false;
        broadcast(chat, `* ${name} joined`);
        continue;
      }
      broadcast(chat, `${name}: ${line}`);
    }
  } catch (error) {
    console.error(`${name}: ${(error as Error).message}`);
  } finally {
    clients.delete(chat);
    broadcast(undefined, `* ${name} left`);
  }
});
console.log(`chat server (${runtime}) on`, server.address);
