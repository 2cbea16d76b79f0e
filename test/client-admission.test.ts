// Per-client admission (issue #15 part 3): maxConnectionsPerClient per IP or per /24 and /64 network,
// and a per-client accept rate, counted in stats and reported by `refused` with a reason, with bounded
// memory. The table is driven with a manual clock; then real servers on every runtime, including one
// behind the PROXY protocol, where the limits apply to the client named in the header.
import { describe, expect, it } from "vitest";
import { memoryTransport } from "../adapters/memory.ts";
import { checkClientAdmission, ClientAdmission, clientKey } from "../src/server/client-admission.ts";
import { createNet } from "../src/net.ts";
import { SERVER_CLOCK } from "../src/server/server-clock.ts";
import type { ListenOptions, Server, ServerEvents } from "../src/server/server.ts";
import type { Connection } from "../src/connection.ts";
import type { SocketAddress } from "../src/address.ts";
import { testCerts } from "./helpers/certs.ts";
import { ManualClock } from "./helpers/manual-clock.ts";
import { connect, delay, listen, portOf } from "./helpers/runtime.ts";

const tcp = (hostname: string): SocketAddress => ({ transport: "tcp", hostname, port: 40000, family: hostname.includes(":") ? "IPv6" : "IPv4" });

describe("clientKey", () => {
  it("is the IP by default, or its network for a shorter prefix", () => {
    expect(clientKey(tcp("10.1.2.3"), 32, 128)).toBe("10.1.2.3");
    expect(clientKey(tcp("10.1.2.3"), 24, 128)).toBe("10.1.2.0/24");
    expect(clientKey(tcp("10.1.2.3"), 20, 128)).toBe("10.1.0.0/20");
    expect(clientKey(tcp("2001:db8:aa:bb:1:2:3:4"), 32, 64)).toBe("2001:db8:aa:bb:0:0:0:0/64");
    expect(clientKey(tcp("2001:db8:aa:bb::9"), 32, 64)).toBe(clientKey(tcp("2001:db8:aa:bb:ffff::1"), 32, 64));
    expect(clientKey(tcp("2001:db8::1"), 32, 128)).toBe("2001:db8:0:0:0:0:0:1");
  });

  it("counts an IPv4-mapped IPv6 peer (a dual-stack listener) as its IPv4 address", () => {
    expect(clientKey(tcp("::ffff:10.1.2.3"), 32, 128)).toBe("10.1.2.3");
    expect(clientKey(tcp("::FFFF:10.1.2.3"), 24, 64)).toBe("10.1.2.0/24");
  });

  it("leaves Unix-socket peers unlimited", () => {
    expect(clientKey({ transport: "unix", path: "" }, 32, 128)).toBeUndefined();
    expect(clientKey(undefined, 32, 128)).toBeUndefined();
  });
});

