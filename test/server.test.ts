// The production server (issue 3): counters, limits, filter, timeouts, graceful stop, scale.
// The same file runs on Node, Deno and Bun.
import { describe, expect, it } from "vitest";
import { NetError, type Connection } from "../src/mod.ts";
import type { IdleEvent } from "../src/liveness/idle-timeout.ts";
import type { ConnectionHandler, ListenOptions, Server, ServerEvents } from "../src/server/server.ts";
import { concat, firstDifference, patternBytes, readAll } from "./helpers/bytes.ts";
import { connect, delay, listen, portOf, runtime, tempSocketPath } from "./helpers/runtime.ts";
import { until } from "./helpers/until.ts";

const HOST = "127.0.0.1";

/** The next `type` event's payload. */
function next<K extends keyof ServerEvents>(server: Server, type: K): Promise<ServerEvents[K]> {
  return new Promise((resolve) => server.on(type, resolve, { once: true }));
}

function dial(server: Server, options?: Parameters<typeof connect>[1]): Promise<Connection> {
  return connect({ hostname: HOST, port: portOf(server.address) }, options);
}

/** Reads exactly `n` bytes (or fewer at EOF) without ending the connection's iteration. */
async function readN(conn: Connection, n: number): Promise<Uint8Array> {
  const it = conn[Symbol.asyncIterator]();
  const chunks: Uint8Array[] = [];
  let got = 0;
  while (got < n) {
    const r = await it.next();
    if (r.done) break;
    chunks.push(r.value);
    got += r.value.length;
  }
  return concat(chunks);
}

const text = (bytes: Uint8Array): string => new TextDecoder().decode(bytes);

/** A promise with its resolve function, to hold a handler until the test lets it go. */
function gate(): { promise: Promise<void>; open: () => void } {
  let open!: () => void;
  const promise = new Promise<void>((r) => (open = r));
  return { promise, open };
}

const echo: ConnectionHandler = async (conn) => {
  for await (const chunk of conn) await conn.write(chunk);
};

function serve(options: ListenOptions, handler: ConnectionHandler = echo): Promise<Server> {
  return listen({ hostname: HOST, port: 0, ...options }, handler);
}

