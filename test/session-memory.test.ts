// Sessions over the memory transport on a manual clock: the timing rules
// (ttl, handshake timeout, resume after a drop) checked deterministically.
// The same file runs on Node, Deno and Bun.
import { describe, expect, it } from "vitest";
import { connect, memoryTransport } from "../adapters/memory.ts";
import type { Connection } from "../src/mod.ts";
import { ReconnectingClient } from "../src/reconnecting/client.ts";
import { listenWith } from "../src/server/server.ts";
import { SERVER_CLOCK } from "../src/server/server-clock.ts";
import { decodeMessage, encodeDataHeader, encodeHello, encodeResume, MessageReader, MessageType, RefusedReason, type SessionMessage } from "../src/session/envelope.ts";
import type { ServerSession, SessionContext, SessionHandler } from "../src/session/server-sessions.ts";
import type { SessionServerOptions } from "../src/session/session-options.ts";
import { ManualClock } from "./helpers/manual-clock.ts";

const W = { frames: 16, bytes: 4096 };

/**
 * Lets the memory transport's deliveries (real macrotasks) and the manual
 * clock's due timers run until `condition` holds, without moving the clock.
 */
async function until(clock: ManualClock, condition: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 1_000; i++) {
    if (condition()) return;
    await clock.advance(0);
    await new Promise((resolve) => setTimeout(resolve, 1));
  }
  throw new Error(`never happened: ${what}`);
}

/** As {@link until}, with the manual clock stopped: what happens needs no wireline timer. */
async function untilWithoutTimers(condition: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 1_000; i++) {
    if (condition()) return;
    await new Promise((resolve) => setTimeout(resolve, 1));
  }
  throw new Error(`never happened: ${what}`);
}

async function server(clock: ManualClock, session: SessionServerOptions, handler: SessionHandler) {
  const options = { hostname: "127.0.0.1", port: 0, session, [SERVER_CLOCK]: clock };
  const s = await listenWith(memoryTransport, options, handler);
  return { server: s, port: (s.address as { port: number }).port };
}

/** A hand-driven session peer on a memory connection. */
async function peer(port: number) {
  const conn: Connection = await connect({ hostname: "127.0.0.1", port });
  const reader = new MessageReader(1 << 20);
  const queue: SessionMessage[] = [];
  const iterator = conn[Symbol.asyncIterator]();
  return {
    conn,
    async next(): Promise<SessionMessage | undefined> {
      while (queue.length === 0) {
        const { value, done } = await iterator.next();
        if (done) return undefined;
        reader.push(value, (body) => queue.push(decodeMessage(new Uint8Array(body))));
      }
      return queue.shift();
    },
  };
}

