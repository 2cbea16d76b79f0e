// Server limits that cannot be bypassed (issue #11 items 4 and 5): TLS handshakes counted from accept and
// bounded by handshakeTimeout, filterTimeout, minReceiveRate. The first part drives the server through a
// fake transport and a manual clock, deterministically; the second runs the same rules over real sockets.
// The same file runs on Node, Deno and Bun.
import { describe, expect, it } from "vitest";
import { NetError, type Connection } from "../src/mod.ts";
import { SERVER_CLOCK } from "../src/server/server-clock.ts";
import { listenWith, type ConnectionHandler, type ListenOptions, type Server, type ServerEvents } from "../src/server/server.ts";
import type { RawHandlers, RawListenOptions, RawSocket, Transport, TransportCapabilities } from "../src/transport.ts";
import type { SocketAddress } from "../src/address.ts";
import { testCerts } from "./helpers/certs.ts";
import { ManualClock } from "./helpers/fake-driver.ts";
import { connect, delay, listen, portOf, runtime } from "./helpers/runtime.ts";
import { until } from "./helpers/until.ts";

const HOST = "127.0.0.1";

/** Lets promise continuations run (handshake and verdict settlements). */
async function settle(): Promise<void> {
  for (let i = 0; i < 5; i++) await Promise.resolve();
  await delay(0);
}

function collect<K extends keyof ServerEvents>(server: Server, type: K): ServerEvents[K][] {
  const seen: ServerEvents[K][] = [];
  server.on(type, (e) => seen.push(e));
  return seen;
}

// ---------------------------------------------------------------------------------------------
// A transport whose accepted sockets the test makes and controls.

/** An accepted socket under the test's control; `handshake` is what a TLS adapter hands over at accept. */
class FakeRaw implements RawSocket {
  readonly localAddress: SocketAddress = { transport: "tcp", hostname: HOST, port: 7000, family: "IPv4" };
  readonly remoteAddress: SocketAddress;
  readonly handshake?: Promise<void>;
  #handlers: RawHandlers | undefined;
  #finishHandshake: (() => void) | undefined;
  #failHandshake: ((error: NetError) => void) | undefined;
  started = false;
  paused = false;
  closed = false;
  destroyedWith: NetError | undefined;
  bufferedAmount = 0;

  constructor(port: number, tls: boolean) {
    this.remoteAddress = { transport: "tcp", hostname: HOST, port, family: "IPv4" };
    if (tls) {
      this.handshake = new Promise<void>((resolve, reject) => {
        this.#finishHandshake = resolve;
        this.#failHandshake = reject;
      });
      this.handshake.catch(() => {});
    }
  }

  finishHandshake(): void {
    this.#finishHandshake!();
  }
  failHandshake(error: NetError): void {
    this.#failHandshake!(error);
    this.#gone(error);
  }
  /** The peer sends bytes (delivered only while started, not paused, not closed). */
  send(bytes: number): void {
    if (this.started && !this.paused && !this.closed) this.#handlers!.onData(new Uint8Array(bytes));
  }
  peerEnd(): void {
    if (this.started && !this.closed) this.#handlers!.onEnd();
  }

  start(handlers: RawHandlers): void {
    this.started = true;
    this.#handlers = handlers;
  }
  write(): boolean {
    return true;
  }
  end(): void {}
  close(): void {
    queueMicrotask(() => this.#gone(undefined));
  }
  destroy(error?: NetError): void {
    this.destroyedWith = error;
    this.#gone(error);
  }
  pause(): void {
    this.paused = true;
  }
  resume(): void {
    this.paused = false;
  }
  setNoDelay(): void {}
  setKeepAlive(): void {}

  #gone(error: NetError | undefined): void {
    if (this.closed) return;
    this.closed = true;
    this.#handlers?.onClose(error);
  }
}

const ALL_CAPABILITIES: TransportCapabilities = {
  tls: true,
  tlsOverUnix: true,
  skipVerification: true,
  clientCertificate: true,
  requestCert: true,
  clientStartTls: true,
  serverStartTls: true,
  keepAliveDelay: true,
  reusePort: true,
  ipv6Only: true,
  backlog: true,
  unixBacklog: true,
  localAddress: true,
  proxyProtocolWithTls: true,
  unref: true,
};