describe(`server counters (${runtime})`, () => {
  it("counts one connection 0 → 1 → 0, with its bytes", async () => {
    const inside = gate();
    await using server = await serve({}, async (conn) => {
      inside.open();
      await echo(conn, undefined as never);
    });
    expect(server.stats).toMatchObject({ currentConnections: 0, totalConnections: 0, maxConcurrentConnections: 0 });
    const dispatched = next(server, "connection");
    const conn = await dial(server);
    await inside.promise;
    const event = await dispatched;
    expect(event.remoteAddress).toEqual(conn.localAddress);
    expect(event.connection.remoteAddress).toEqual(conn.localAddress);
    expect(server.stats).toMatchObject({ currentConnections: 1, totalConnections: 1, maxConcurrentConnections: 1, queuedConnections: 0 });
    await conn.write("hello");
    expect(text(await readN(conn, 5))).toBe("hello");
    expect(server.stats.bytesRead).toBe(5); // live connection counted
    await conn.close();
    await until(() => server.stats.currentConnections === 0, "currentConnections back to 0");
    expect(server.stats).toEqual({
      currentConnections: 0,
      totalConnections: 1,
      maxConcurrentConnections: 1,
      queuedConnections: 0,
      refusedConnections: 0,
      filteredConnections: 0,
      filterTimeouts: 0,
      handshakingConnections: 0,
      handshakeFailures: 0,
      handshakeTimeouts: 0,
      slowConnections: 0,
      proxyProtocolErrors: 0,
      perClientRefusals: 0,
      clientRateRefusals: 0,
      bytesRead: 5,
      bytesWritten: 5,
    });
  });

  it("maxConnections 4, maxQueued 4: 5-8 queue unread, the 9th is refused, the queued are served in order", async () => {
    const gates = new Map<number, ReturnType<typeof gate>>();
    const served: number[] = [];
    await using server = await serve({ maxConnections: 4, maxQueued: 4 }, async (conn) => {
      const id = Number(text(await readN(conn, 1)));
      served.push(id);
      const g = gate();
      gates.set(id, g);
      await g.promise;
      await conn.write(`done ${id}`);
    });
    const refused: ServerEvents["refused"][] = [];
    server.on("refused", (e) => refused.push(e));
    const clients: Connection[] = [];
    for (let id = 1; id <= 8; id++) {
      const c = await dial(server);
      await c.write(String(id));
      clients.push(c);
      if (id <= 4) await until(() => gates.has(id), `handler ${id} running`);
      else await until(() => server.stats.queuedConnections === id - 4, `connection ${id} queued`);
    }
    expect(server.stats).toMatchObject({ currentConnections: 4, queuedConnections: 4, totalConnections: 4 });
    expect(served).toEqual([1, 2, 3, 4]);

    const ninth = await dial(server);
    await until(() => refused.length === 1, "the 9th refused");
    expect(refused[0]).toEqual({ remoteAddress: ninth.localAddress, reason: "full" });
    await ninth.closed; // the server closed it
    expect(ninth.isClosed).toBe(true);
    expect(server.stats).toMatchObject({ refusedConnections: 1, queuedConnections: 4, currentConnections: 4 });

    // Free one slot at a time: the queued ones are dispatched in arrival order.
    for (let id = 1; id <= 4; id++) {
      gates.get(id)!.open();
      expect(text(await readAll(clients[id - 1]!))).toBe(`done ${id}`);
      await until(() => gates.has(id + 4), `queued connection ${id + 4} dispatched`);
      expect(server.stats.queuedConnections).toBe(4 - id);
    }
    expect(served).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
    for (let id = 5; id <= 8; id++) {
      gates.get(id)!.open();
      expect(text(await readAll(clients[id - 1]!))).toBe(`done ${id}`);
    }
    await until(() => server.stats.currentConnections === 0, "all served");
    expect(server.stats).toMatchObject({
      currentConnections: 0,
      totalConnections: 8,
      maxConcurrentConnections: 4,
      queuedConnections: 0,
      refusedConnections: 1,
    });
  });

  it("a handler's context offers its documented members only, and each connection gets its own", async () => {
    const names: string[][] = [];
    const contexts = new Set<object>();
    await using server = await serve({}, async (conn, ctx) => {
      contexts.add(ctx);
      const own: string[] = [];
      for (let o: object | null = ctx; o !== null && o !== Object.prototype; o = Object.getPrototypeOf(o)) own.push(...Object.getOwnPropertyNames(o));
      names.push([...new Set(own)].filter((name) => name !== "constructor").sort());
      await echo(conn, ctx);
    });
    for (let i = 0; i < 2; i++) {
      const conn = await dial(server);
      await conn.write("x");
      expect(text(await readN(conn, 1))).toBe("x");
      await conn.close();
    }
    await until(() => server.stats.currentConnections === 0, "both served");
    expect(contexts.size).toBe(2);
    expect(names[0]).toEqual(["addEventListener", "dispatchEvent", "off", "on", "removeEventListener", "signal"]);
    expect(names[1]).toEqual(names[0]);
    expect([...contexts][0]!.constructor.name).toBe("ConnectionContext"); // what console.log(ctx) shows
  });

  it("a queued connection whose peer left never blocks the line", async () => {
    const hold = gate();
    const served: string[] = [];
    await using server = await serve({ maxConnections: 1, maxQueued: 2 }, async (conn) => {
      const first = text(await readN(conn, 1));
      served.push(first);
      if (first === "1") await hold.promise;
      await conn.write("ok");
    });
    const first = await dial(server);
    await first.write("1");
    await until(() => served.length === 1, "first served");
    const doomed = await dial(server);
    await doomed.write("2");
    await until(() => server.stats.queuedConnections === 1, "second queued");
    doomed.destroy();
    await doomed.closed;
    const third = await dial(server);
    await third.write("3");
    // The queued peer is not read, so its FIN may only be seen at dispatch; either way it never blocks the third.
    await until(() => server.stats.queuedConnections + (served.includes("3") ? 1 : 0) >= 1, "third admitted");
    hold.open();
    expect(text(await readAll(first))).toBe("ok");
    expect(text(await readAll(third))).toBe("ok");
    expect(served[0]).toBe("1");
    expect(served.at(-1)).toBe("3");
    await until(() => server.stats.currentConnections === 0 && server.stats.queuedConnections === 0, "all done");
    expect(server.stats.refusedConnections).toBe(0);
  });
});

