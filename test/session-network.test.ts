// Resumable sessions over real loopback sockets, with wireline at both ends:
// reconnecting({ session }) against listen({ session }), through the fault
// proxy. The same file runs on Node, Deno and Bun.
import { afterEach, describe, expect, it } from "vitest";
import type { Connection, NetError, Server } from "../src/mod.ts";
import { lengthPrefixed } from "../src/framing/length-prefixed.ts";
import { reconnectingWith, type ReconnectingClient } from "../src/reconnecting/client.ts";
import type { ReconnectingEvents } from "../src/reconnecting/events.ts";
import type { ReconnectingOptions } from "../src/reconnecting/options.ts";
import { listenWith } from "../src/server/server.ts";
import { decodeMessage, encodeHello, encodeResume, MessageReader, MessageType, RefusedReason, type SessionMessage } from "../src/session/envelope.ts";
import type { ServerSession, SessionContext, SessionHandler } from "../src/session/server-sessions.ts";
import type { SessionServerOptions } from "../src/session/session-options.ts";
import { testCerts } from "./helpers/certs.ts";
import { FaultProxy } from "./helpers/fault-proxy.ts";
import { connect, delay, portOf, transport } from "./helpers/runtime.ts";
import { until } from "./helpers/until.ts";

const FAST = { initial: 5, max: 50 } as const;
const cleanups: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup().catch(() => {});
});

function seqFrame(n: number, size = 8): Uint8Array {
  const frame = new Uint8Array(size);
  new DataView(frame.buffer).setUint32(0, n);
  return frame;
}
const seqOf = (frame: Uint8Array): number => new DataView(frame.buffer, frame.byteOffset, frame.byteLength).getUint32(0);

async function sessionServer<T = Uint8Array>(session: true | SessionServerOptions<T>, handler: SessionHandler<T>, port = 0): Promise<Server> {
  const server = await listenWith<T>(transport, { hostname: "127.0.0.1", port, session }, handler);
  cleanups.push(() => server.close({ timeout: 1_000 }));
  return server;
}

function sessionClient(port: number, options: ReconnectingOptions<Uint8Array> = {}): ReconnectingClient<Uint8Array> {
  const client = reconnectingWith(transport, `127.0.0.1:${port}`, { session: true, backoff: FAST, ...options });
  cleanups.push(() => client.close());
  return client;
}

function nextEvent<K extends keyof ReconnectingEvents>(c: ReconnectingClient<Uint8Array>, type: K, ms = 10_000): Promise<ReconnectingEvents[K]> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      stop();
      reject(new Error(`no "${type}" event within ${ms} ms`));
    }, ms);
    const stop = c.on(type, (detail) => {
      clearTimeout(timer);
      stop();
      resolve(detail);
    });
  });
}

/** Sends 1..count, keeping at most `inFlight` sends unsettled; resolves with how many resolved. */
async function sendAll(send: (frame: Uint8Array) => Promise<void>, count: number, inFlight: number, size = 8): Promise<number> {
  const pending: Promise<void>[] = [];
  let resolved = 0;
  for (let i = 1; i <= count; i++) {
    if (pending.length >= inFlight) await pending.shift();
    const settled = send(seqFrame(i, size)).then(() => void resolved++);
    settled.catch(() => {}); // awaited below; a rejection must not go unhandled meanwhile
    pending.push(settled);
  }
  await Promise.all(pending);
  return resolved;
}

/** A raw connection speaking the handshake by hand, for the refusal cases. */
async function rawPeer(port: number): Promise<{ conn: Connection; next: () => Promise<SessionMessage | undefined> }> {
  const conn = await connect(`127.0.0.1:${port}`);
  cleanups.push(async () => conn.destroy());
  const reader = new MessageReader(1 << 20);
  const queue: SessionMessage[] = [];
  const iterator = conn[Symbol.asyncIterator]();
  return {
    conn,
    async next() {
      while (queue.length === 0) {
        const { value, done } = await iterator.next();
        if (done) return undefined;
        reader.push(value, (body) => queue.push(decodeMessage(body.slice())));
      }
      return queue.shift();
    },
  };
}