interface FakeNet {
  readonly transport: Transport;
  /** Hands a new socket to the server, as an adapter's accept would; returns it. */
  accept(tls: boolean): FakeRaw;
}

function fakeNet(): FakeNet {
  let onAccept: ((socket: RawSocket) => void) | undefined;
  let nextPort = 50000;
  const transport: Transport = {
    name: "fake",
    capabilities: ALL_CAPABILITIES,
    connect: (_address, _options, sink) => sink.failed(new NetError("ERR_UNSUPPORTED", "fake transport: no connect")),
    listen: (_options: RawListenOptions, accept: (socket: RawSocket) => void) => {
      onAccept = accept;
      return Promise.resolve({ address: { transport: "tcp", hostname: HOST, port: 7000, family: "IPv4" }, close: () => Promise.resolve() });
    },
  };
  return {
    transport,
    accept(tls) {
      const raw = new FakeRaw(nextPort++, tls);
      onAccept!(raw);
      return raw;
    },
  };
}

const certs = testCerts();
const TLS = { cert: certs.server.cert, key: certs.server.key };

async function fakeServer(options: ListenOptions, handler: ConnectionHandler): Promise<{ server: Server; net: FakeNet; clock: ManualClock }> {
  const net = fakeNet();
  const clock = new ManualClock();
  const server = await listenWith(net.transport, { ...options, [SERVER_CLOCK]: clock } as ListenOptions, handler);
  return { server, net, clock };
}

describe(`TLS handshakes count from accept (fake transport, ${runtime})`, () => {
  it("a handshaking socket holds a place: beyond maxConnections + maxQueued the rest are refused, and it goes at handshakeTimeout", async () => {
    const handled: Connection[] = [];
    const { server, net, clock } = await fakeServer({ tls: TLS, maxConnections: 1, maxQueued: 0, handshakeTimeout: 1000 }, (conn) => {
      handled.push(conn);
    });
    const refused = collect(server, "refused");
    const tlsErrors = collect(server, "tlsError");
    const silent = Array.from({ length: 5 }, () => net.accept(true));
    expect(silent[0]!.closed).toBe(false);
    expect(silent[0]!.started).toBe(false); // not read, not handed to anyone before its handshake
    for (const raw of silent.slice(1)) expect(raw.closed).toBe(true);
    expect(refused.map((e) => e.reason)).toEqual(["full", "full", "full", "full"]);
    expect(server.stats).toMatchObject({ handshakingConnections: 1, refusedConnections: 4, currentConnections: 0 });

    clock.advance(999);
    expect(silent[0]!.closed).toBe(false);
    clock.advance(1);
    expect(silent[0]!.destroyedWith).toMatchObject({ code: "ETIMEDOUT" });
    expect(tlsErrors).toHaveLength(1);
    expect(tlsErrors[0]!.error.code).toBe("ETIMEDOUT");
    expect(tlsErrors[0]!.error.message).toContain("handshakeTimeout (1000 ms)");
    expect(tlsErrors[0]!.remoteAddress).toEqual(silent[0]!.remoteAddress);
    expect(server.stats).toMatchObject({ handshakingConnections: 0, handshakeTimeouts: 1, handshakeFailures: 0 });

    // The place is free again: the next client is served once its handshake is done, not before.
    const good = net.accept(true);
    await settle();
    expect(handled).toHaveLength(0);
    good.finishHandshake();
    await settle();
    expect(handled).toHaveLength(1);
    expect(server.stats).toMatchObject({ totalConnections: 1, handshakingConnections: 0 });
    expect(handled).toHaveLength(1);
    await server.close();
    expect(clock.pendingTimers).toBe(0);
  });

  it("a failed handshake is counted and reported as tlsError, never reaching filter or handler", async () => {
    let filtered = 0;
    let handled = 0;
    const { server, net, clock } = await fakeServer(
      {
        tls: TLS,
        filter: () => {
          filtered++;
          return true;
        },
      },
      () => {
        handled++;
      },
    );
    const tlsErrors = collect(server, "tlsError");
    const errors = collect(server, "error");
    const bad = net.accept(true);
    expect(server.stats.handshakingConnections).toBe(1);
    bad.failHandshake(new NetError("ERR_TLS", "TLS handshake failed: no shared cipher"));
    await settle();
    expect(tlsErrors.map((e) => e.error.code)).toEqual(["ERR_TLS"]);
    expect(errors).toEqual([]);
    expect(server.stats).toMatchObject({ handshakingConnections: 0, handshakeFailures: 1, handshakeTimeouts: 0 });
    expect([filtered, handled]).toEqual([0, 0]);
    expect(clock.pendingTimers).toBe(0); // the handshake timer went with it
    await server.close();
  });

  it("handshakeTimeout 0 waits forever; close() destroys handshaking sockets at once and counts them refused", async () => {
    const { server, net, clock } = await fakeServer({ tls: TLS, handshakeTimeout: 0 }, () => {});
    const refused = collect(server, "refused");
    const pending = [net.accept(true), net.accept(true)];
    clock.advance(3_600_000);
    expect(pending.every((raw) => !raw.closed)).toBe(true);
    const stats = await server.close();
    expect(pending.every((raw) => raw.closed)).toBe(true);
    expect(refused.map((e) => e.reason)).toEqual(["stopping", "stopping"]);
    expect(stats).toMatchObject({ handshakingConnections: 0, refusedConnections: 2, totalConnections: 0 });
    // A handshake that completes after the stop finds nothing to do.
    pending[0]!.finishHandshake();
    await settle();
    expect(server.stats.totalConnections).toBe(0);
  });

  it("a socket without a pending handshake (an adapter that hands TLS over afterwards) is served at once", async () => {
    let handled = 0;
    const { server, net } = await fakeServer({ tls: TLS }, () => {
      handled++;
    });
    net.accept(false);
    await settle();
    expect(handled).toBe(1);
    await server.close();
  });
});

