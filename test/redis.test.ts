// The requester against a real redis-server that is killed with SIGKILL mid-stream and restarted:
// with resend every command resolves and Redis holds every item; without, every command settles and
// nothing reported ok is missing. The same file runs on Node, Deno and Bun.
import { spawn, type ChildProcess } from "node:child_process";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import type { Connection } from "../src/connection.ts";
import type { NetError } from "../src/errors.ts";
import { reconnectingWith } from "../src/reconnecting/client.ts";
import { requester, type Requester } from "../src/requester/requester.ts";
import { resp, RespError, type RespValue } from "../src/framing/resp.ts";
import { delay, listen, portOf, transport } from "./helpers/runtime.ts";

const REDIS = ["/usr/bin/redis-server", "/usr/local/bin/redis-server"].find((path) => existsSync(path));
/** Commands per run, and the one after which Redis is killed: about one per ms, as in issue #13. */
const TOTAL = 3_000;
const KILL_AFTER = 1_000;
const RESTART_AFTER_MS = 1_000;

/** A redis-server with every write fsynced before it is acknowledged. */
class RedisProcess {
  readonly port: number;
  readonly dir: string;
  #child: ChildProcess | undefined;

  constructor(port: number, dir: string) {
    this.port = port;
    this.dir = dir;
  }

  /** Starts it and waits until it accepts commands (bounded). */
  async start(): Promise<void> {
    const child = spawn(
      REDIS!,
      ["--port", String(this.port), "--bind", "127.0.0.1", "--appendonly", "yes", "--appendfsync", "always", "--dir", this.dir, "--save", "", "--daemonize", "no"],
      { stdio: ["ignore", "pipe", "pipe"] },
    );
    this.#child = child;
    let output = "";
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`redis-server did not get ready within 10 s: ${output}`)), 10_000);
      const onData = (data: Uint8Array): void => {
        output += new TextDecoder().decode(data);
        if (output.includes("Ready to accept connections")) {
          clearTimeout(timer);
          resolve();
        }
      };
      child.stdout!.on("data", onData);
      child.stderr!.on("data", onData);
      child.on("exit", (code) => {
        clearTimeout(timer);
        reject(new Error(`redis-server exited with ${code} before it was ready: ${output}`));
      });
    });
  }

  /** SIGKILL: no shutdown, no final flush; resolves once the process is gone. */
  kill(): Promise<void> {
    const child = this.#child;
    this.#child = undefined;
    if (!child || child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
    const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
    child.kill("SIGKILL");
    return exited;
  }
}

/** For onConnect: PINGs until a restarted Redis has loaded its file (it answers -LOADING until then). */
async function untilLoaded(conn: Connection): Promise<void> {
  const codec = resp();
  for (let attempt = 0; attempt < 200; attempt++) {
    const ping = codec.encode(["PING"]);
    for (const part of ping instanceof Uint8Array ? [ping] : ping) await conn.write(part);
    const decoder = codec.createDecoder();
    const iterator = conn[Symbol.asyncIterator]();
    const replies: RespValue[] = [];
    while (replies.length === 0) {
      const chunk = await iterator.next();
      if (chunk.done) throw new Error("Redis closed the connection during onConnect");
      decoder.decode(chunk.value, (reply) => replies.push(reply));
    }
    if (!(replies[0] instanceof RespError)) return;
    if (replies[0].prefix !== "LOADING") throw replies[0];
    await delay(25);
  }
  throw new Error("Redis kept loading");
}

/** A loopback port nobody listens on (just released). */
async function freePort(): Promise<number> {
  const server = await listen({ hostname: "127.0.0.1", port: 0 }, () => {});
  const port = portOf(server.address);
  await server.close();
  return port;
}

const started: RedisProcess[] = [];
afterAll(async () => {
  for (const redis of started) {
    await redis.kill();
    rmSync(redis.dir, { recursive: true, force: true });
  }
});

async function freshRedis(): Promise<RedisProcess> {
  const redis = new RedisProcess(await freePort(), mkdtempSync(join(tmpdir(), "wireline-redis-")));
  started.push(redis);
  await redis.start();
  return redis;
}

