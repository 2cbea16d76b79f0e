// A chat client: sends each line typed on stdin, prints each line received.
//
//   npx tsx chat-client.ts 127.0.0.1:7070 alice           Node 20 (Node 22.18+ and 24 run it as `node chat-client.ts 127.0.0.1:7070 alice`)
//   deno run -A chat-client.ts 127.0.0.1:7070 alice  ·  bun chat-client.ts 127.0.0.1:7070 alice
// Inside this repository, "wireline" is the sources: npm run example -- examples/chat-client.ts 127.0.0.1:7070 alice
// (or example:deno, example:bun).
import { createInterface } from "node:readline";
import { connect, framed, lines } from "wireline";

const argv = (globalThis as { process: { argv: string[] } }).process.argv;
const address = argv[2] ?? "127.0.0.1:7070";
const name = argv[3] ?? "guest";

const chat = framed(await connect(address), lines({ maxLength: 4096 }));
await chat.send(name);

const input = createInterface({ input: (globalThis as unknown as { process: { stdin: NodeJS.ReadableStream } }).process.stdin });
input.on("line", (line) => void chat.send(line));
input.on("close", () => void chat.close());

for await (const line of chat) console.log(line);
input.close();
