// The requester over real loopback sockets: matching, limits, timeouts, aborts, pushes, and drops
// on a single connection and across reconnects (fault proxy). The same file runs on Node, Deno and Bun.
import { afterEach, describe, expect, it } from "vitest";
import type { Connection, NetError, Server } from "../src/mod.ts";
import { framed, type FramedChannel } from "../src/framing/framed.ts";
import { lines } from "../src/framing/lines.ts";
import { reconnectingWith, type ReconnectingClient } from "../src/reconnecting/client.ts";
import type { ReconnectingChannel } from "../src/requester/channel.ts";
import { requester, type Requester, type RequesterOptions } from "../src/requester/requester.ts";
import { NetError as NetErrorClass } from "../src/errors.ts";
import { Deadlines, type Timed } from "../src/requester/deadlines.ts";
import { FaultProxy } from "./helpers/fault-proxy.ts";
import { ManualClock } from "./helpers/manual-clock.ts";
import { connect, delay, listen, portOf, transport } from "./helpers/runtime.ts";
import { until } from "./helpers/until.ts";

const FAST = { initial: 10, max: 50 } as const;

/** Everything a test opened, closed after it whatever happens. */
const cleanups: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup().catch(() => {});
});

/** The settled outcome of a promise: its value, or its error code. */
function outcome<T>(promise: Promise<T>): Promise<{ ok: true; value: T } | { ok: false; code: string }> {
  return promise.then(
    (value) => ({ ok: true as const, value }),
    (error: NetError) => ({ ok: false as const, code: error.code }),
  );
}

/** A line server: `onLine(line, reply, conn, index)` for every line; records what each connection received. */
interface LineServer {
  readonly port: number;
  readonly received: string[][];
  readonly connections: Connection[];
}

async function lineServer(onLine: (line: string, reply: (text: string) => void, conn: Connection, index: number) => void): Promise<LineServer> {
  const received: string[][] = [];
  const connections: Connection[] = [];
  const server: Server = await listen({ hostname: "127.0.0.1", port: 0 }, async (conn) => {
    const index = connections.length;
    connections.push(conn);
    const log: string[] = [];
    received.push(log);
    const channel = framed(conn, lines());
    try {
      for await (const line of channel) {
        log.push(line);
        onLine(line, (text) => void channel.send(text).catch(() => {}), conn, index);
      }
    } catch {
      // The client or the test went away.
    }
  });
  cleanups.push(() => server.close({ timeout: 1_000 } as never));
  return { port: portOf(server.address), received, connections };
}

async function channelTo(port: number): Promise<FramedChannel<string>> {
  const channel = framed(await connect({ hostname: "127.0.0.1", port }), lines());
  cleanups.push(() => channel.close());
  return channel;
}

function reconnectingTo(port: number): ReconnectingClient<string> {
  const client = reconnectingWith(transport, `127.0.0.1:${port}`, { codec: lines(), backoff: FAST, stableAfter: 0 });
  cleanups.push(() => client.close());
  return client;
}

/**
 * A stand-in for a reconnecting client whose every step the test drives: which sends the client
 * has taken (resolved), which wait in its queue, what arrives, and when it drops and reopens.
 */
class ScriptedClient implements ReconnectingChannel<string> {
  state: "connecting" | "open" | "reconnecting" | "closed" = "open";
  readonly sent: { frame: string; take: () => void }[] = [];
  readonly #listeners = new Map<string, Set<(detail: never) => void>>();
  readonly #inbox: string[] = [];
  #wake: (() => void) | undefined;
  readonly closed: Promise<unknown> = Promise.resolve();

  send(frame: string): Promise<void> {
    return new Promise((resolve) => this.sent.push({ frame, take: resolve }));
  }

  on(type: string, listener: (detail: never) => void): () => void {
    let set = this.#listeners.get(type);
    if (!set) this.#listeners.set(type, (set = new Set()));
    set.add(listener);
    return () => set.delete(listener);
  }

