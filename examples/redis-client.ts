// A small Redis client: pipelining, error replies as rejections, and no lost command across a
// restart of the server (commands in flight are resent: at-least-once).
//
//   redis-server --port 6379 &
//   npx tsx redis-client.ts 127.0.0.1:6379      (Node 22.18+ and 24: node; or deno run -A / bun)
// Inside this repository, "wireline" is the sources: npm run example -- examples/redis-client.ts
//
// Used as a module, `redisClient(target)` returns a client whose `command(...)` resolves with the
// decoded reply (strings, numbers, Uint8Array bulk strings, arrays, null).
import { pathToFileURL } from "node:url";
import { reconnecting, requester, resp, RespError, type Connection, type Requester, type RespValue } from "wireline";

/** Options of {@link redisClient}. */
export interface RedisClientOptions {
  /** Resend commands in flight after a reconnect (at-least-once). Default true. */
  readonly resend?: boolean;
  /** Ms a command may take, waiting for a connection included. Default 10 000. */
  readonly timeout?: number;
  /** Commands on the wire at once. Default 1 000. */
  readonly maxInFlight?: number;
}

/** A Redis connection that stays up. */
export interface RedisClient {
  /** Sends one command; resolves with its reply, rejects with the {@link RespError} Redis answered. */
  command(...args: (string | number | Uint8Array)[]): Promise<RespValue>;
  /** The requester underneath, for its stats. */
  readonly requester: Requester<RespValue>;
  close(): Promise<void>;
}

/** Connects to Redis at `target` ("host:port"). */
export function redisClient(target: string, options: RedisClientOptions = {}): RedisClient {
  const client = reconnecting(target, {
    codec: resp(),
    backoff: { initial: 50, max: 1_000 },
    // A restarted Redis accepts connections while it loads its data, and answers -LOADING until then.
    onConnect: untilLoaded,
  });
  const redis = requester(client, {
    match: "fifo",
    resend: options.resend ?? true,
    timeout: options.timeout,
    maxInFlight: options.maxInFlight,
  });
  return {
    requester: redis,
    async command(...args) {
      const reply = await redis.request(args.map((arg) => (typeof arg === "number" ? String(arg) : arg)));
      if (reply instanceof RespError) throw reply;
      return reply;
    },
    close: () => redis.close(),
  };
}

/** For `onConnect`: PINGs on the fresh connection until Redis has loaded its dataset (it answers -LOADING until then). */
export async function untilLoaded(conn: Connection): Promise<void> {
  const codec = resp();
  const ping = codec.encode(["PING"]);
  for (;;) {
    for (const part of ping instanceof Uint8Array ? [ping] : ping) await conn.write(part);
    const reply = await readOne(conn, codec.createDecoder());
    if (!(reply instanceof RespError)) return;
    if (reply.prefix !== "LOADING") throw reply;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

async function readOne(conn: Connection, decoder: ReturnType<ReturnType<typeof resp>["createDecoder"]>): Promise<RespValue> {
  const iterator = conn[Symbol.asyncIterator]();
  const replies: RespValue[] = [];
  while (replies.length === 0) {
    const chunk = await iterator.next();
    if (chunk.done) throw new Error("Redis closed the connection during the handshake");
    decoder.decode(chunk.value, (reply) => replies.push(reply));
  }
  return replies[0]!;
}

const argv = (globalThis as { process?: { argv: string[] } }).process?.argv ?? [];
if (argv[1] !== undefined && import.meta.url === pathToFileURL(argv[1]).href) {
  const redis = redisClient(argv[2] ?? "127.0.0.1:6379");
  console.log("SET", await redis.command("SET", "greeting", "hello"));
  const value = (await redis.command("GET", "greeting")) as Uint8Array;
  console.log("GET", new TextDecoder().decode(value));
  await redis.command("DEL", "counter");
  // Pipelined: 10 000 commands in flight together, replies paired in order.
  const started = performance.now();
  const replies = await Promise.all(Array.from({ length: 10_000 }, () => redis.command("INCR", "counter")));
  console.log(`10000 INCR in ${Math.round(performance.now() - started)} ms, last reply ${String(replies.at(-1))}`);
  await redis.command("NOTACOMMAND").catch((error: RespError) => console.log("error reply:", error.message));
  console.log(redis.requester.stats);
  await redis.close();
}
