/**
 * Sessions: `size` length-prefixed frames (64-byte payload) one way through
 * a resumable session, against plain `framed()` in the same run (issue 14's
 * target: ≥ 0.8×). Result in frames per second, with the round-trip latency
 * of one frame echoed at a time (p50, p99) as secondary numbers.
 *
 * - wireline: `reconnecting(target, { session: true, codec })` sending to
 *   `listen({ session: { codec } })`; `send()` resolves once the server's
 *   session acknowledged the frame.
 * - framed: `framed(conn, lengthPrefixed())` on both ends; `send()` resolves
 *   once the frame's batch was written.
 *
 * Both senders keep at most 1024 sends unsettled (the session's default
 * window), checking every 128th send, so the sends in between go out in one
 * tick and both can batch them. Both receivers read one frame per iteration
 * step (a session has no `batches()`).
 *
 * @module
 */

import { framed } from "../../src/framing/framed.ts";
import { lengthPrefixed } from "../../src/framing/length-prefixed.ts";
import type { Net } from "../../src/net.ts";
import { now, portOf, signal } from "../lib/platform.ts";
import type { Measurement, Scenario } from "../lib/scenario.ts";

const PIPELINE = 1024;
const STEP = 128;
const ROUND_TRIPS = 2_000;
const payload = new Uint8Array(64).fill(0x42);

/** Sends `count` frames with at most PIPELINE unsettled; sends settle in order, so one in STEP is awaited. */
async function pump(send: (frame: Uint8Array) => Promise<void>, count: number): Promise<void> {
  const checkpoints: Promise<void>[] = [];
  for (let i = 0; i < count; i++) {
    if (i % STEP === 0 && checkpoints.length >= PIPELINE / STEP) await checkpoints.shift();
    const sent = send(payload);
    if (i % STEP === STEP - 1 || i === count - 1) checkpoints.push(sent);
  }
  await Promise.all(checkpoints);
}

/** One frame at a time, `send` then the echo; p50 and p99 in µs. */
async function roundTrips(send: (frame: Uint8Array) => Promise<void>, echo: AsyncIterator<Uint8Array>, awaitSend: boolean): Promise<{ p50_us: number; p99_us: number }> {
  const times: number[] = [];
  for (let i = 0; i < ROUND_TRIPS; i++) {
    const t = now();
    const sent = send(payload);
    // A session send resolves on the acknowledgement, which may follow the echo: the round trip is the echo.
    if (awaitSend) await sent;
    await echo.next();
    if (!awaitSend) await sent;
    times.push((now() - t) * 1000);
  }
  times.sort((a, b) => a - b);
  const at = (p: number): number => times[Math.min(times.length - 1, Math.floor(times.length * p))]!;
  return { p50_us: at(0.5), p99_us: at(0.99) };
}

function result(count: number, ms: number, latency: { p50_us: number; p99_us: number }): Measurement {
  return { value: count / (ms / 1000), extra: { count, ms, ...latency } };
}

async function session(net: Net, count: number): Promise<Measurement> {
  const done = signal();
  let received = 0;
  const sink = await net.listen({ port: 0, session: { codec: lengthPrefixed() } }, async (s) => {
    for await (const _ of s) if (++received === count) done.resolve();
  });
  const client = net.reconnecting(`127.0.0.1:${portOf(sink.address)}`, { session: true, codec: lengthPrefixed() });
  await client.opened;
  const t0 = now();
  await pump((f) => client.send(f), count);
  await done.promise;
  const ms = now() - t0;
  await client.close();
  await sink.close();

  const echo = await net.listen({ port: 0, session: { codec: lengthPrefixed() } }, async (s) => {
    for await (const f of s) await s.send(f);
  });
  const pinger = net.reconnecting(`127.0.0.1:${portOf(echo.address)}`, { session: true, codec: lengthPrefixed() });
  await pinger.opened;
  const latency = await roundTrips((f) => pinger.send(f), pinger[Symbol.asyncIterator](), false);
  await pinger.close();
  await echo.close();
  return result(count, ms, latency);
}

async function plain(net: Net, count: number): Promise<Measurement> {
  const done = signal();
  let received = 0;
  const sink = await net.listen({ port: 0 }, async (conn) => {
    for await (const _ of framed(conn, lengthPrefixed())) if (++received === count) done.resolve();
  });
  const channel = framed(await net.connect({ hostname: "127.0.0.1", port: portOf(sink.address) }), lengthPrefixed());
  const t0 = now();
  await pump((f) => channel.send(f), count);
  await done.promise;
  const ms = now() - t0;
  await channel.close();
  await sink.close();

  const echo = await net.listen({ port: 0 }, async (conn) => {
    const c = framed(conn, lengthPrefixed());
    for await (const f of c) await c.send(f);
  });
  const pinger = framed(await net.connect({ hostname: "127.0.0.1", port: portOf(echo.address) }), lengthPrefixed());
  const latency = await roundTrips((f) => pinger.send(f), pinger[Symbol.asyncIterator](), true);
  await pinger.close();
  await echo.close();
  return result(count, ms, latency);
}

export const sessions: Scenario = {
  name: "sessions",
  title: "Resumable sessions: 64-byte frames one way, against framed()",
  unit: "frames/s",
  higherIsBetter: true,
  sizes: { full: 200_000, quick: 50_000, guard: 100_000 },
  warmupSize: (size) => Math.min(size, 20_000),
  variants: [
    { name: "wireline", role: "wireline", label: "wireline session", run: session },
    { name: "framed", role: "reference", label: "framed()", run: plain },
  ],
};