describe(`server handler errors (${runtime})`, () => {
  it("a throwing handler closes only its own connection; neighbours finish their echo intact", async () => {
    const thrown = new Error("handler failed on purpose");
    const syncThrown = new TypeError("sync failure");
    await using server = await serve({}, async (conn) => {
      const it = conn[Symbol.asyncIterator]();
      const first = await it.next();
      if (!first.done && text(first.value) === "boom") throw thrown;
      if (!first.done && text(first.value) === "sync") return syncThrow();
      if (!first.done) await conn.write(first.value);
      for (let r = await it.next(); !r.done; r = await it.next()) await conn.write(r.value);
    });
    function syncThrow(): never {
      throw syncThrown;
    }
    const errors: ServerEvents["error"][] = [];
    server.addEventListener("error", (event) => errors.push((event as unknown as { detail: ServerEvents["error"] }).detail));

    const neighbours = await Promise.all([1, 2, 3].map(() => dial(server)));
    const payloads = neighbours.map((_, i) => patternBytes(256 * 1024, i + 11));
    // Neighbours start echoing, then the failures happen in the middle of their traffic.
    const echoes = neighbours.map(async (c, i) => {
      const data = payloads[i]!;
      const half = data.length / 2;
      await c.write("x");
      const back = readN(c, data.length + 1);
      await c.write(data.subarray(0, half));
      await delay(20);
      await c.write(data.subarray(half));
      const received = await back;
      c.end();
      return received;
    });
    const bad = await dial(server);
    await bad.write("boom");
    const worse = await dial(server);
    await worse.write("sync");
    await readAll(bad).catch(() => {});
    await readAll(worse).catch(() => {});
    const results = await Promise.all(echoes);
    for (let i = 0; i < results.length; i++) {
      const expected = concat([new TextEncoder().encode("x"), payloads[i]!]);
      expect(firstDifference(results[i]!, expected)).toBe(-1);
    }
    await until(() => errors.length === 2, "two error events");
    const byPort = new Map(errors.map((e) => [portOf(e.remoteAddress!), e.error]));
    expect(byPort.get(portOf(bad.localAddress!))?.message).toContain("handler failed on purpose");
    expect(byPort.get(portOf(worse.localAddress!))?.message).toContain("sync failure");
    // The handler's own error keeps its identity: ERR_HANDLER, with what it threw as cause.
    expect(byPort.get(portOf(bad.localAddress!))?.cause).toBe(thrown);
    expect(byPort.get(portOf(worse.localAddress!))?.cause).toBe(syncThrown);
    for (const e of errors) {
      expect(e.error).toBeInstanceOf(NetError);
      expect(e.error.code).toBe("ERR_HANDLER");
      expect(e.error.address).toBe(`${HOST}:${portOf(e.remoteAddress!)}`);
    }
    await until(() => server.stats.currentConnections === 0, "all handlers done");
    expect(server.stats.totalConnections).toBe(5);
  });
});

describe(`server filter (${runtime})`, () => {
  it("runs before dispatch with the peer address; rejected connections are closed and counted", async () => {
    let allow = false;
    const seen: unknown[] = [];
    let handled = 0;
    await using server = await serve(
      {
        filter: (address) => {
          seen.push(address);
          return allow;
        },
      },
      async (conn) => {
        handled++;
        await echo(conn, undefined as never);
      },
    );
    const rejected = await dial(server);
    await rejected.closed;
    expect(seen).toEqual([rejected.localAddress]);
    expect(server.stats).toMatchObject({ filteredConnections: 1, totalConnections: 0, refusedConnections: 0 });
    expect(handled).toBe(0);

    allow = true;
    const accepted = await dial(server);
    await accepted.write("in");
    expect(text(await readN(accepted, 2))).toBe("in");
    await accepted.close();
    expect(server.stats).toMatchObject({ filteredConnections: 1, totalConnections: 1 });
  });

  it("awaits an asynchronous verdict without reading, and a throwing filter rejects and reports", async () => {
    const verdicts: Array<(ok: boolean) => void> = [];
    let mode: "async" | "throw" = "async";
    await using server = await serve({
      filter: () => {
        if (mode === "throw") throw new Error("filter broke");
        return new Promise<boolean>((resolve) => verdicts.push(resolve));
      },
    });
    const pass = await dial(server);
    await pass.write("early bytes");
    const fail = await dial(server);
    await until(() => verdicts.length === 2, "both verdicts pending");
    expect(server.stats).toMatchObject({ currentConnections: 0, queuedConnections: 0 });
    verdicts[1]!(false);
    await fail.closed;
    verdicts[0]!(true);
    expect(text(await readN(pass, 11))).toBe("early bytes");
    await pass.close();

    mode = "throw";
    const error = next(server, "error");
    const broken = await dial(server);
    await broken.closed;
    const reported = await error;
    expect(reported.remoteAddress).toEqual(broken.localAddress);
    expect(reported.error.message).toContain("filter broke");
    expect(reported.error.code).toBe("ERR_HANDLER");
    expect((reported.error.cause as Error).message).toBe("filter broke");
    expect(server.stats).toMatchObject({ filteredConnections: 2, totalConnections: 1 });
  });
});