describe("ClientAdmission", () => {
  it("refuses a client's connection past the limit until one of its own closes; other clients are unaffected", () => {
    const clients = new ClientAdmission(checkClientAdmission(2, undefined), new ManualClock());
    const a1 = clients.admit(tcp("10.0.0.1"));
    const a2 = clients.admit(tcp("10.0.0.1"));
    expect(typeof a1).toBe("function");
    expect(typeof a2).toBe("function");
    expect(clients.admit(tcp("10.0.0.1"))).toBe("per-client");
    expect(typeof clients.admit(tcp("10.0.0.2"))).toBe("function");
    (a1 as () => void)();
    (a1 as () => void)(); // a second release changes nothing
    expect(typeof clients.admit(tcp("10.0.0.1"))).toBe("function");
    expect(clients.admit(tcp("10.0.0.1"))).toBe("per-client");
  });

  it("groups a /24 into one client", () => {
    const clients = new ClientAdmission(checkClientAdmission({ limit: 1, prefix4: 24, prefix6: 64 }, undefined), new ManualClock());
    expect(typeof clients.admit(tcp("10.0.0.1"))).toBe("function");
    expect(clients.admit(tcp("10.0.0.200"))).toBe("per-client");
    expect(typeof clients.admit(tcp("10.0.1.1"))).toBe("function");
  });

  it("forgets a client once its last connection closes (the table holds only clients with open connections)", () => {
    const clients = new ClientAdmission(checkClientAdmission(5, undefined), new ManualClock());
    const releases = Array.from({ length: 100 }, (_, i) => clients.admit(tcp(`10.0.${i}.1`)) as () => void);
    expect(clients.tracked.open).toBe(100);
    for (const release of releases) release();
    expect(clients.tracked.open).toBe(0);
  });

  it("allows a burst of `connections`, then refills steadily over `per`", async () => {
    const clock = new ManualClock();
    const clients = new ClientAdmission(checkClientAdmission(undefined, { connections: 3, per: 300 }), clock);
    for (let i = 0; i < 3; i++) expect(typeof clients.admit(tcp("10.0.0.1"))).toBe("function");
    expect(clients.admit(tcp("10.0.0.1"))).toBe("client-rate");
    expect(typeof clients.admit(tcp("10.0.0.2"))).toBe("function");
    await clock.advance(99);
    expect(clients.admit(tcp("10.0.0.1"))).toBe("client-rate");
    await clock.advance(1);
    expect(typeof clients.admit(tcp("10.0.0.1"))).toBe("function");
    expect(clients.admit(tcp("10.0.0.1"))).toBe("client-rate");
  });

  it("does not spend the rate allowance on a connection the per-client limit refuses", () => {
    const clients = new ClientAdmission(checkClientAdmission(1, { connections: 2, per: 1000 }), new ManualClock());
    const first = clients.admit(tcp("10.0.0.1")) as () => void;
    expect(clients.admit(tcp("10.0.0.1"))).toBe("per-client");
    first();
    expect(typeof clients.admit(tcp("10.0.0.1"))).toBe("function");
  });

  it("keeps the rate table bounded: idle clients are forgotten, and past the cap the least recent goes", async () => {
    const clock = new ManualClock();
    const clients = new ClientAdmission(checkClientAdmission(undefined, { connections: 1, per: 1000 }), clock, 50);
    for (let i = 0; i < 40; i++) clients.admit(tcp(`10.0.0.${i}`));
    expect(clients.tracked.rate).toBe(40);
    await clock.advance(1000);
    clients.admit(tcp("10.0.1.1"));
    expect(clients.tracked.rate).toBe(1);
    for (let i = 0; i < 500; i++) clients.admit(tcp(`10.1.${i >> 8}.${i & 255}`));
    expect(clients.tracked.rate).toBe(50);
  });

  it("validates its options", () => {
    expect(() => checkClientAdmission(0, undefined)).toThrow(/maxConnectionsPerClient/);
    expect(() => checkClientAdmission({ limit: 2, prefix4: 33 }, undefined)).toThrow(/prefix4/);
    expect(() => checkClientAdmission({ limit: 2, prefix: 24 }, undefined)).toThrow(/prefix/);
    expect(() => checkClientAdmission(undefined, { connections: 5 })).toThrow(/clientRate.per/);
    expect(() => checkClientAdmission(undefined, { connections: 0, per: 10 })).toThrow(/clientRate.connections/);
  });
});

function next<K extends keyof ServerEvents>(server: Server, type: K): Promise<ServerEvents[K]> {
  return new Promise((resolve) => server.on(type, resolve, { once: true }));
}

/** A handler that holds every connection open until the test releases them. */
function holder() {
  let release!: () => void;
  const released = new Promise<void>((r) => (release = r));
  return { handler: async () => void (await released), release };
}

