/**
 * Session throughput and latency against plain `framed()` in the same run,
 * on the runtime that runs this file (loopback):
 * - throughput: `count` 64-byte length-prefixed frames one way, the receiver
 *   counting them; the sender keeps at most 1024 sends unsettled (a sliding
 *   window, checked every 128 sends), which is the session's default window.
 *   framed(): `send()` resolves when written; session: when acknowledged.
 * - latency: one frame echoed at a time, median and p99 round trip.
 *
 *   npx tsx bench/sessions.ts [count]
 *   deno run -A bench/sessions.ts [count]
 *   bun bench/sessions.ts [count]
 *
 * @module
 */

import { framed } from "../src/framed.ts";
import { lengthPrefixed } from "../src/length-prefixed.ts";
import { reconnectingWith } from "../src/reconnecting/client.ts";
import { connectWith } from "../src/connect.ts";
import { listenWith } from "../src/server.ts";
import { runtime, transport } from "../test/helpers/runtime.ts";

const count = Number((globalThis as { process?: { argv: string[] } }).process?.argv[2] ?? 200_000);
const PIPELINE = 1024;
const STEP = 128;
const ROUND_TRIPS = 2_000;
const payload = new Uint8Array(64).fill(0x42);

function portOf(address: object): number {
  return (address as { port: number }).port;
}

async function pump(send: (frame: Uint8Array) => Promise<void>, n: number): Promise<void> {
  // A sliding window checked every STEP sends: before send i, send i - PIPELINE must have
  // settled (sends settle in order). Sends in between go out in the same tick, so both
  // framed() and the session can batch them.
  const checkpoints: Promise<void>[] = [];
  for (let i = 0; i < n; i++) {
    if (i % STEP === 0 && checkpoints.length >= PIPELINE / STEP) await checkpoints.shift();
    const sent = send(payload);
    if (i % STEP === STEP - 1 || i === n - 1) checkpoints.push(sent);
  }
  await Promise.all(checkpoints);
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))]!;
}

async function framedRun(): Promise<{ rate: number; p50: number; p99: number }> {
  let received = 0;
  let done!: () => void;
  const all = new Promise<void>((resolve) => (done = resolve));
  const sink = await listenWith(transport, { port: 0 }, async (conn) => {
    for await (const _ of framed(conn, lengthPrefixed())) if (++received === count) done();
  });
  const channel = framed(await connectWith(transport, { hostname: "127.0.0.1", port: portOf(sink.address) }), lengthPrefixed());
  const start = performance.now();
  await pump((f) => channel.send(f), count);
  await all;
  const rate = count / ((performance.now() - start) / 1000);
  await channel.close();
  await sink.close();

  const echo = await listenWith(transport, { port: 0 }, async (conn) => {
    const c = framed(conn, lengthPrefixed());
    for await (const f of c) await c.send(f);
  });
  const pinger = framed(await connectWith(transport, { hostname: "127.0.0.1", port: portOf(echo.address) }), lengthPrefixed());
  const iterator = pinger[Symbol.asyncIterator]();
  const times: number[] = [];
  for (let i = 0; i < ROUND_TRIPS; i++) {
    const t = performance.now();
    await pinger.send(payload);
    await iterator.next();
    times.push(performance.now() - t);
  }
  await pinger.close();
  await echo.close();
  times.sort((a, b) => a - b);
  return { rate, p50: percentile(times, 0.5), p99: percentile(times, 0.99) };
}

async function sessionRun(): Promise<{ rate: number; p50: number; p99: number }> {
  let received = 0;
  let done!: () => void;
  const all = new Promise<void>((resolve) => (done = resolve));
  const sink = await listenWith(transport, { port: 0, session: { codec: lengthPrefixed() } }, async (session) => {
    for await (const _ of session) if (++received === count) done();
  });
  const client = reconnectingWith(transport, `127.0.0.1:${portOf(sink.address)}`, { session: true, codec: lengthPrefixed() });
  await client.opened;
  const start = performance.now();
  await pump((f) => client.send(f), count);
  await all;
  const rate = count / ((performance.now() - start) / 1000);
  await client.close();
  await sink.close();

  const echo = await listenWith(transport, { port: 0, session: { codec: lengthPrefixed() } }, async (session) => {
    for await (const f of session) await session.send(f);
  });
  const pinger = reconnectingWith(transport, `127.0.0.1:${portOf(echo.address)}`, { session: true, codec: lengthPrefixed() });
  await pinger.opened;
  const iterator = pinger[Symbol.asyncIterator]();
  const times: number[] = [];
  for (let i = 0; i < ROUND_TRIPS; i++) {
    const t = performance.now();
    void pinger.send(payload);
    await iterator.next();
    times.push(performance.now() - t);
  }
  await pinger.close();
  await echo.close();
  times.sort((a, b) => a - b);
  return { rate, p50: percentile(times, 0.5), p99: percentile(times, 0.99) };
}

const plain = await framedRun();
const session = await sessionRun();
const fmt = (n: number): string => Math.round(n).toLocaleString("en-US");
console.log(`${runtime}: ${fmt(count)} frames of 64 B`);
console.log(`  framed():  ${fmt(plain.rate)} frames/s   round trip p50 ${plain.p50.toFixed(3)} ms  p99 ${plain.p99.toFixed(3)} ms`);
console.log(`  session:   ${fmt(session.rate)} frames/s   round trip p50 ${session.p50.toFixed(3)} ms  p99 ${session.p99.toFixed(3)} ms`);
console.log(`  ratio:     ${(session.rate / plain.rate).toFixed(2)}x throughput, +${(session.p50 - plain.p50).toFixed(3)} ms p50 latency`);