describe(`server timeouts (${runtime})`, () => {
  it("read idle with action close: an idle peer is dropped, an active one is not", async () => {
    await using server = await serve({ idleTimeout: { read: 300 } });
    const errors: ServerEvents["error"][] = [];
    server.on("error", (e) => errors.push(e));
    const idle = await dial(server);
    const active = await dial(server);
    // The active peer talks every 30 ms for longer than the timeout.
    const chatter = (async () => {
      for (let i = 0; i < 20; i++) {
        await active.write("a");
        await delay(30);
      }
      return active.isClosed;
    })();
    await idle.closed;
    expect(await chatter).toBe(false);
    await until(() => errors.length === 1, "the idle handler's error");
    expect(errors[0]!.error.code).toBe("ETIMEDOUT");
    expect(errors[0]!.error.message).toContain("read-idle");
    expect(errors[0]!.remoteAddress).toEqual(idle.localAddress);
    expect(text(await readN(active, 20))).toBe("a".repeat(20));
    await active.close();
  });

  it("write and all idle with action event: the handler decides (Netty's IdleStateHandler)", async () => {
    const events: IdleEvent[] = [];
    await using server = await serve({ idleTimeout: { write: 100, all: 400, action: "event" } }, async (conn, ctx) => {
      const done = gate();
      let pinged = false;
      ctx.on("idle", (event) => {
        events.push(event);
        // One ping only: it is write activity, so "all" restarts from it and "write" reports "first" again.
        if (event.kind === "write" && !pinged) {
          pinged = true;
          void conn.write("ping\n");
        }
        if (event.kind === "all") done.open();
      });
      await done.promise;
      await conn.write("bye\n");
    });
    const conn = await dial(server);
    expect(text(await readAll(conn))).toBe("ping\nbye\n");
    const writes = events.filter((e) => e.kind === "write");
    expect(writes[0]).toMatchObject({ kind: "write", first: true });
    expect(writes[0]!.idleMs).toBeGreaterThanOrEqual(99);
    // After the ping: first again, then reported every timeout while still idle, no longer "first".
    expect(writes[1]).toMatchObject({ first: true });
    expect(writes.length).toBeGreaterThanOrEqual(3);
    expect(writes.slice(2).every((e) => !e.first)).toBe(true);
    const all = events.filter((e) => e.kind === "all");
    expect(all).toHaveLength(1);
    expect(all[0]).toMatchObject({ first: true });
    expect(all[0]!.idleMs).toBeGreaterThanOrEqual(399);
    expect(events.some((e) => e.kind === "read")).toBe(false); // not configured
  });

  it("firstByteTimeout drops a silent peer (slowloris) and keeps one that spoke in time", async () => {
    await using server = await serve({ firstByteTimeout: 200 });
    const errors: ServerEvents["error"][] = [];
    server.on("error", (e) => errors.push(e));
    const silent = await dial(server);
    const talker = await dial(server);
    await talker.write("1");
    expect(text(await readN(talker, 1))).toBe("1");
    await silent.closed;
    await until(() => errors.length === 1, "the silent handler's error");
    expect(errors[0]!.error).toMatchObject({ code: "ETIMEDOUT" });
    expect(errors[0]!.error.message).toContain("firstByteTimeout");
    // Well past the deadline, the talker is still served.
    await delay(250);
    await talker.write("2");
    expect(text(await readN(talker, 1))).toBe("2");
    await talker.close();
  });
});