describe(`filterTimeout (fake transport, ${runtime})`, () => {
  it("a filter that never settles loses the connection at filterTimeout: closed, counted, reported; a late verdict is ignored", async () => {
    const verdicts: Array<(ok: boolean) => void> = [];
    let handled = 0;
    const { server, net, clock } = await fakeServer(
      { filter: () => new Promise<boolean>((resolve) => verdicts.push(resolve)), filterTimeout: 500, maxConnections: 1, maxQueued: 0 },
      () => {
        handled++;
      },
    );
    const errors = collect(server, "error");
    const stuck = net.accept(false);
    // While the verdict is pending the connection holds the only place.
    const second = net.accept(false);
    await settle();
    expect(second.closed).toBe(true);
    expect(second.destroyedWith).toBeUndefined(); // turned away with a FIN, not a reset
    clock.advance(500);
    expect(stuck.closed).toBe(true);
    expect(errors).toHaveLength(1);
    expect(errors[0]!.error.code).toBe("ETIMEDOUT");
    expect(errors[0]!.error.message).toContain("filterTimeout (500 ms)");
    expect(server.stats).toMatchObject({ filteredConnections: 1, filterTimeouts: 1, refusedConnections: 1 });
    verdicts[0]!(true);
    await settle();
    expect(handled).toBe(0);
    // The place was given back.
    const third = net.accept(false);
    expect(third.closed).toBe(false);
    verdicts[1]!(true);
    await settle();
    expect(handled).toBe(1);
    await server.close();
    expect(clock.pendingTimers).toBe(0);
  });

  it("the default is 5 s; 0 waits forever", async () => {
    const never = (): Promise<boolean> => new Promise<boolean>(() => {});
    const byDefault = await fakeServer({ filter: never }, () => {});
    const a = byDefault.net.accept(false);
    byDefault.clock.advance(4999);
    expect(a.closed).toBe(false);
    byDefault.clock.advance(1);
    expect(a.closed).toBe(true);
    await byDefault.server.close();

    const forever = await fakeServer({ filter: never, filterTimeout: 0 }, () => {});
    const b = forever.net.accept(false);
    forever.clock.advance(3_600_000);
    expect(b.closed).toBe(false);
    await forever.server.close({ timeout: 0 });
    expect(b.closed).toBe(true);
  });
});

