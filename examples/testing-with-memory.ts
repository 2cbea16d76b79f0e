// Unit-testing your own protocol handler with the memory transport: the same listen/connect
// API, framing, backpressure and close semantics as TCP, with no socket, no port and no network.
//
//   npx tsx testing-with-memory.ts         Node 20 (Node 22.18+ and 24 run it as `node testing-with-memory.ts`)
//   deno run -A testing-with-memory.ts  ·  bun testing-with-memory.ts
// Inside this repository, "wireline" is the sources: npm run example -- examples/testing-with-memory.ts
// (or example:deno, example:bun). It prints "all checks passed".
import assert from "node:assert/strict";
import { framed, lines, type Connection } from "wireline";
import { connect, listen } from "wireline/memory";

// ---- your code: a tiny key-value protocol, one command per line ----------------------------

/** Serves one client: `SET key value` -> `OK`, `GET key` -> the value or `NIL`, `QUIT` -> `BYE`. */
export async function kvHandler(conn: Connection, store: Map<string, string>): Promise<void> {
  const channel = framed(conn, lines({ maxLength: 1024 }));
  for await (const line of channel) {
    const [command = "", key = "", ...rest] = line.split(" ");
    switch (command.toUpperCase()) {
      case "SET":
        store.set(key, rest.join(" "));
        await channel.send("OK");
        break;
      case "GET":
        await channel.send(store.get(key) ?? "NIL");
        break;
      case "QUIT":
        await channel.send("BYE");
        return; // the server closes the connection when the handler returns
      default:
        await channel.send(`ERR unknown command ${JSON.stringify(command)}`);
    }
  }
}

// ---- your test: drive the handler over an in-memory connection ------------------------------
// With Vitest, Jest, `deno test` or `bun test` this would be an `it(...)` block; plain asserts
// keep the example runnable on its own.

const store = new Map<string, string>();
// Port 0 picks a free in-memory port, so tests running side by side never collide.
await using server = await listen({ port: 0 }, (conn) => kvHandler(conn, store));
const address = server.address;
if (address.transport !== "tcp") throw new Error("expected a port");

const conn = await connect({ hostname: "127.0.0.1", port: address.port });
const client = framed(conn, lines());
const replies = client[Symbol.asyncIterator]();
async function ask(command: string): Promise<string | undefined> {
  await client.send(command);
  return (await replies.next()).value;
}

assert.equal(await ask("GET colour"), "NIL");
assert.equal(await ask("SET colour dark blue"), "OK");
assert.equal(await ask("GET colour"), "dark blue");
assert.equal(store.get("colour"), "dark blue"); // the handler's state is right there to inspect
assert.equal(await ask("FLY away"), 'ERR unknown command "FLY"');
assert.equal(await ask("QUIT"), "BYE");
// The handler returned, so the server closed the connection: the client reads EOF.
assert.equal((await replies.next()).done, true);
assert.equal(await conn.closed, undefined); // a clean close, no error

// Nobody listening is refused at once, exactly as over TCP.
await assert.rejects(connect({ hostname: "127.0.0.1", port: 9 }), { code: "ECONNREFUSED" });

console.log("all checks passed");