describe(`server graceful stop (${runtime})`, () => {
  it("aborts the signal, refuses the queued, destroys a handler that ignores the signal at the deadline, resolves with final stats", async () => {
    const started: string[] = [];
    let politeSignal: AbortSignal | undefined;
    const server = await serve({ maxConnections: 2, maxQueued: 2 }, async (conn, ctx) => {
      const role = text(await readN(conn, 1));
      started.push(role);
      if (role === "p") {
        politeSignal = ctx.signal;
        await new Promise<void>((resolve) => ctx.signal.addEventListener("abort", () => resolve(), { once: true }));
        await conn.write("polite bye");
        return;
      }
      await new Promise<never>(() => {}); // ignores everything, forever
    });
    const refused: ServerEvents["refused"][] = [];
    server.on("refused", (e) => refused.push(e));
    const closeEvent = next(server, "close");

    const polite = await dial(server);
    await polite.write("p");
    const stubborn = await dial(server);
    await stubborn.write("s");
    await until(() => started.length === 2, "both handlers running");
    const queued = await dial(server);
    await queued.write("q");
    await until(() => server.stats.queuedConnections === 1, "one queued");
    const port = portOf(server.address);

    const closing = server.close({ timeout: 300 });
    expect(server.closing).toBe(true);
    expect(politeSignal?.aborted).toBe(true);
    expect(politeSignal?.reason).toMatchObject({ code: "ABORT_ERR" });
    expect(text(await readAll(polite))).toBe("polite bye");
    await queued.closed;
    const stats = await closing;
    await stubborn.closed; // destroyed at the deadline
    expect(started).toEqual(["p", "s"]); // the queued one never ran
    expect(refused).toEqual([{ remoteAddress: queued.localAddress, reason: "stopping" }]);
    expect(stats).toMatchObject({
      currentConnections: 0,
      queuedConnections: 0,
      totalConnections: 2,
      refusedConnections: 1,
      maxConcurrentConnections: 2,
    });
    expect(stats.bytesRead).toBeGreaterThanOrEqual(2);
    expect(await closeEvent).toEqual(stats);
    expect(await server.close()).toBe(stats); // idempotent
    // Stopped means not accepting.
    await expect(connect({ hostname: HOST, port })).rejects.toMatchObject({ code: "ECONNREFUSED" });
  });

  it("a new listen on the same port succeeds right after close, even with connections just closed", async () => {
    const first = await serve({});
    const port = portOf(first.address);
    const clients = await Promise.all([1, 2, 3].map(() => dial(first)));
    for (const c of clients) await c.write("hi");
    for (const c of clients) expect(text(await readN(c, 2))).toBe("hi");
    // The server ends first, so its side of each connection goes to TIME_WAIT on this port.
    await first.close({ timeout: 0 });
    await Promise.all(clients.map((c) => readAll(c).catch(() => {})));
    await using second = await serve({ port });
    expect(portOf(second.address)).toBe(port);
    const c = await dial(second);
    await c.write("again");
    expect(text(await readN(c, 5))).toBe("again");
    await c.close();
  });

  it("disposes with await using, freeing the port", async () => {
    let port: number;
    {
      await using server = await serve({});
      port = portOf(server.address);
    }
    await using again = await serve({ port });
    expect(portOf(again.address)).toBe(port);
  });

  it("serves a Unix socket the same way", async () => {
    const path = tempSocketPath("server");
    await using server = await listen({ path, maxConnections: 2 }, echo);
    const conn = await connect({ path });
    await conn.write("unix");
    expect(text(await readN(conn, 4))).toBe("unix");
    await conn.close();
    await until(() => server.stats.totalConnections === 1 && server.stats.currentConnections === 0, "served");
  });
});