describe(`minReceiveRate (fake transport, ${runtime})`, () => {
  /** A handler that reads until the connection ends, and records how it ended. */
  function reader(ends: Array<string>): ConnectionHandler {
    return async (conn) => {
      try {
        for await (const _ of conn);
        ends.push("eof");
      } catch (error) {
        ends.push((error as NetError).code);
      }
    };
  }

  it("destroys a trickling peer with ETIMEDOUT and counts it; a peer at the rate stays", async () => {
    const ends: string[] = [];
    const { server, net, clock } = await fakeServer({ minReceiveRate: { bytes: 100, per: 1000 } }, reader(ends));
    const trickler = net.accept(false);
    const steady = net.accept(false);
    for (let window = 0; window < 5; window++) {
      for (let t = 0; t < 10; t++) {
        trickler.send(1); // 10 bytes per window: below 100
        steady.send(20); // 200 bytes per window
        clock.advance(100);
        if (trickler.closed) break;
      }
      await settle();
    }
    expect(trickler.destroyedWith).toMatchObject({ code: "ETIMEDOUT" });
    expect(trickler.destroyedWith!.message).toContain("minReceiveRate (100 bytes per 1000 ms)");
    expect(steady.closed).toBe(false);
    expect(ends).toEqual(["ETIMEDOUT"]);
    expect(server.stats.slowConnections).toBe(1);
    steady.peerEnd();
    await settle();
    expect(ends).toEqual(["ETIMEDOUT", "eof"]);
    await server.close();
    expect(clock.pendingTimers).toBe(0);
  });

  it("windows in which the server did not read do not count: a paused connection, a queued one, a half-closed peer", async () => {
    const ends: string[] = [];
    let holdPaused: Connection | undefined;
    const { server, net, clock } = await fakeServer({ maxConnections: 1, maxQueued: 1, minReceiveRate: { bytes: 100, per: 1000 } }, async (conn) => {
      holdPaused = conn;
      conn.pause(); // the handler is busy and reads nothing
      await new Promise<void>(() => {});
    });
    server.on("error", () => {});
    const paused = net.accept(false);
    const queued = net.accept(false);
    expect(server.stats).toMatchObject({ currentConnections: 1, queuedConnections: 1 });
    clock.advance(10_000);
    await settle();
    expect(holdPaused).toBeDefined();
    expect(paused.closed).toBe(false);
    expect(queued.closed).toBe(false);
    expect(server.stats.slowConnections).toBe(0);
    await server.close({ timeout: 0 });
    expect(ends).toEqual([]);

    // After the peer's FIN nothing more can be asked of it.
    const half = await fakeServer({ allowHalfOpen: true, minReceiveRate: { bytes: 100, per: 1000 } }, async (conn) => {
      for await (const _ of conn);
      await new Promise<void>(() => {}); // still writing a long answer, say
    });
    const done = half.net.accept(false);
    done.send(500);
    done.peerEnd();
    half.clock.advance(10_000);
    await settle();
    expect(done.closed).toBe(false);
    await half.server.close({ timeout: 0 });
  });
});

// ---------------------------------------------------------------------------------------------
// The same rules over real sockets on this runtime.