/** A requester on a reconnecting client with the RESP codec, and how many connections it opened. */
function redisRequester(port: number, resend: boolean): { r: Requester<RespValue>; opens: () => number } {
  // onConnect waits out the -LOADING replies a restarted Redis gives until it has read its file.
  const client = reconnectingWith(transport, `127.0.0.1:${port}`, { codec: resp(), backoff: { initial: 50, max: 200 }, stableAfter: 0, onConnect: untilLoaded });
  let opens = 0;
  client.on("open", () => opens++);
  return { r: requester(client, { match: "fifo", resend, timeout: 30_000 }), opens: () => opens };
}

/** Runs TOTAL RPUSHes about one per ms, killing Redis after the KILL_AFTER-th and restarting it a second later. */
async function pushThroughACrash(redis: RedisProcess, r: Requester<RespValue>, key: string): Promise<{ item: string; result: { ok: true; reply: RespValue } | { ok: false; code: string } }[]> {
  const pending: Promise<{ item: string; result: { ok: true; reply: RespValue } | { ok: false; code: string } }>[] = [];
  let restarted: Promise<void> | undefined;
  // Paced by the clock, not by one timer per command: timers are coarse on some runtimes.
  const start = Date.now();
  for (let i = 0; i < TOTAL; ) {
    const due = Math.min(TOTAL, Math.max(i + 1, Date.now() - start));
    for (; i < due; i++) {
      const item = `item-${i}`;
      pending.push(
        r.request(["RPUSH", key, item]).then(
          (reply) => ({ item, result: { ok: true as const, reply } }),
          (error: NetError) => ({ item, result: { ok: false as const, code: error.code } }),
        ),
      );
      if (i === KILL_AFTER - 1) {
        await redis.kill();
        restarted = delay(RESTART_AFTER_MS).then(() => redis.start());
      }
    }
    await delay(1);
  }
  await restarted;
  return Promise.all(pending);
}

async function listContents(r: Requester<RespValue>, key: string): Promise<string[]> {
  const reply = await r.request(["LRANGE", key, "0", "-1"]);
  return (reply as Uint8Array[]).map((item) => new TextDecoder().decode(item));
}

describe.skipIf(!REDIS)(`redis-server crash mid-stream${REDIS ? "" : " (skipped: redis-server is not installed)"}`, () => {
  it(`resend: true: all ${TOTAL} RPUSHes resolve and Redis holds every item`, { timeout: 60_000 }, async () => {
    const redis = await freshRedis();
    const { r, opens } = redisRequester(redis.port, true);
    try {
      const results = await pushThroughACrash(redis, r, "crash:resend");
      const failed = results.filter((x) => !x.result.ok);
      expect(failed).toEqual([]);
      // Replies are list lengths; an error reply (say -LOADING) would be a lost item.
      expect(results.filter((x) => x.result.ok && typeof x.result.reply !== "number")).toEqual([]);
      const contents = await listContents(r, "crash:resend");
      // At-least-once: a command applied just before the kill and resent is in the list twice.
      expect(contents.length).toBeGreaterThanOrEqual(TOTAL);
      const held = new Set(contents);
      expect(results.filter((x) => !held.has(x.item)).map((x) => x.item)).toEqual([]);
      // The kill happened mid-stream: the client had to reconnect.
      expect(opens()).toBe(2);
    } finally {
      await r.close();
    }
  });

  it(`resend: false: all ${TOTAL} RPUSHes settle and nothing reported ok is missing`, { timeout: 60_000 }, async () => {
    const redis = await freshRedis();
    const { r, opens } = redisRequester(redis.port, false);
    try {
      const results = await pushThroughACrash(redis, r, "crash:no-resend");
      const codes = new Set(results.flatMap((x) => (x.result.ok ? [] : [x.result.code])));
      for (const code of codes) expect(code).toBe("ERR_CONNECTION_LOST");
      const ok = results.filter((x) => x.result.ok && typeof x.result.reply === "number");
      const held = new Set(await listContents(r, "crash:no-resend"));
      expect(ok.filter((x) => !held.has(x.item)).map((x) => x.item)).toEqual([]);
      // Most commands were made while Redis was up or waited for it: far more than the kill could cost.
      expect(ok.length).toBeGreaterThan(TOTAL / 2);
      expect(opens()).toBe(2);
    } finally {
      await r.close();
    }
  });
});