describe(`server at scale (${runtime})`, () => {
  it("serves 1,000 concurrent echo clients with every byte verified", async () => {
    const N = 1000;
    const SIZE = 2048;
    await using server = await serve({ maxConnections: N });
    const clients: Connection[] = [];
    for (let batch = 0; batch < N; batch += 100) {
      clients.push(...(await Promise.all(Array.from({ length: 100 }, () => dial(server)))));
    }
    await until(() => server.stats.currentConnections === N, "all 1000 connected at once");
    const results = await Promise.all(
      clients.map(async (c, i) => {
        const data = patternBytes(SIZE, i + 1);
        const back = readN(c, SIZE);
        await c.write(data);
        const received = await back;
        await c.close();
        return firstDifference(received, data);
      }),
    );
    expect(results.filter((d) => d !== -1)).toEqual([]);
    await until(() => server.stats.currentConnections === 0, "all done");
    expect(server.stats).toMatchObject({
      totalConnections: N,
      maxConcurrentConnections: N,
      refusedConnections: 0,
      bytesRead: N * SIZE,
      bytesWritten: N * SIZE,
    });
  }, 60_000);

  it("under a flood beyond maxConnections + maxQueued, refusals stay bounded and the admitted are served", async () => {
    const MAX = 8;
    const QUEUE = 8;
    const FLOOD = 300;
    const release = gate();
    await using server = await serve({ maxConnections: MAX, maxQueued: QUEUE }, async (conn) => {
      const first = await readN(conn, 4);
      await release.promise;
      await conn.write(first);
    });
    let worstQueue = 0;
    let worstCurrent = 0;
    let refused = 0;
    server.on("refused", () => {
      refused++;
      const s = server.stats;
      worstQueue = Math.max(worstQueue, s.queuedConnections);
      worstCurrent = Math.max(worstCurrent, s.currentConnections);
    });
    const admitted: Connection[] = [];
    for (let i = 0; i < MAX + QUEUE; i++) {
      const c = await dial(server);
      await c.write(String(1000 + i));
      admitted.push(c);
    }
    await until(() => server.stats.currentConnections === MAX && server.stats.queuedConnections === QUEUE, "limits reached");

    let closedByServer = 0;
    for (let at = 0; at < FLOOD; at += 50) {
      await Promise.all(
        Array.from({ length: 50 }, async () => {
          // The kernel completes the handshake; the server then closes the socket at once.
          const c = await dial(server).catch(() => undefined);
          if (c) await c.closed;
          closedByServer++;
        }),
      );
    }
    await until(() => refused === FLOOD, `${FLOOD} refusals`);
    expect(closedByServer).toBe(FLOOD);
    expect(worstQueue).toBeLessThanOrEqual(QUEUE);
    expect(worstCurrent).toBeLessThanOrEqual(MAX);
    expect(server.stats).toMatchObject({ refusedConnections: FLOOD, currentConnections: MAX, queuedConnections: QUEUE, totalConnections: MAX });

    release.open();
    const replies = await Promise.all(admitted.map((c) => readAll(c)));
    expect(replies.map(text)).toEqual(admitted.map((_, i) => String(1000 + i)));
    await until(() => server.stats.currentConnections === 0, "admitted all served");
    expect(server.stats).toMatchObject({ totalConnections: MAX + QUEUE, refusedConnections: FLOOD });
  }, 60_000);
});

describe(`server events (${runtime})`, () => {
  it("on() returns an unsubscribe, honours once and signal; addEventListener sees the same typed event", async () => {
    await using server = await serve({ maxConnections: 1, maxQueued: 0 }, (conn) => conn.closed.then(() => {}));
    const viaOn: string[] = [];
    const viaTarget: string[] = [];
    const controller = new AbortController();
    const unsubscribe = server.on("refused", (e) => viaOn.push(`on:${e.reason}`));
    server.on("refused", (e) => viaOn.push(`once:${e.reason}`), { once: true });
    server.on("refused", (e) => viaOn.push(`signal:${e.reason}`), { signal: controller.signal });
    server.addEventListener("refused", (event) => viaTarget.push((event as Event & { detail: ServerEvents["refused"] }).detail.reason));
    const holder = await dial(server);
    await until(() => server.stats.currentConnections === 1, "slot taken");
    const refuseOne = async () => {
      const refused = next(server, "refused");
      await dial(server);
      await refused;
    };
    await refuseOne();
    expect(viaOn).toEqual(["on:full", "once:full", "signal:full"]);
    controller.abort();
    unsubscribe();
    await refuseOne();
    expect(viaOn).toHaveLength(3);
    expect(viaTarget).toEqual(["full", "full"]);
    await holder.close();
  });
});