describe(`server limits over real sockets (${runtime})`, () => {
  it("TLS: silent TCP clients cannot escape the limits; the admitted one goes at handshakeTimeout", async () => {
    const N = 20;
    let handled = 0;
    await using server = await listen({ hostname: HOST, port: 0, tls: TLS, maxConnections: 1, maxQueued: 0, handshakeTimeout: 300 }, () => {
      handled++;
    });
    const tlsErrors = collect(server, "tlsError");
    const port = portOf(server.address);
    // Plain TCP clients that never send a ClientHello.
    const clients: Connection[] = [];
    for (let i = 0; i < N; i++) clients.push(await connect({ hostname: HOST, port }));
    // Adapters that only hand TLS sockets over after the handshake hide these clients from the server.
    await until(() => server.stats.refusedConnections === N - 1, `${N - 1} of ${N} silent TLS clients refused (got ${server.stats.refusedConnections}; handshaking ${server.stats.handshakingConnections}): the adapter must hand TLS sockets over at accept`, 5000);
    await until(() => server.stats.handshakeTimeouts === 1, "the admitted silent client destroyed at handshakeTimeout", 5000);
    const open = (): number => clients.filter((c) => !c.isClosed).length;
    // Deno 2.9: a TLS conn from Deno.listenTls closed before its handshake keeps its TCP socket until the
    // peer speaks or leaves (measured 40+ s), so the server counts and refuses but cannot hang up.
    if (runtime !== "deno") await until(() => open() === 0, `every silent client closed by the server (${open()} of ${N} still open)`, 5000);
    else for (const c of clients) c.destroy();
    expect(tlsErrors.map((e) => e.error.code)).toEqual(["ETIMEDOUT"]);
    expect(handled).toBe(0);
    const stats = await server.close();
    expect(stats).toMatchObject({ handshakingConnections: 0, currentConnections: 0, queuedConnections: 0, totalConnections: 0, refusedConnections: N - 1, handshakeTimeouts: 1 });
  }, 30_000);

  it("slowloris: trickling clients are destroyed by minReceiveRate and their places go to a real client", async () => {
    const TRICKLERS = 20;
    const ends: string[] = [];
    await using server = await listen({ hostname: HOST, port: 0, maxConnections: 10, maxQueued: 10, minReceiveRate: { bytes: 64, per: 200 } }, async (conn) => {
      try {
        for await (const chunk of conn) await conn.write(chunk);
        ends.push("eof");
      } catch (error) {
        ends.push((error as NetError).code);
      }
    });
    const port = portOf(server.address);
    const tricklers: Connection[] = [];
    for (let i = 0; i < TRICKLERS; i++) tricklers.push(await connect({ hostname: HOST, port }));
    // Each sends a byte every 40 ms, about 5 per window of 200 ms: below 64. Bounded: at most 200 bytes.
    const trickling = tricklers.map(async (c) => {
      for (let i = 0; i < 200 && !c.isClosed; i++) {
        await c.write("x").catch(() => {});
        await delay(40);
      }
    });
    await until(() => tricklers.every((c) => c.isClosed), "every trickler destroyed", 20_000);
    await Promise.all(trickling);
    expect(server.stats.slowConnections).toBe(TRICKLERS);
    await until(() => ends.length === TRICKLERS, "their handlers ended");
    expect(new Set(ends)).toEqual(new Set(["ETIMEDOUT"]));
    // A client that talks at a normal pace is served.
    const real = await connect({ hostname: HOST, port });
    await real.write(new Uint8Array(1024));
    let got = 0;
    for await (const chunk of real) {
      got += chunk.length;
      if (got >= 1024) break;
    }
    expect(got).toBe(1024);
    await real.close();
  }, 30_000);

  it("filterTimeout: a connection whose filter never answers is closed and counted", async () => {
    await using server = await listen({ hostname: HOST, port: 0, filter: () => new Promise<boolean>(() => {}), filterTimeout: 200 }, () => {});
    const errors = collect(server, "error");
    const conn = await connect({ hostname: HOST, port: portOf(server.address) });
    await conn.closed;
    await until(() => errors.length === 1, "the filter timeout reported");
    expect(errors[0]!.error.code).toBe("ETIMEDOUT");
    expect(server.stats).toMatchObject({ filteredConnections: 1, filterTimeouts: 1, totalConnections: 0 });
  });
});

describe(`listen options (${runtime})`, () => {
  it("refuses an unknown key with ERR_INVALID_OPTION naming it", async () => {
    const err = await listen({ hostname: HOST, port: 0, maxConection: 5 } as ListenOptions, () => {}).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(NetError);
    expect((err as NetError).code).toBe("ERR_INVALID_OPTION");
    expect((err as NetError).message).toContain('"maxConection"');
  });
});