describe("sessions over loopback", () => {
  it("echoes frames, and the handler is called once per session", async () => {
    let calls = 0;
    const server = await sessionServer(true, async (session) => {
      calls++;
      for await (const frame of session) await session.send(frame);
    });
    const client = sessionClient(portOf(server.address));
    const opened = nextEvent(client, "session");
    const resolved = await sendAll((f) => client.send(f), 200, 64);
    expect(resolved).toBe(200);
    expect(await opened).toMatchObject({ resumed: false });
    let expected = 1;
    for await (const frame of client) {
      expect(seqOf(frame)).toBe(expected);
      if (++expected > 200) break;
    }
    expect(calls).toBe(1);
    expect(server.sessions).toMatchObject({ active: 1, created: 1 });
  });

  it("runs over TLS, and a resumed session continues across TLS reconnects", async () => {
    const certs = testCerts();
    const server = await listenWith(transport, { hostname: "127.0.0.1", port: 0, tls: { cert: certs.server.cert, key: certs.server.key }, session: true }, async (session) => {
      for await (const frame of session) await session.send(frame);
    });
    cleanups.push(() => server.close({ timeout: 1_000 }));
    const proxy = await FaultProxy.start(`127.0.0.1:${portOf(server.address)}`);
    cleanups.push(() => proxy.close());
    const client = sessionClient(proxy.port, { tls: { ca: certs.ca, serverName: "localhost" } });
    await client.send(seqFrame(1));
    const resumed = nextEvent(client, "session");
    await proxy.setMode("reset");
    await proxy.setMode("pass");
    await client.send(seqFrame(2));
    expect(await resumed).toMatchObject({ resumed: true });
    const echoes: number[] = [];
    for await (const frame of client) if (echoes.push(seqOf(frame)) === 2) break;
    expect(echoes).toEqual([1, 2]);
  });

  it("refuses option combinations it cannot honour", () => {
    expect(() => reconnectingWith(transport, "127.0.0.1:1", { session: true, heartbeat: { interval: 1000, timeout: 1000, ping: () => {} } })).toThrow(
      expect.objectContaining({ code: "ERR_INVALID_OPTION" }),
    );
    expect(() => reconnectingWith(transport, "127.0.0.1:1", { session: { window: { frame: 3 } } as never })).toThrow(/unknown option "session.window.frame"/);
    return expect(listenWith(transport, { port: 0, session: { tll: 5 } as never }, () => {})).rejects.toMatchObject({ code: "ERR_INVALID_OPTION" });
  });

  it("delivers every frame exactly once and in order, both ways, while the proxy resets the connection", { timeout: 120_000 }, async () => {
    const COUNT = 50_000;
    const RESETS = 20;
    const fromClient: number[] = [];
    let serverSent = 0;
    let handlerCalls = 0;
    const server = await sessionServer({ codec: lengthPrefixed(), ttl: 60_000 }, async (session, ctx) => {
      handlerCalls++;
      const sending = sendAll((f) => session.send(f), COUNT, 256, 24).then((n) => (serverSent = n));
      for await (const frame of session) {
        fromClient.push(seqOf(frame));
        if (fromClient.length === COUNT) break;
      }
      await sending;
      // Returning would end the session; the client would then start a new one.
      await new Promise((resolve) => ctx.signal.addEventListener("abort", resolve));
    });
    const proxy = await FaultProxy.start(`127.0.0.1:${portOf(server.address)}`);
    cleanups.push(() => proxy.close());
    const client = reconnectingWith(transport, `127.0.0.1:${proxy.port}`, { session: true, codec: lengthPrefixed(), backoff: FAST });
    cleanups.push(() => client.close());
    let resumes = 0;
    let lost = 0;
    let sessions = 0;
    client.on("session", ({ resumed }) => {
      sessions++;
      if (resumed) resumes++;
    });
    client.on("session-lost", ({ unconfirmed }) => void (lost += unconfirmed));

    const fromServer: number[] = [];
    const reading = (async () => {
      for await (const frame of client) {
        fromServer.push(seqOf(frame));
        if (fromServer.length === COUNT) return;
      }
    })();
    let sent = 0;
    const sending = sendAll((f) => client.send(f), COUNT, 256, 24).then((n) => (sent = n));
    // Each reset comes at a random point of its own stretch of the transfer, so all RESETS land mid-stream.
    const progress = () => fromClient.length + fromServer.length;
    const stretch = (2 * COUNT) / (RESETS + 1);
    let resets = 0;
    const chaos = (async () => {
      for (let i = 0; i < RESETS; i++) {
        const at = Math.floor(i * stretch + Math.random() * stretch);
        // Only once the previous reset was noticed and the session resumed, so each reset hits a live connection.
        while (progress() < at || sessions <= i) await delay(1);
        await proxy.setMode("reset");
        await proxy.setMode("pass");
        resets++;
      }
    })();
    await Promise.all([reading, sending, chaos]);
    await until(() => serverSent === COUNT, "the server's sends to settle", 30_000);

    expect(sent).toBe(COUNT);
    expect(fromClient).toEqual(Array.from({ length: COUNT }, (_, i) => i + 1));
    expect(fromServer).toEqual(Array.from({ length: COUNT }, (_, i) => i + 1));
    expect(lost).toBe(0);
    expect(handlerCalls).toBe(1);
    expect(resets).toBe(RESETS);
    expect(resumes).toBeGreaterThanOrEqual(RESETS - 1); // the last reset may come after the last byte was acknowledged
    expect(proxy.accepted).toBeGreaterThan(RESETS);
  });

  it("a server restart: session-lost, exactly the unconfirmed sends rejected, the rest confirmed, then a new session", async () => {
    let readThree!: () => void;
    const three = new Promise<void>((resolve) => (readThree = resolve));
    const first = await sessionServer(true, async (session, ctx) => {
      let n = 0;
      for await (const _ of session) if (++n === 3) break;
      readThree();
      await new Promise((resolve) => ctx.signal.addEventListener("abort", resolve));
    });
    const received: number[] = [];
    const second = await sessionServer(true, async (session) => {
      for await (const frame of session) received.push(seqOf(frame));
    });
    const proxy = await FaultProxy.start(`127.0.0.1:${portOf(first.address)}`);
    cleanups.push(() => proxy.close());
    const client = sessionClient(proxy.port);
    const outcomes: string[] = [];
    const send = (n: number) =>
      client.send(seqFrame(n)).then(
        () => outcomes.push(`ok ${n}`),
        (e: NetError) => outcomes.push(`${e.code} ${n}`),
      );
    const sends = [1, 2, 3].map(send);
    await three;
    await until(() => outcomes.length === 3, "frames 1-3 to be confirmed");
    // Frames 4-10 leave the client, but the path goes dark before the server gets them.
    await proxy.setMode("blackhole");
    for (let n = 4; n <= 10; n++) sends.push(send(n));
    await delay(20);
    expect(outcomes.length).toBe(3);
    const lostEvent = nextEvent(client, "session-lost");
    await first.close({ timeout: 1_000 });
    proxy.upstream = `127.0.0.1:${portOf(second.address)}`;
    await proxy.setMode("reset");
    await proxy.setMode("pass");
    const lost = await lostEvent;
    await Promise.all(sends);
    expect(outcomes.slice(0, 3).sort()).toEqual(["ok 1", "ok 2", "ok 3"]);
    expect(outcomes.slice(3).sort()).toEqual([4, 5, 6, 7, 8, 9, 10].map((n) => `ERR_SESSION_LOST ${n}`).sort());
    expect(lost).toMatchObject({ unconfirmed: 7, firstSeq: 4, lastSeq: 10 });
    expect(lost.error.code).toBe("ERR_SESSION_LOST");
    expect(lost.error.message).toMatch(/7 sends were not confirmed/);
    await client.send(seqFrame(11));
    expect(received).toEqual([11]);
  });

  it("a session expires ttl ms after its client left: the handler's signal aborts, and the client starts a new session", async () => {
    const reasons: unknown[] = [];
    let calls = 0;
    const server = await sessionServer({ ttl: 150 }, async (session, ctx: SessionContext) => {
      calls++;
      ctx.signal.addEventListener("abort", () => reasons.push(ctx.signal.reason));
      for await (const frame of session) await session.send(frame);
    });
    const proxy = await FaultProxy.start(`127.0.0.1:${portOf(server.address)}`);
    cleanups.push(() => proxy.close());
    const client = sessionClient(proxy.port);
    await client.send(seqFrame(1));
    await proxy.setMode("refuse");
    await until(() => reasons.length === 1, "the session to expire");
    expect((reasons[0] as NetError).code).toBe("ERR_SESSION_LOST");
    expect(server.sessions).toMatchObject({ active: 0, expired: 1 });
    const lost = nextEvent(client, "session-lost");
    await proxy.setMode("pass");
    expect(await lost).toMatchObject({ unconfirmed: 0 });
    await client.send(seqFrame(2));
    expect(calls).toBe(2);
  });

  it("refuses a wrong token, counts it, and still resumes with the right one", async () => {
    const server = await sessionServer(true, async (session) => {
      for await (const frame of session) await session.send(frame);
    });
    const port = portOf(server.address);
    const owner = await rawPeer(port);
    await owner.conn.write(encodeHello({ frames: 16, bytes: 4096 }));
    const welcome = (await owner.next()) as Extract<SessionMessage, { type: 3 }>;
    expect(welcome.type).toBe(MessageType.Welcome);
    owner.conn.destroy();

    const thief = await rawPeer(port);
    const wrong = welcome.token.slice();
    wrong[0] = wrong[0]! ^ 0xff;
    await thief.conn.write(encodeResume({ frames: 16, bytes: 4096 }, welcome.id, wrong, 0));
    expect(await thief.next()).toMatchObject({ type: MessageType.Refused, reason: RefusedReason.BadToken });
    expect(await thief.next()).toBeUndefined(); // closed
    expect(server.sessions).toMatchObject({ badTokens: 1, active: 1 });

    const back = await rawPeer(port);
    await back.conn.write(encodeResume({ frames: 16, bytes: 4096 }, welcome.id, welcome.token, 0));
    expect(await back.next()).toMatchObject({ type: MessageType.Welcome, resumed: true, lastReceived: 0 });
    expect(server.sessions).toMatchObject({ resumed: 1 });
  });

  it("maxSessions bounds the sessions held: a HELLO beyond it is refused and the client retries", async () => {
    const server = await sessionServer({ maxSessions: 1 }, async (session) => {
      for await (const frame of session) await session.send(frame);
    });
    const port = portOf(server.address);
    const first = sessionClient(port);
    await first.send(seqFrame(1));
    const second = sessionClient(port);
    const error = await nextEvent(second, "error");
    expect(error.code).toBe("ERR_SESSION_REFUSED");
    expect(error.message).toMatch(/maxSessions \(1\)/);
    expect(server.sessions!.refusedFull).toBeGreaterThanOrEqual(1);
    const sent = second.send(seqFrame(2));
    await first.close();
    await sent; // the slot freed when the first client closed its session
    expect(server.sessions).toMatchObject({ active: 1, created: 2 });
  });

  it("keeps what it received intact on a server whose chunks are borrowed (recycled after each read)", async () => {
    const COUNT = 2_000;
    let release!: () => void;
    const released = new Promise<void>((resolve) => (release = resolve));
    const seen: number[] = [];
    const server = await listenWith(transport, { hostname: "127.0.0.1", port: 0, borrowedChunks: true, session: true }, async (session) => {
      // The frames pile up unread across many reads before the handler looks at any.
      await released;
      for await (const frame of session) if (seen.push(seqOf(frame)) === COUNT) break;
    });
    cleanups.push(() => server.close({ timeout: 1_000 }));
    const client = sessionClient(portOf(server.address), { session: { window: { frames: 4 * COUNT, bytes: 1 << 20 } } });
    for (let i = 1; i <= COUNT; i++) void client.send(seqFrame(i, 64)).catch(() => {});
    await until(() => server.sessions!.active === 1, "the session");
    await delay(100);
    release();
    await until(() => seen.length === COUNT, "every frame to be read");
    expect(seen).toEqual(Array.from({ length: COUNT }, (_, i) => i + 1));
  });

  it("stops for good, saying why, when the server does not speak the session protocol: a plain listen(), or a peer sending garbage", async () => {
    const plainEcho = async (conn: Connection) => {
      for await (const chunk of conn) await conn.write(chunk);
    };
    const garbage = async (conn: Connection) => {
      await conn.write(new TextEncoder().encode("HTTP/1.1 400 Bad Request\r\n\r\n"));
      await conn.closed;
    };
    for (const handler of [plainEcho, garbage]) {
      let accepted = 0;
      const server = await listenWith(transport, { hostname: "127.0.0.1", port: 0 }, (conn: Connection) => {
        accepted++;
        return handler(conn);
      });
      cleanups.push(() => server.close({ timeout: 1_000 }));
      const client = sessionClient(portOf(server.address));
      const errors: NetError[] = [];
      client.on("error", (error) => void errors.push(error));
      const sent = client.send(seqFrame(1));
      const reading = (async () => {
        for await (const _ of client);
      })();
      const [sending, read] = await Promise.allSettled([sent, reading]);
      expect(sending).toMatchObject({ status: "rejected", reason: { code: "ERR_SESSION_PROTOCOL", message: expect.stringMatching(/does not speak the wireline session protocol/) } });
      expect(read).toMatchObject({ status: "rejected", reason: { code: "ERR_SESSION_PROTOCOL" } });
      expect(await client.closed).toMatchObject({ code: "ERR_SESSION_PROTOCOL" });
      expect(client.state).toBe("closed");
      expect(errors.map((e) => e.code)).toEqual(["ERR_SESSION_PROTOCOL"]);
      await expect(client.send(seqFrame(2))).rejects.toMatchObject({ code: "ERR_SESSION_PROTOCOL" });
      await delay(50); // room for a retry, if there were one
      expect(accepted).toBe(1);
    }
  });

  it("retries a handshake cut by a reset or a timeout, then opens the session", async () => {
    const server = await sessionServer(true, async (session) => {
      for await (const frame of session) await session.send(frame);
    });
    const proxy = await FaultProxy.start(`127.0.0.1:${portOf(server.address)}`);
    cleanups.push(() => proxy.close());
    await proxy.setMode("reset");
    const client = sessionClient(proxy.port, { handshakeTimeout: 100 });
    const causes: string[] = [];
    client.on("reconnecting", ({ error }) => void causes.push(error.code));
    const sent = client.send(seqFrame(1));
    await until(() => causes.length >= 2, "two handshakes cut by a reset");
    await proxy.setMode("blackhole");
    await until(() => causes.includes("ETIMEDOUT"), "a handshake to time out");
    await proxy.setMode("pass");
    await sent;
    expect(client.state).toBe("open");
    expect(causes.filter((code) => code === "ERR_SESSION_PROTOCOL")).toEqual([]);
  });

  it("a slow consumer: the window holds the sender back, and what waits unread stays bounded", async () => {
    const WINDOW = 8;
    let resolved = 0;
    let sender!: ServerSession;
    const server = await sessionServer(true, async (session, ctx) => {
      sender = session;
      const all = Array.from({ length: 100 }, (_, i) => session.send(seqFrame(i + 1, 512)).then(() => void resolved++));
      await Promise.all(all);
      await new Promise((resolve) => ctx.signal.addEventListener("abort", resolve));
    });
    const client = sessionClient(portOf(server.address), { session: { window: { frames: WINDOW, bytes: 64 * 1024 } } });
    await client.opened;
    await until(() => sender !== undefined, "the session");
    await delay(100); // room for the server to overrun the window, if it could
    // The client acknowledges while a window's worth waits unread; then its acks stop, and so does the server.
    expect(resolved).toBe(WINDOW);
    let read = 0;
    for await (const frame of client) {
      read++;
      expect(seqOf(frame)).toBe(read);
      expect(resolved).toBeLessThanOrEqual(read + 2 * WINDOW);
      if (read === 100) break;
    }
    await until(() => resolved === 100, "every send to resolve");
  });
});