describe(`server options (${runtime})`, () => {
  it("rejects out-of-range options with ERR_INVALID_OPTION naming the option", async () => {
    const cases: Array<[Record<string, unknown>, string]> = [
      [{ maxConnections: 0 }, "maxConnections"],
      [{ maxConnections: 1.5 }, "maxConnections"],
      [{ maxConnections: "8" }, "maxConnections"],
      [{ maxQueued: -1 }, "maxQueued"],
      [{ firstByteTimeout: -5 }, "firstByteTimeout"],
      [{ firstByteTimeout: Number.NaN }, "firstByteTimeout"],
      [{ idleTimeout: 1000 }, "idleTimeout"],
      [{ idleTimeout: { read: -1 } }, "idleTimeout.read"],
      [{ idleTimeout: { all: 10, action: "kill" } }, "idleTimeout.action"],
      [{ filter: true }, "filter"],
      [{ reusePort: "yes" }, "reusePort"],
      [{ backlog: 0 }, "backlog"],
      [{ filterTimeout: -1 }, "filterTimeout"],
      [{ handshakeTimeout: 1000 }, "handshakeTimeout"], // without tls it would bound nothing
      [{ minReceiveRate: 100 }, "minReceiveRate"],
      [{ minReceiveRate: { bytes: 0, per: 1000 } }, "minReceiveRate.bytes"],
      [{ minReceiveRate: { bytes: 1, per: Infinity } }, "minReceiveRate.per"],
      [{ minReceiveRate: { bytes: 1, per: 1000, grace: 5 } }, "minReceiveRate.grace"],
      // Unknown keys, such as a misspelt limit, are refused rather than ignored.
      [{ maxConnection: 10 }, "maxConnection"],
      [{ timeout: 10 }, "timeout"],
    ];
    for (const [options, name] of cases) {
      const err = await listen({ hostname: HOST, port: 0, ...options } as ListenOptions, echo).catch((e) => e);
      expect(err, name).toBeInstanceOf(NetError);
      expect(err.code, name).toBe("ERR_INVALID_OPTION");
      expect(err.message, name).toContain(`"${name}"`);
    }
    await expect(listen({ hostname: HOST, port: 0 }, "nope" as never)).rejects.toMatchObject({ code: "ERR_INVALID_OPTION" });
    const server = await serve({});
    await expect(server.close({ timeout: -1 })).rejects.toMatchObject({ code: "ERR_INVALID_OPTION" });
    await server.close();
  });

  it("maxQueued 0 refuses as soon as every slot is busy", async () => {
    const hold = gate();
    await using server = await serve({ maxConnections: 1, maxQueued: 0 }, async (conn) => {
      await hold.promise;
      await conn.write("ok");
    });
    const first = await dial(server);
    await until(() => server.stats.currentConnections === 1, "first running");
    const refusedEvent = next(server, "refused");
    const second = await dial(server);
    expect(await refusedEvent).toMatchObject({ reason: "full", remoteAddress: second.localAddress });
    hold.open();
    expect(text(await readAll(first))).toBe("ok");
  });
});

describe(`a handler that returns conn.forEach() (${runtime})`, () => {
  it("ends the session at the peer's EOF, and reports fn's throw as the handler's failure", async () => {
    const got: string[] = [];
    await using server = await serve({}, (conn) =>
      conn.forEach((chunk) => {
        const s = text(chunk);
        if (s.includes("boom")) throw new Error("fn failed on purpose");
        got.push(s);
      }),
    );
    const polite = await dial(server);
    await polite.write("hello");
    await polite.end();
    // forEach resolved at EOF: the handler is done, so the server closes its end.
    expect(text(await readAll(polite))).toBe("");
    await until(() => server.stats.currentConnections === 0, "the first handler done");
    expect(got.join("")).toBe("hello");

    const error = next(server, "error");
    const rude = await dial(server);
    await rude.write("boom");
    const reported = await error;
    expect(reported.error.code).toBe("ERR_HANDLER");
    expect((reported.error.cause as Error).message).toBe("fn failed on purpose");
    await readAll(rude).catch(() => {});
    await until(() => server.stats.currentConnections === 0, "the second handler done");
  });

  it("keeps the session until a promise fn returned settles, though the connection closed meanwhile", async () => {
    const hold = gate();
    let served: Connection | undefined;
    const seen: unknown[] = [];
    await using server = await serve({}, (conn) => {
      served = conn;
      const done = conn.forEach(() => hold.promise);
      // Others may watch the promise the handler returns: they see it settle too.
      done.then(() => seen.push("resolved"), (error: unknown) => seen.push(error));
      return done;
    });
    const client = await dial(server);
    await client.write("x");
    await until(() => served !== undefined && served.bytesRead === 1, "the byte received");
    served!.destroy();
    await served!.closed.catch(() => {});
    expect(server.stats.currentConnections).toBe(1);
    hold.open();
    await until(() => server.stats.currentConnections === 0, "the handler done");
    expect(seen).toEqual(["resolved"]);
    await readAll(client).catch(() => {});
  });
});
