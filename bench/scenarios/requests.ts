/**
 * Requests: `size` pipelined INCR commands to a local redis-server, in
 * windows of 1 000 awaited together, through wireline's requester (RESP codec
 * on a reconnecting client) and through ioredis on the same server. Result in
 * requests per second; the ratio to ioredis is the target of issue #13.
 *
 * @module
 */

import { spawn, type ChildProcess } from "node:child_process";
import { existsSync } from "node:fs";
import { createServer } from "node:net";
import type { Net } from "../../src/net.ts";
import { requester } from "../../src/requester/requester.ts";
import { resp } from "../../src/framing/resp.ts";
import { wirelineVariant } from "../lib/baseline-variants.ts";
import { now } from "../lib/platform.ts";
import type { Measurement, Scenario, Variant } from "../lib/scenario.ts";

const WINDOW = 1_000;
const REDIS = ["/usr/bin/redis-server", "/usr/local/bin/redis-server"].find((path) => existsSync(path));

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      server.close(() => resolve(typeof address === "object" && address ? address.port : 0));
    });
  });
}

/** A throwaway redis-server without persistence, ready to take commands. */
async function startRedis(): Promise<{ port: number; child: ChildProcess }> {
  const port = await freePort();
  const child = spawn(REDIS!, ["--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"], { stdio: ["ignore", "pipe", "ignore"] });
  let output = "";
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error("redis-server did not get ready within 10 s")), 10_000);
    child.stdout!.on("data", (data: Uint8Array) => {
      output += new TextDecoder().decode(data);
      if (output.includes("Ready to accept connections")) {
        clearTimeout(timer);
        resolve();
      }
    });
    child.once("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`redis-server exited with ${code}`));
    });
  });
  return { port, child };
}

async function withRedis(run: (port: number) => Promise<Measurement>): Promise<Measurement> {
  const { port, child } = await startRedis();
  try {
    return await run(port);
  } finally {
    child.kill("SIGKILL");
  }
}

async function pipelined(size: number, send: () => Promise<unknown>): Promise<Measurement> {
  const t0 = now();
  for (let done = 0; done < size; done += WINDOW) {
    await Promise.all(Array.from({ length: Math.min(WINDOW, size - done) }, send));
  }
  const ms = now() - t0;
  return { value: size / (ms / 1000), extra: { ms } };
}

function wireline(net: Net, size: number): Promise<Measurement> {
  return withRedis(async (port) => {
    const redis = requester(net.reconnecting(`127.0.0.1:${port}`, { codec: resp() }), { match: "fifo" });
    try {
      await redis.request(["PING"]);
      return await pipelined(size, () => redis.request(["INCR", "counter"]));
    } finally {
      await redis.close();
    }
  });
}

const ioredis: Variant = {
  name: "ioredis",
  role: "alternative",
  label: "ioredis",
  runtimes: ["node"],
  async unavailable() {
    if (!REDIS) return "redis-server is not installed";
    try {
      await import("ioredis");
      return undefined;
    } catch {
      return "ioredis is not installed";
    }
  },
  run: (_net, size) =>
    withRedis(async (port) => {
      const { Redis } = await import("ioredis");
      const client = new Redis({ port, host: "127.0.0.1", lazyConnect: true });
      await client.connect();
      try {
        return await pipelined(size, () => client.incr("counter"));
      } finally {
        client.disconnect();
      }
    }),
};

/** The requests scenario. */
export const requests: Scenario = {
  name: "requests",
  title: "requests: pipelined INCR to redis-server, windows of 1 000",
  unit: "req/s",
  higherIsBetter: true,
  sizes: { full: 200_000, quick: 20_000, guard: 20_000 },
  warmupSize: (size) => Math.max(5_000, Math.floor(size / 10)),
  variants: [{ ...wirelineVariant(wireline), unavailable: async () => (REDIS ? undefined : "redis-server is not installed") }, ioredis],
};