describe("listen({ maxConnectionsPerClient, clientRate })", () => {
  it("refuses a client's third connection with reason per-client, counted in stats, and admits it again once one closes", async () => {
    const { handler, release } = holder();
    await using server = await listen({ port: 0, maxConnectionsPerClient: 2 }, handler);
    const port = portOf(server.address);
    const served: unknown[] = [];
    server.on("connection", (e) => served.push(e));
    await using a = await connect(`127.0.0.1:${port}`);
    await using b = await connect(`127.0.0.1:${port}`);
    const refused = next(server, "refused");
    await using c = await connect(`127.0.0.1:${port}`);
    expect(await refused).toMatchObject({ reason: "per-client", remoteAddress: { hostname: "127.0.0.1" } });
    expect(await c.closed).toBeUndefined();
    expect(server.stats).toMatchObject({ perClientRefusals: 1, refusedConnections: 1, clientRateRefusals: 0, currentConnections: 2 });
    a.destroy();
    for (let i = 0; i < 200 && server.stats.currentConnections > 1; i++) await delay(5);
    const admitted = next(server, "connection");
    await using d = await connect(`127.0.0.1:${port}`);
    await admitted;
    expect(server.stats.perClientRefusals).toBe(1);
    release();
    void b;
    void d;
  });

  it("refuses past the per-client rate with reason client-rate", async () => {
    await using server = await listen({ port: 0, clientRate: { connections: 2, per: 60_000 } }, () => {});
    const port = portOf(server.address);
    const reasons: string[] = [];
    server.on("refused", (e) => reasons.push(e.reason));
    for (let i = 0; i < 2; i++) {
      const served = next(server, "connection");
      await using conn = await connect(`127.0.0.1:${port}`);
      await served;
    }
    const refused = next(server, "refused");
    await using third = await connect(`127.0.0.1:${port}`);
    await refused;
    expect(reasons).toEqual(["client-rate"]);
    expect(server.stats).toMatchObject({ clientRateRefusals: 1, refusedConnections: 1, totalConnections: 2 });
    void third;
  });

  it("limits per network, and other networks keep their own allowance (memory transport, client addresses chosen)", async () => {
    const net = createNet(memoryTransport);
    const { handler, release } = holder();
    await using server = await net.listen({ port: 0, maxConnectionsPerClient: { limit: 1, prefix4: 24 } }, handler);
    const port = portOf(server.address);
    const refused: ServerEvents["refused"][] = [];
    server.on("refused", (e) => refused.push(e));
    const open = [];
    for (const local of ["10.0.0.1", "10.0.0.2", "10.0.1.1"]) open.push(await net.connect(`127.0.0.1:${port}`, { localAddress: local }));
    for (let i = 0; i < 100 && server.stats.currentConnections + refused.length < 3; i++) await delay(1);
    expect(refused.map((e) => [e.reason, e.remoteAddress?.transport === "tcp" && e.remoteAddress.hostname])).toEqual([["per-client", "10.0.0.2"]]);
    expect(server.stats.currentConnections).toBe(2);
    release();
    for (const conn of open) conn.destroy();
  });

  it("behind the PROXY protocol, counts the client the header names, not the balancer", async () => {
    const { handler, release } = holder();
    await using server = await listen({ port: 0, proxyProtocol: true, maxConnectionsPerClient: 1 }, handler);
    const port = portOf(server.address);
    const refused: ServerEvents["refused"][] = [];
    server.on("refused", (e) => refused.push(e));
    const destination = { hostname: "198.51.100.1", port: 443 };
    const open = [];
    for (const hostname of ["203.0.113.1", "203.0.113.2", "203.0.113.1"]) {
      open.push(await connect(`127.0.0.1:${port}`, { proxyHeader: { version: 2, source: { hostname, port: 5000 }, destination } }));
    }
    for (let i = 0; i < 400 && server.stats.currentConnections + refused.length < 3; i++) await delay(5);
    expect(refused.map((e) => [e.reason, e.remoteAddress?.transport === "tcp" && e.remoteAddress.hostname])).toEqual([["per-client", "203.0.113.1"]]);
    expect(server.stats).toMatchObject({ currentConnections: 2, perClientRefusals: 1 });
    release();
    for (const conn of open) conn.destroy();
  });

  it("with TLS, counts a client from accept: one stalled handshake holds its only place, and gives it back when it times out", async () => {
    const certs = testCerts();
    const { handler, release } = holder();
    // The handshake timeout runs on a manual clock: the stalled handshake ends exactly when the test says.
    const clock = new ManualClock();
    const options = { port: 0, tls: { cert: certs.server.cert, key: certs.server.key }, maxConnectionsPerClient: 1, handshakeTimeout: 1000, [SERVER_CLOCK]: clock };
    await using server = await listen(options as ListenOptions, handler);
    const port = portOf(server.address);
    const refused: ServerEvents["refused"][] = [];
    server.on("refused", (e) => refused.push(e));
    const tls = { ca: certs.ca, serverName: "localhost" };
    const stalled = await connect(`127.0.0.1:${port}`); // plain TCP: it never sends a ClientHello
    for (let i = 0; i < 400 && server.stats.handshakingConnections < 1; i++) await delay(5);
    expect(server.stats.handshakingConnections).toBe(1);
    const turnedAway = next(server, "refused");
    const second = await connect(`127.0.0.1:${port}`, { tls, timeout: 5000 }).catch((e: unknown) => e);
    expect(await turnedAway).toMatchObject({ reason: "per-client" });
    // Deno's TLS layer may finish the client's handshake before the server drops the socket: it then closes.
    if (!(second instanceof Error)) await (second as Connection).closed;
    expect(refused.map((e) => e.reason)).toEqual(["per-client"]);
    expect(server.stats.handshakingConnections).toBe(1);
    await clock.advance(1000);
    expect(server.stats).toMatchObject({ handshakingConnections: 0, handshakeTimeouts: 1 });
    const admitted = next(server, "connection");
    await using served = await connect(`127.0.0.1:${port}`, { tls, timeout: 5000 });
    await admitted;
    expect(server.stats).toMatchObject({ perClientRefusals: 1, currentConnections: 1 });
    release();
    stalled.destroy();
    void served;
  });

  it("refuses invalid per-client options at listen", async () => {
    await expect(listen({ port: 0, maxConnectionsPerClient: -1 }, () => {})).rejects.toMatchObject({ code: "ERR_INVALID_OPTION" });
    await expect(listen({ port: 0, clientRate: { connections: 1, per: 0 } }, () => {})).rejects.toMatchObject({ code: "ERR_INVALID_OPTION" });
  });
});