describe("sessions on a manual clock", () => {
  it("a session expires exactly ttl ms after its connection went, and its handler's signal says why", async () => {
    const clock = new ManualClock();
    const aborted: unknown[] = [];
    let served: ServerSession | undefined;
    const { server: s, port } = await server(clock, { ttl: 1_000 }, async (session, ctx: SessionContext) => {
      served = session;
      ctx.signal.addEventListener("abort", () => aborted.push(ctx.signal.reason));
      for await (const _ of session);
    });
    const first = await peer(port);
    await first.conn.write(encodeHello(W));
    const welcome = (await first.next()) as Extract<SessionMessage, { type: 3 }>;
    expect(welcome).toMatchObject({ type: MessageType.Welcome, resumed: false, lastReceived: 0 });
    first.conn.destroy();
    await until(clock, () => served?.connected === false, "the server to see the connection go");
    await clock.advance(999);
    expect(s.sessions).toMatchObject({ active: 1, expired: 0 });
    expect(aborted).toEqual([]);
    await clock.advance(1);
    expect(s.sessions).toMatchObject({ active: 0, expired: 1 });
    expect(aborted).toEqual([expect.objectContaining({ code: "ERR_SESSION_LOST", message: expect.stringMatching(/expired.*ttl \(1000 ms\)/) })]);

    // Its token no longer opens anything; the server says so and waits for a HELLO on the same connection.
    const late = await peer(port);
    await late.conn.write(encodeResume(W, welcome.id, welcome.token, 0));
    expect(await late.next()).toMatchObject({ type: MessageType.Refused, reason: RefusedReason.UnknownSession });
    await late.conn.write(encodeHello(W));
    expect(await late.next()).toMatchObject({ type: MessageType.Welcome, resumed: false });
    expect(s.sessions).toMatchObject({ active: 1, created: 2, unknownSessions: 1 });
    late.conn.destroy();
    await s.close({ timeout: 0 });
  });

  it("a resume within ttl keeps the session, and the server replays what the client did not receive", async () => {
    const clock = new ManualClock();
    let calls = 0;
    let served: ServerSession | undefined;
    const { server: s, port } = await server(clock, { ttl: 1_000 }, async (session) => {
      served = session;
      calls++;
      for await (const frame of session) await session.send(frame);
    });
    const first = await peer(port);
    await first.conn.write(encodeHello(W));
    const welcome = (await first.next()) as Extract<SessionMessage, { type: 3 }>;
    await first.conn.write(encodeDataHeader(1, 1, 0, 5));
    await first.conn.write(Uint8Array.of(0, 0, 0, 1, 42)); // a raw message: its length, then its bytes
    expect(await first.next()).toMatchObject({ type: MessageType.Data, first: 1, count: 1, frames: Uint8Array.of(0, 0, 0, 1, 42) }); // the echo
    first.conn.destroy(); // before acknowledging the echo
    await until(clock, () => served?.connected === false, "the server to see the connection go");
    await clock.advance(999);
    const back = await peer(port);
    await back.conn.write(encodeResume(W, welcome.id, welcome.token, 0));
    expect(await back.next()).toMatchObject({ type: MessageType.Welcome, resumed: true, lastReceived: 1 });
    expect(await back.next()).toMatchObject({ type: MessageType.Data, first: 1, count: 1, frames: Uint8Array.of(0, 0, 0, 1, 42) }); // replayed
    await clock.advance(5_000);
    expect(s.sessions).toMatchObject({ active: 1, resumed: 1, expired: 0 });
    expect(calls).toBe(1);
    back.conn.destroy();
    await s.close({ timeout: 0 });
  });

  it("a connection that sends no handshake is closed after handshakeTimeout", async () => {
    const clock = new ManualClock();
    const { server: s, port } = await server(clock, { handshakeTimeout: 500 }, () => {});
    const silent = await peer(port);
    await until(clock, () => s.stats.totalConnections === 1, "the server to take the connection");
    await clock.advance(499);
    expect(silent.conn.isClosed).toBe(false);
    await clock.advance(1);
    await expect(silent.next()).rejects.toMatchObject({ code: "ECONNRESET" }); // destroyed, not served
    await s.close({ timeout: 0 });
  });

  it("a reconnecting client with a session: send() resolves on the server's acknowledgement, which needs no timer", async () => {
    const clock = new ManualClock();
    const got: number[] = [];
    const { server: s, port } = await server(clock, { ttl: 1_000 }, async (session) => {
      for await (const frame of session) got.push(frame[0]!);
    });
    const client = new ReconnectingClient(memoryTransport, `127.0.0.1:${port}`, { session: { window: { frames: 64 } } }, { clock });
    let confirmed = 0;
    const sends = [1, 2, 3].map((n) => client.send(Uint8Array.of(n)).then(() => void confirmed++));
    await until(clock, () => got.length === 3, "the server to read the frames");
    const stoppedAt = clock.now();
    await untilWithoutTimers(() => confirmed === 3, "the acknowledgement, with the clock stopped");
    expect(clock.now()).toBe(stoppedAt);
    await Promise.all(sends);
    expect(confirmed).toBe(3);
    expect(got).toEqual([1, 2, 3]);
    await client.close();
    await until(clock, () => s.sessions!.active === 0, "the CLOSE to end the session");
    expect(s.sessions).toMatchObject({ active: 0, created: 1, expired: 0 }); // the client's CLOSE ended it at once
    await s.close({ timeout: 0 });
  });
});