  emit(type: string, detail: unknown): void {
    for (const listener of this.#listeners.get(type) ?? []) (listener as (detail: unknown) => void)(detail);
  }

  /** The connection died: the client reports it as an error, in state reconnecting. */
  drop(): void {
    this.state = "reconnecting";
    this.emit("error", new NetErrorClass("ECONNRESET", "connection reset by peer"));
  }

  reopen(): void {
    this.state = "open";
    this.emit("open", { endpoint: "test" });
  }

  deliver(frame: string): void {
    this.#inbox.push(frame);
    this.#wake?.();
  }

  async close(): Promise<void> {
    this.state = "closed";
    this.#wake?.();
    this.emit("close", { error: undefined });
  }

  [Symbol.asyncIterator](): AsyncIterator<string> {
    return {
      next: async () => {
        while (this.#inbox.length === 0 && this.state !== "closed") await new Promise<void>((resolve) => (this.#wake = resolve));
        if (this.#inbox.length > 0) return { value: this.#inbox.shift()!, done: false };
        return { value: undefined, done: true };
      },
    };
  }
}

function make<T>(channel: FramedChannel<T> | ReconnectingClient<T> | ReconnectingChannel<T>, options?: RequesterOptions<T>): Requester<T> {
  const r = requester(channel, options);
  cleanups.push(() => r.close());
  return r;
}

describe("requester: matching", () => {
  it("pairs pipelined replies with their requests in fifo order", async () => {
    const server = await lineServer((line, reply) => reply(`re:${line}`));
    const r = make(await channelTo(server.port), { match: "fifo" });
    const replies = await Promise.all(Array.from({ length: 500 }, (_, i) => r.request(`q${i}`)));
    expect(replies).toEqual(Array.from({ length: 500 }, (_, i) => `re:q${i}`));
    expect(r.stats).toMatchObject({ completed: 500, inFlight: 0, queued: 0 });
  });

  it("matches replies that come out of order by id", async () => {
    // Replies to each batch of 10 in reverse order of arrival.
    let batch: string[] = [];
    const server = await lineServer((line, reply) => {
      batch.push(line);
      if (batch.length < 10) return;
      for (const id of batch.reverse()) reply(`${id}:done`);
      batch = [];
    });
    const r = make(await channelTo(server.port), {
      match: { requestId: (frame) => frame, replyId: (frame) => frame.split(":")[0] },
    });
    const ids = Array.from({ length: 50 }, (_, i) => `id${i}`);
    const replies = await Promise.all(ids.map((id) => r.request(id)));
    expect(replies).toEqual(ids.map((id) => `${id}:done`));
    expect(server.received[0]).toEqual(ids);
  });

  it("refuses a second request with an id still in flight", async () => {
    const server = await lineServer(() => {});
    const r = make(await channelTo(server.port), { match: { requestId: (f) => f, replyId: (f) => f }, timeout: 60_000 });
    void r.request("same").catch(() => {});
    await expect(r.request("same")).rejects.toMatchObject({ code: "ERR_INVALID_OPTION" });
  });

  it("in fifo mode, a timed-out request keeps its reply slot: the late reply is discarded, the next request gets its own", async () => {
    let release!: () => void;
    const released = new Promise<void>((resolve) => (release = resolve));
    const server = await lineServer((line, reply) => {
      // The first reply comes only after the test saw its request time out; replies keep their order.
      if (line === "slow") void released.then(() => reply("re:slow"));
      else void released.then(() => reply(`re:${line}`));
    });
    const r = make(await channelTo(server.port), { match: "fifo" });
    const slow = outcome(r.request("slow", { timeout: 50 }));
    const next = r.request("next", { timeout: 10_000 });
    expect(await slow).toEqual({ ok: false, code: "ERR_REPLY_TIMEOUT" });
    release();
    expect(await next).toBe("re:next");
    expect(r.stats).toMatchObject({ timedOut: 1, lateReplies: 1, completed: 1, unmatched: 0 });
  });

  it("an aborted request rejects with ABORT_ERR; its late reply is discarded; an aborted signal rejects at once", async () => {
    let release!: () => void;
    const released = new Promise<void>((resolve) => (release = resolve));
    const server = await lineServer((line, reply) => void released.then(() => reply(`re:${line}`)));
    const r = make(await channelTo(server.port));
    const controller = new AbortController();
    const first = outcome(r.request("a", { signal: controller.signal }));
    const second = r.request("b");
    await until(() => server.received[0]?.length === 2, "both requests at the server");
    controller.abort(new Error("user gave up"));
    expect(await first).toEqual({ ok: false, code: "ABORT_ERR" });
    release();
    expect(await second).toBe("re:b");
    await expect(r.request("c", { signal: AbortSignal.abort() })).rejects.toMatchObject({ code: "ABORT_ERR" });
    expect(server.received[0]).toEqual(["a", "b"]);
    expect(r.stats).toMatchObject({ aborted: 1, lateReplies: 1 });
  });

  it("sends pushes to pushes() and the push event without taking a reply slot; extra replies go to unmatched", async () => {
    const server = await lineServer((line, reply) => {
      reply("push:before");
      reply(`re:${line}`);
      if (line === "last") reply("stray");
    });
    const r = make(await channelTo(server.port), { isPush: (frame) => frame.startsWith("push:") });
    const pushes: string[] = [];
    const loop = (async () => {
      for await (const push of r.pushes()) pushes.push(push);
    })();
    const unmatched: string[] = [];
    r.on("unmatched", ({ frame }) => unmatched.push(frame));
    expect(await r.request("one")).toBe("re:one");
    expect(await r.request("last")).toBe("re:last");
    await until(() => unmatched.length === 1, "the stray reply");
    expect(unmatched).toEqual(["stray"]);
    await until(() => pushes.length === 2, "two pushes");
    await r.close();
    await loop;
    expect(r.stats).toMatchObject({ pushes: 2, unmatched: 1, completed: 2 });
  });
});

describe("requester: limits", () => {
  it("against a server that never replies, maxInFlight holds, the queue is bounded, every request settles and nothing is left", async () => {
    const server = await lineServer(() => {});
    const r = make(await channelTo(server.port), { maxInFlight: 3, maxQueued: 2, timeout: 100 });
    const accepted = Array.from({ length: 5 }, (_, i) => outcome(r.request(`q${i}`)));
    await expect(r.request("over")).rejects.toMatchObject({ code: "ERR_QUEUE_FULL" });
    expect(r.stats).toMatchObject({ inFlight: 3, queued: 2 });
    const results = await Promise.all(accepted);
    expect(results.every((x) => !x.ok && x.code === "ERR_REPLY_TIMEOUT")).toBe(true);
    // The server never answered, so in fifo the three slots stay taken: no more is sent, however many requests come.
    const later = await outcome(r.request("later", { timeout: 50 }));
    expect(later).toEqual({ ok: false, code: "ERR_REPLY_TIMEOUT" });
    await delay(20);
    expect(server.received[0]).toEqual(["q0", "q1", "q2"]);
    expect(r.stats).toMatchObject({ inFlight: 0, queued: 0, timedOut: 6 });
  });

  it("never has more than maxInFlight requests unanswered against a server that replies, and refills as replies come", async () => {
    const server = await lineServer((line, reply) => reply(`re:${line}`));
    const channel = await channelTo(server.port);
    let sent = 0;
    let answered = 0;
    let most = 0;
    // Counts sends at the channel, below the requester.
    const counting: FramedChannel<string> = {
      send: (frame) => {
        sent++;
        most = Math.max(most, sent - answered);
        return channel.send(frame);
      },
      close: () => channel.close(),
      destroy: (error) => channel.destroy(error),
      get closed() {
        return channel.closed;
      },
      batches: () => channel.batches(),
      forEach: (fn) => channel.forEach(fn),
      [Symbol.asyncIterator]: () => {
        const inner = channel[Symbol.asyncIterator]();
        return {
          next: async () => {
            const result = await inner.next();
            if (!result.done) answered++;
            return result;
          },
        };
      },
    };
    const r = make(counting, { maxInFlight: 7, maxQueued: 2_000 });
    const replies = await Promise.all(Array.from({ length: 2_000 }, (_, i) => r.request(`q${i}`)));
    expect(replies).toEqual(Array.from({ length: 2_000 }, (_, i) => `re:q${i}`));
    expect(most).toBe(7);
    expect(sent).toBe(2_000);
  });

  it("uses slots freed while others stay stuck (id mode): queued requests do not wait for the stuck ones", async () => {
    const server = await lineServer((line, reply) => {
      if (!line.startsWith("stuck")) reply(line);
    });
    const r = make(await channelTo(server.port), { match: { requestId: (f) => f, replyId: (f) => f }, maxInFlight: 8, timeout: 60_000 });
    const stuck = Array.from({ length: 7 }, (_, i) => outcome(r.request(`stuck${i}`)));
    const answered = await Promise.all(["a", "b", "c"].map((q) => r.request(q, { timeout: 5_000 })));
    expect(answered).toEqual(["a", "b", "c"]);
    expect(r.stats.inFlight).toBe(7);
    await r.close();
    expect((await Promise.all(stuck)).every((x) => !x.ok && x.code === "ERR_SOCKET_CLOSED")).toBe(true);
  });

  it("in id mode a timed-out request frees its slot at once", async () => {
    const server = await lineServer(() => {});
    const r = make(await channelTo(server.port), { match: { requestId: (f) => f, replyId: (f) => f }, maxInFlight: 1, timeout: 50 });
    for (const id of ["a", "b", "c"]) expect(await outcome(r.request(id))).toEqual({ ok: false, code: "ERR_REPLY_TIMEOUT" });
    await until(() => server.received[0]?.length === 3, "all three sent one after another");
    expect(r.stats.inFlight).toBe(0);
  });

  it("validates its options", async () => {
    const server = await lineServer(() => {});
    const channel = await channelTo(server.port);
    expect(() => requester(channel, { maxInFlight: 0 })).toThrow(/maxInFlight/);
    expect(() => requester(channel, { timeout: -1 })).toThrow(/timeout/);
    expect(() => requester(channel, { match: "lifo" as never })).toThrow(/match/);
    expect(() => requester(channel, { resend: true })).toThrow(expect.objectContaining({ code: "ERR_UNSUPPORTED" }));
    expect(() => requester(channel, { maxInflight: 3 } as never)).toThrow(/unknown option "maxInflight" \(did you mean "maxInFlight"\?\)/);
    const r = make(channel);
    await expect(r.request("x", { timeOut: 5 } as never)).rejects.toMatchObject({ code: "ERR_INVALID_OPTION" });
  });
});

describe("requester: drops on a single connection", () => {
  it("rejects every request in flight with ERR_CONNECTION_LOST when the server resets, and every later one", async () => {
    const server = await lineServer((line, _reply, conn) => {
      if (line === "q2") conn.destroy();
    });
    const r = make(await channelTo(server.port), { timeout: 10_000 });
    const results = await Promise.all(Array.from({ length: 5 }, (_, i) => outcome(r.request(`q${i}`))));
    expect(results).toEqual(Array.from({ length: 5 }, () => ({ ok: false, code: "ERR_CONNECTION_LOST" })));
    await expect(r.request("after")).rejects.toMatchObject({ code: "ERR_CONNECTION_LOST" });
  });

  it("close() rejects everything pending with ERR_SOCKET_CLOSED, and later requests too", async () => {
    const server = await lineServer(() => {});
    const r = make(await channelTo(server.port), { maxInFlight: 2, timeout: 60_000 });
    const pending = Array.from({ length: 4 }, (_, i) => outcome(r.request(`q${i}`)));
    await r.close();
    expect(await Promise.all(pending)).toEqual(Array.from({ length: 4 }, () => ({ ok: false, code: "ERR_SOCKET_CLOSED" })));
    await expect(r.request("after")).rejects.toMatchObject({ code: "ERR_SOCKET_CLOSED" });
  });
});

describe("requester: across reconnects", () => {
  /** Holds replies on the first connection and kills it once `k` requests arrived; answers everything on later ones. */
  async function killsFirstConnectionAfter(k: number): Promise<LineServer> {
    const server: LineServer = await lineServer((line, reply, conn, index) => {
      if (index === 0) {
        if (server.received[0]!.length === k) conn.destroy();
        return;
      }
      reply(`re:${line}`);
    });
    return server;
  }

  it("resend: true sends requests in flight again on the next connection, in order, before new ones", async () => {
    const server = await killsFirstConnectionAfter(3);
    const client = reconnectingTo(server.port);
    const r = make(client, { resend: true, timeout: 10_000 });
    const first = ["a", "b", "c"].map((q) => r.request(q));
    await until(() => server.connections.length > 1, "the client to reconnect");
    const later = ["d", "e"].map((q) => r.request(q));
    expect(await Promise.all([...first, ...later])).toEqual(["re:a", "re:b", "re:c", "re:d", "re:e"]);
    expect(server.received[0]).toEqual(["a", "b", "c"]);
    expect(server.received[1]).toEqual(["a", "b", "c", "d", "e"]);
    expect(r.stats).toMatchObject({ resent: 3, completed: 5, inFlight: 0 });
  });

  it("resend as a function resends only what it picks; the rest reject with ERR_CONNECTION_LOST", async () => {
    const server = await killsFirstConnectionAfter(3);
    const r = make(reconnectingTo(server.port), { resend: (frame) => frame.startsWith("get"), timeout: 10_000 });
    const results = await Promise.all(["get1", "set2", "get3"].map((q) => outcome(r.request(q))));
    expect(results).toEqual([
      { ok: true, value: "re:get1" },
      { ok: false, code: "ERR_CONNECTION_LOST" },
      { ok: true, value: "re:get3" },
    ]);
    expect(server.received[1]).toEqual(["get1", "get3"]);
  });

  it("resend: false rejects requests in flight with ERR_CONNECTION_LOST; requests made while down go out after reconnect", async () => {
    const server = await killsFirstConnectionAfter(2);
    const client = reconnectingTo(server.port);
    const r = make(client, { timeout: 10_000 });
    const lost = ["a", "b"].map((q) => outcome(r.request(q)));
    expect(await Promise.all(lost)).toEqual([
      { ok: false, code: "ERR_CONNECTION_LOST" },
      { ok: false, code: "ERR_CONNECTION_LOST" },
    ]);
    expect(await r.request("c")).toBe("re:c");
    expect(server.received[1]).toEqual(["c"]);
  });

  it("a frame still in the client's queue at a drop goes out once, and keeps its reply slot though it timed out", async () => {
    const client = new ScriptedClient();
    const r = make(client, { resend: true, timeout: 10_000 });
    const a = r.request("a");
    client.sent[0]!.take(); // "a" reached the connection
    const b = outcome(r.request("b", { timeout: 30 })); // "b" waits in the client's queue
    expect(await b).toEqual({ ok: false, code: "ERR_REPLY_TIMEOUT" });
    client.drop();
    await delay(10);
    client.reopen();
    // "a" is resent; "b" is not: the client still holds it and sends it first on the new connection.
    expect(client.sent.map((x) => x.frame)).toEqual(["a", "b", "a"]);
    client.deliver("re:b");
    client.deliver("re:a");
    expect(await a).toBe("re:a");
    expect(r.stats).toMatchObject({ resent: 1, lateReplies: 1, completed: 1, unmatched: 0 });
  });

  it("replies of the dead connection already received are matched before the drop is sorted out", async () => {
    const client = new ScriptedClient();
    const r = make(client, { resend: true });
    const a = r.request("a");
    const b = r.request("b");
    for (const x of client.sent) x.take();
    client.deliver("re:a"); // arrived just before the connection died
    client.drop();
    await delay(10);
    client.reopen();
    expect(client.sent.map((x) => x.frame)).toEqual(["a", "b", "b"]);
    client.deliver("re:b");
    expect(await Promise.all([a, b])).toEqual(["re:a", "re:b"]);
  });

  it("while reconnecting, new requests wait (bounded by maxQueued) and go out after the resent ones, in order", async () => {
    const client = new ScriptedClient();
    const r = make(client, { resend: true, maxQueued: 2 });
    const a = r.request("a");
    client.sent[0]!.take();
    client.drop();
    const b = r.request("b");
    const c = r.request("c");
    await expect(r.request("d")).rejects.toMatchObject({ code: "ERR_QUEUE_FULL" });
    await delay(10);
    expect(client.sent.map((x) => x.frame)).toEqual(["a"]);
    client.reopen();
    expect(client.sent.map((x) => x.frame)).toEqual(["a", "a", "b", "c"]);
    for (const x of ["re:a", "re:b", "re:c"]) client.deliver(x);
    expect(await Promise.all([a, b, c])).toEqual(["re:a", "re:b", "re:c"]);
  });

  it("id mode resends across a reconnect and pairs the replies in any order", async () => {
    const client = new ScriptedClient();
    const r = make(client, { resend: true, match: { requestId: (f) => f, replyId: (f) => f.slice(3) } });
    const requests = ["x", "y", "z"].map((q) => r.request(q));
    for (const x of client.sent) x.take();
    client.deliver("re:y");
    client.drop();
    await delay(10);
    client.reopen();
    expect(client.sent.map((x) => x.frame)).toEqual(["x", "y", "z", "x", "z"]);
    client.deliver("re:z");
    client.deliver("re:x");
    expect(await Promise.all(requests)).toEqual(["re:x", "re:y", "re:z"]);
  });

  it("pushes(): next() calls that do not wait for each other all settle, and the loop ends at close", async () => {
    const client = new ScriptedClient();
    const r = make(client, { isPush: (f) => f.startsWith("push") });
    const loop = r.pushes();
    const first = loop.next();
    const second = loop.next();
    const third = loop.next();
    client.deliver("push1");
    client.deliver("push2");
    expect((await first).value).toBe("push1");
    expect((await second).value).toBe("push2");
    await r.close();
    expect(await third).toEqual({ value: undefined, done: true });
  });

  it("a predicate that throws does not stop the requester: the frame counts as unmatched", async () => {
    const client = new ScriptedClient();
    const r = make(client, {
      match: { requestId: (f) => f, replyId: (f) => (f === "bad" ? JSON.parse("{") : f) },
      isPush: (f) => (f === "bad" ? JSON.parse("{") : false),
    });
    const a = r.request("a");
    client.deliver("bad");
    client.deliver("a");
    expect(await a).toBe("a");
    expect(r.stats.unmatched).toBe(1);
  });

  it("through the fault proxy: resets mid-stream lose no request with resend: true, and replies stay paired", async () => {
    const server = await lineServer((line, reply) => reply(`re:${line}`));
    const proxy = await FaultProxy.start(`127.0.0.1:${server.port}`);
    cleanups.push(() => proxy.close());
    proxy.latency = 2;
    const r = make(reconnectingTo(proxy.port), { resend: true, timeout: 20_000, maxInFlight: 50 });
    const requests: Promise<string>[] = [];
    for (let i = 0; i < 300; i++) {
      requests.push(r.request(`q${i}`));
      if (i % 100 === 50) {
        await proxy.setMode("reset");
        await delay(5);
        await proxy.setMode("pass");
      }
      if (i % 10 === 0) await delay(1);
    }
    const replies = await Promise.all(requests);
    expect(replies).toEqual(Array.from({ length: 300 }, (_, i) => `re:q${i}`));
    expect(r.stats.completed).toBe(300);
    expect(r.stats.resent).toBeGreaterThan(0);
  });

  it("through the fault proxy: the server side resetting drops and resends the same way", async () => {
    let seen = 0;
    const server = await lineServer((line, reply, conn) => {
      // Every 40th request kills the connection from the server's side, before replying.
      if (++seen % 40 === 0) conn.destroy();
      else reply(`re:${line}`);
    });
    const proxy = await FaultProxy.start(`127.0.0.1:${server.port}`);
    cleanups.push(() => proxy.close());
    const r = make(reconnectingTo(proxy.port), { resend: true, timeout: 20_000, maxInFlight: 8 });
    const replies = await Promise.all(Array.from({ length: 100 }, (_, i) => r.request(`q${i}`)));
    expect(replies).toEqual(Array.from({ length: 100 }, (_, i) => `re:q${i}`));
    expect(r.stats.resent).toBeGreaterThan(0);
  });

  it("through a black hole, timeouts fire and every request settles", async () => {
    const server = await lineServer((line, reply) => reply(`re:${line}`));
    const proxy = await FaultProxy.start(`127.0.0.1:${server.port}`);
    cleanups.push(() => proxy.close());
    const client = reconnectingTo(proxy.port);
    const r = make(client, { resend: true, timeout: 150, maxInFlight: 4, maxQueued: 100 });
    expect(await r.request("warm")).toBe("re:warm");
    await proxy.setMode("blackhole");
    const results = await Promise.all(Array.from({ length: 20 }, (_, i) => outcome(r.request(`q${i}`))));
    expect(results.every((x) => !x.ok && x.code === "ERR_REPLY_TIMEOUT")).toBe(true);
    expect(r.stats).toMatchObject({ timedOut: 20, queued: 0, inFlight: 0 });
  });

  it("the reconnecting client closing for good rejects everything pending", async () => {
    const server = await lineServer(() => {});
    const client = reconnectingTo(server.port);
    const r = make(client, { timeout: 60_000 });
    const pending = Array.from({ length: 3 }, (_, i) => outcome(r.request(`q${i}`)));
    await until(() => server.received[0]?.length === 3, "requests at the server");
    await client.close();
    const results = await Promise.all(pending);
    expect(results.every((x) => !x.ok && x.code === "ERR_CONNECTION_LOST")).toBe(true);
  });
});

describe("requester: deadlines (one timer for many requests)", () => {
  interface Entry extends Timed {
    readonly name: string;
  }
  function entry(clock: ManualClock, name: string, timeout: number): Entry {
    return { name, settled: false, timeout, deadline: clock.now() + timeout, timing: false };
  }

  it("expires each request at its deadline, across timeout values, with one timer", async () => {
    const clock = new ManualClock();
    const expired: string[] = [];
    const deadlines = new Deadlines<Entry>(clock, (e) => {
      e.settled = true;
      expired.push(e.name);
    });
    deadlines.add(entry(clock, "a100", 100));
    await clock.advance(10);
    deadlines.add(entry(clock, "b100", 100));
    deadlines.add(entry(clock, "c50", 50));
    expect(clock.pendingTimers).toBe(1);
    await clock.advance(49);
    expect(expired).toEqual([]);
    await clock.advance(1);
    expect(expired).toEqual(["c50"]);
    await clock.advance(40);
    expect(expired).toEqual(["c50", "a100"]);
    await clock.advance(10);
    expect(expired).toEqual(["c50", "a100", "b100"]);
    expect(clock.pendingTimers).toBe(0);
  });

  it("never expires a settled request, and sweeps settled ones behind a slow head", async () => {
    const clock = new ManualClock();
    const expired: string[] = [];
    const deadlines = new Deadlines<Entry>(clock, (e) => expired.push(e.name));
    const slow = entry(clock, "slow", 1_000);
    deadlines.add(slow);
    const fast = Array.from({ length: 500 }, (_, i) => entry(clock, `f${i}`, 1_000));
    for (const e of fast) deadlines.add(e);
    for (const e of fast) {
      e.settled = true;
      deadlines.settled(e);
    }
    // Swept: at most a bounded number of settled entries wait behind the slow head.
    expect(fast.filter((e) => e.timing).length).toBeLessThanOrEqual(65);
    await clock.advance(1_000);
    expect(expired).toEqual(["slow"]);
    deadlines.clear();
    expect(clock.pendingTimers).toBe(0);
  });
});

