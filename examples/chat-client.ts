// A chat client: sends each line typed on stdin, prints each line received.
//
//   node examples/chat-client.ts 127.0.0.1:7070 alice
import { createInterface } from "node:readline";
import { connect, framed, lines } from "./wireline.ts";

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
