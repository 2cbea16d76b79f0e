// Name resolution and Happy Eyeballs (RFC 8305) in the core (issue #15 part 2). The race is driven
// deterministically with a manual clock and a fake dialer; then connect() is run over real sockets:
// a name with an IPv6 and an IPv4 address where only one listens, and `localhost` through the
// runtime's own resolver with a server on ::1 only, which must connect on Node, Deno and Bun alike.
// The same file runs on all three.
import { describe, expect, it } from "vitest";
import { NetError } from "../src/errors.ts";
import { checkResolved, orderAddresses, raceConnections } from "../src/connect/happy-eyeballs.ts";
import type { ResolvedAddress } from "../src/address.ts";
import { ManualClock, microtasks } from "./helpers/manual-clock.ts";
import { testCerts } from "./helpers/certs.ts";
import { connect, listen, portOf, reconnecting, runtime, transport } from "./helpers/runtime.ts";

const v6 = (address: string): ResolvedAddress => ({ address, family: 6 });
const v4 = (address: string): ResolvedAddress => ({ address, family: 4 });

describe("orderAddresses", () => {
  it("interleaves the families, IPv6 first, each keeping the resolver's order, without duplicates", () => {
    const ordered = orderAddresses("db", [v4("10.0.0.1"), v4("10.0.0.2"), v4("10.0.0.3"), v6("fd00::1"), v4("10.0.0.1"), v6("fd00::2")]);
    expect(ordered.map((a) => a.address)).toEqual(["fd00::1", "10.0.0.1", "fd00::2", "10.0.0.2", "10.0.0.3"]);
  });

  it("keeps only the forced family", () => {
    const resolved = [v4("10.0.0.1"), v6("fd00::1")];
    expect(orderAddresses("db", resolved, 4)).toEqual([v4("10.0.0.1")]);
    expect(orderAddresses("db", resolved, 6)).toEqual([v6("fd00::1")]);
  });

  it("adds both loopback addresses to a localhost name (RFC 6761), whatever /etc/hosts lists", () => {
    expect(orderAddresses("localhost", [v4("127.0.0.1")])).toEqual([v6("::1"), v4("127.0.0.1")]);
    expect(orderAddresses("api.LOCALHOST.", [])).toEqual([v6("::1"), v4("127.0.0.1")]);
    expect(orderAddresses("localhost.example.com", [])).toEqual([]);
  });

  it("refuses a lookup answer that is not a list of IP literals of their stated family", () => {
    expect(() => checkResolved([{ address: "10.0.0.1", family: 6 }], "lookup")).toThrow(/family/);
    expect(() => checkResolved([{ address: "db.internal", family: 4 }], "lookup")).toThrow(NetError);
    expect(() => checkResolved("10.0.0.1", "lookup")).toThrow(/array/);
  });
});

/** A dialer whose attempts the test settles by hand, recording starts, aborts and discards. */
class FakeDialer {
  readonly started: string[] = [];
  readonly aborted: string[] = [];
  readonly discarded: string[] = [];
  readonly #pending = new Map<string, { resolve: (v: string) => void; reject: (e: unknown) => void }>();

  dial = (address: ResolvedAddress, signal: AbortSignal): Promise<string> => {
    this.started.push(address.address);
    signal.addEventListener("abort", () => this.aborted.push(address.address), { once: true });
    return new Promise((resolve, reject) => this.#pending.set(address.address, { resolve, reject }));
  };

  discard = (connection: string): void => void this.discarded.push(connection);

  succeed(address: string): void {
    this.#pending.get(address)!.resolve(address);
  }

  rejectWith(address: string, error: NetError): void {
    this.#pending.get(address)!.reject(error);
  }

  fail(address: string, code: "ECONNREFUSED" | "ENETUNREACH" | "ETIMEDOUT" = "ECONNREFUSED"): void {
    this.#pending.get(address)!.reject(new NetError(code, "refused"));
  }
}

function race(addresses: ResolvedAddress[], attemptDelay = 250) {
  const clock = new ManualClock();
  const dialer = new FakeDialer();
  const controller = new AbortController();
  const outcome = raceConnections({ addresses, dial: dialer.dial, discard: dialer.discard, attemptDelay, clock, signal: controller.signal, label: "db:80", port: 80 });
  const settled = outcome.then((v) => ({ ok: v }), (e: unknown) => ({ error: e as NetError }));
  return { clock, dialer, controller, settled, outcome };
}

const ADDRESSES = [v6("fd00::1"), v4("10.0.0.1"), v6("fd00::2"), v4("10.0.0.2")];

describe("raceConnections", () => {
  it("starts one attempt per attempt delay while the earlier ones hang", async () => {
    const { clock, dialer, controller, settled } = race(ADDRESSES);
    expect(dialer.started).toEqual(["fd00::1"]);
    await clock.advance(249);
    expect(dialer.started).toEqual(["fd00::1"]);
    await clock.advance(1);
    expect(dialer.started).toEqual(["fd00::1", "10.0.0.1"]);
    await clock.advance(250);
    await clock.advance(250);
    expect(dialer.started).toEqual(["fd00::1", "10.0.0.1", "fd00::2", "10.0.0.2"]);
    expect(clock.pendingTimers).toBe(0);
    controller.abort(new NetError("ETIMEDOUT", "gave up"));
    expect(await settled).toMatchObject({ error: { code: "ETIMEDOUT" } });
    expect(dialer.aborted.sort()).toEqual(["10.0.0.1", "10.0.0.2", "fd00::1", "fd00::2"]);
  });

  it("starts the next attempt as soon as the previous one fails, without waiting for the delay", async () => {
    const { clock, dialer, settled } = race(ADDRESSES);
    dialer.fail("fd00::1", "ENETUNREACH");
    await microtasks();
    expect(dialer.started).toEqual(["fd00::1", "10.0.0.1"]);
    expect(clock.now()).toBe(0);
    // The delay counts from the new attempt's start.
    await clock.advance(249);
    expect(dialer.started).toHaveLength(2);
    dialer.succeed("10.0.0.1");
    expect(await settled).toEqual({ ok: "10.0.0.1" });
    expect(clock.pendingTimers).toBe(0);
  });

  it("lets the first success win, aborts every other attempt, and discards one that opens late", async () => {
    const { clock, dialer, settled } = race(ADDRESSES);
    await clock.advance(500);
    expect(dialer.started).toEqual(["fd00::1", "10.0.0.1", "fd00::2"]);
    dialer.succeed("10.0.0.1");
    expect(await settled).toEqual({ ok: "10.0.0.1" });
    expect(dialer.aborted.sort()).toEqual(["fd00::1", "fd00::2"]);
    await clock.advance(10_000);
    expect(dialer.started).toHaveLength(3);
    dialer.succeed("fd00::1");
    await microtasks();
    expect(dialer.discarded).toEqual(["fd00::1"]);
  });

  it("waits for every attempt, then rejects with one error of the shared code listing each address", async () => {
    const { clock, dialer, settled } = race(ADDRESSES.slice(0, 2));
    await clock.advance(250);
    dialer.fail("10.0.0.1");
    await microtasks();
    expect(await Promise.race([settled, Promise.resolve("pending")])).toBe("pending");
    dialer.fail("fd00::1");
    const { error } = (await settled) as { error: NetError };
    expect(error).toBeInstanceOf(NetError);
    expect(error.code).toBe("ECONNREFUSED");
    expect(error.address).toBe("db:80");
    expect(error.message).toContain("[fd00::1]:80 ECONNREFUSED");
    expect(error.message).toContain("10.0.0.1:80 ECONNREFUSED");
    expect((error.cause as AggregateError).errors).toHaveLength(2);
  });

  it("reports the telling code when the failures differ (refused over an unreachable family)", async () => {
    const { dialer, settled } = race(ADDRESSES.slice(0, 2));
    dialer.fail("fd00::1", "ENETUNREACH");
    await microtasks();
    dialer.fail("10.0.0.1");
    expect(await settled).toMatchObject({ error: { code: "ECONNREFUSED" } });
  });

  it("rejects with the error of a server that was reached (a TLS failure) rather than a refusal elsewhere", async () => {
    const { dialer, settled } = race(ADDRESSES.slice(0, 2));
    dialer.fail("fd00::1");
    await microtasks();
    const certificate = new NetError("ERR_TLS_CERT", "unknown issuer");
    dialer.rejectWith("10.0.0.1", certificate);
    expect(await settled).toEqual({ error: certificate });
  });

  it("passes a single address's error through as it is", async () => {
    const { dialer, settled } = race([v4("10.0.0.1")]);
    dialer.fail("10.0.0.1", "ETIMEDOUT");
    expect(await settled).toMatchObject({ error: { code: "ETIMEDOUT", message: expect.stringContaining("refused") } });
  });

  it("with an infinite attempt delay, tries one address at a time", async () => {
    const { clock, dialer, settled } = race(ADDRESSES.slice(0, 2), Infinity);
    expect(clock.pendingTimers).toBe(0);
    await clock.advance(1_000_000);
    expect(dialer.started).toEqual(["fd00::1"]);
    dialer.fail("fd00::1");
    await microtasks();
    expect(dialer.started).toEqual(["fd00::1", "10.0.0.1"]);
    dialer.succeed("10.0.0.1");
    expect(await settled).toEqual({ ok: "10.0.0.1" });
  });

  it("honours a custom attempt delay", async () => {
    const { clock, dialer, controller, settled } = race(ADDRESSES, 40);
    await clock.advance(40);
    expect(dialer.started).toHaveLength(2);
    controller.abort(new NetError("ABORT_ERR", "stop"));
    await settled;
    await clock.advance(1000);
    expect(dialer.started).toHaveLength(2);
  });
});

describe("connect() through a name", () => {
  const both = async () => [v6("::1"), v4("127.0.0.1")];

  it("reaches a server on 127.0.0.1 only, past the ::1 address that refuses", async () => {
    await using server = await listen({ hostname: "127.0.0.1", port: 0 }, (conn) => void conn.close());
    await using conn = await connect({ hostname: "db.test", port: portOf(server.address) }, { lookup: both, timeout: 5000 });
    expect(conn.remoteAddress).toMatchObject({ hostname: "127.0.0.1" });
  });

  it("reaches a server on ::1 only, and the family option can force IPv4 away from it", async () => {
    await using server = await listen({ hostname: "::1", port: 0 }, (conn) => void conn.close());
    const port = portOf(server.address);
    await using conn = await connect({ hostname: "db.test", port }, { lookup: both, timeout: 5000 });
    expect(conn.remoteAddress).toMatchObject({ hostname: "::1" });
    await expect(connect({ hostname: "db.test", port }, { lookup: both, family: 4, timeout: 5000 })).rejects.toMatchObject({ code: "ECONNREFUSED" });
  });

  it("dials `localhost` with a server on ::1 only, through the runtime's resolver (/etc/hosts may list only 127.0.0.1)", async () => {
    await using server = await listen({ hostname: "::1", port: 0 }, (conn) => void conn.close());
    await using conn = await connect(`localhost:${portOf(server.address)}`, { timeout: 5000 });
    expect(conn.remoteAddress).toMatchObject({ hostname: "::1" });
  });

  it("dials TLS with a client certificate by name, verifying the name (Deno's connectTls dials the name again)", async () => {
    const certs = testCerts();
    await using server = await listen({ hostname: "127.0.0.1", port: 0, tls: { cert: certs.server.cert, key: certs.server.key } }, (conn) => void conn.close());
    await using conn = await connect(`localhost:${portOf(server.address)}`, { tls: { ca: certs.ca, cert: certs.client.cert, key: certs.client.key }, timeout: 5000 });
    expect(conn.tls).toBeDefined();
  });

  it("fails with one ECONNREFUSED naming the host when no address listens", async () => {
    await using server = await listen({ hostname: "127.0.0.1", port: 0 }, () => {});
    const port = portOf(server.address);
    await server.close();
    const error = (await connect({ hostname: "db.test", port }, { lookup: both, timeout: 5000 }).catch((e: unknown) => e)) as NetError;
    expect(error).toMatchObject({ code: "ECONNREFUSED", address: `db.test:${port}` });
  });

  it("fails with ENOTFOUND when the lookup throws or finds nothing of the forced family", async () => {
    const broken = async (): Promise<ResolvedAddress[]> => {
      throw new Error("discovery is down");
    };
    await expect(connect("db.test:80", { lookup: broken, timeout: 5000 })).rejects.toMatchObject({ code: "ENOTFOUND", message: expect.stringContaining("discovery is down") });
    await expect(connect("db.test:80", { lookup: async () => [v4("127.0.0.1")], family: 6, timeout: 5000 })).rejects.toMatchObject({
      code: "ENOTFOUND",
      message: expect.stringContaining("no IPv6 address"),
    });
  });

  it("never looks up an IP literal, and refuses a family that contradicts it", async () => {
    let asked = 0;
    const counting = async () => (asked++, [v4("127.0.0.1")]);
    await expect(connect("127.0.0.1:1", { lookup: counting, timeout: 5000 })).rejects.toMatchObject({ code: "ECONNREFUSED" });
    expect(asked).toBe(0);
    await expect(connect("127.0.0.1:1", { family: 6 })).rejects.toMatchObject({ code: "ERR_INVALID_OPTION" });
  });

  it("covers resolution with the connect timeout", async () => {
    const never = () => new Promise<ResolvedAddress[]>(() => {});
    await expect(connect("db.test:80", { lookup: never, timeout: 50 })).rejects.toMatchObject({ code: "ETIMEDOUT" });
  });

  it("validates family, attemptDelay and lookup before dialling", async () => {
    await expect(connect("db.test:80", { family: 5 as 4 })).rejects.toMatchObject({ code: "ERR_INVALID_OPTION" });
    await expect(connect("db.test:80", { attemptDelay: 5 })).rejects.toMatchObject({ code: "ERR_INVALID_OPTION", message: expect.stringContaining("attemptDelay") });
    await expect(connect("db.test:80", { lookup: "dns" as never })).rejects.toMatchObject({ code: "ERR_INVALID_OPTION" });
  });

  it("resolves names with the transport's resolver (every runtime adapter has one)", async () => {
    expect(typeof transport.resolve).toBe("function");
    const found = await transport.resolve!("localhost");
    expect(found.length).toBeGreaterThan(0);
    await expect(transport.resolve!("no-such-host.invalid")).rejects.toMatchObject({ code: "ENOTFOUND" });
  });
});

describe("reconnecting() through a name", () => {
  it("resolves again on every attempt, so it follows the name to its new address after a failover", async () => {
    const first = await listen({ hostname: "::1", port: 0 }, async (conn) => {
      for await (const _ of conn);
    });
    const port = portOf(first.address);
    let answer: ResolvedAddress[] = [v6("::1")];
    let lookups = 0;
    const lookup = async () => (lookups++, answer);
    const client = reconnecting({ hostname: "db.test", port }, { lookup, backoff: { initial: 10, max: 20 }, connectTimeout: 5000 });
    try {
      await client.opened;
      expect(lookups).toBe(1);
      const reopened = new Promise<void>((resolve) => client.on("open", () => resolve(), { once: true }));
      // The service moves to 127.0.0.1 (the same port); the name now says so.
      const second = await listen({ hostname: "127.0.0.1", port }, async (conn) => {
        for await (const _ of conn);
      });
      answer = [v4("127.0.0.1")];
      await first.close({ timeout: 0 });
      await reopened;
      expect(lookups).toBeGreaterThanOrEqual(2);
      await client.write("still here");
      expect(second.stats.totalConnections).toBe(1);
      await client.close();
      await second.close();
    } finally {
      await client.close();
      await first.close();
    }
  });
});

describe("reconnecting() over a name's addresses", () => {
  it("starts each attempt on the next address, so a server that accepts and then fails does not get every attempt", async () => {
    // ::1 accepts and hangs up at once (IPv6 first: without rotation every attempt would land there).
    const broken = await listen({ hostname: "::1", port: 0 }, (conn) => conn.destroy());
    const port = portOf(broken.address);
    let received!: (text: string) => void;
    const arrived = new Promise<string>((resolve) => (received = resolve));
    const healthy = await listen({ hostname: "127.0.0.1", port }, async (conn) => {
      for await (const chunk of conn) received(new TextDecoder().decode(chunk));
    });
    const reached = new Promise<unknown>((resolve) => healthy.on("connection", resolve, { once: true }));
    const client = reconnecting({ hostname: "db.test", port }, { lookup: async () => [v6("::1"), v4("127.0.0.1")], backoff: { initial: 10, max: 20 }, connectTimeout: 5000 });
    try {
      await reached;
      await client.write("hello");
      expect(await arrived).toBe("hello");
      expect(broken.stats.totalConnections).toBeLessThanOrEqual(2);
    } finally {
      await client.close();
      await broken.close();
      await healthy.close();
    }
  });
});

describe("localAddress", () => {
  const supported = transport.capabilities.localAddress === true;

  it.skipIf(!supported)("binds the client's end before connecting", async () => {
    const seen: string[] = [];
    await using server = await listen({ hostname: "127.0.0.1", port: 0 }, (conn) => {
      seen.push(conn.remoteAddress?.transport === "tcp" ? conn.remoteAddress.hostname : "?");
      void conn.close();
    });
    await using conn = await connect(`127.0.0.1:${portOf(server.address)}`, { localAddress: "127.0.0.2", timeout: 5000 });
    expect(conn.localAddress).toMatchObject({ hostname: "127.0.0.2" });
  });

  it.skipIf(!supported)("keeps only the addresses of localAddress's family", async () => {
    await using server = await listen({ hostname: "127.0.0.1", port: 0 }, (conn) => void conn.close());
    await using conn = await connect({ hostname: "db.test", port: portOf(server.address) }, {
      lookup: async () => [v6("::1"), v4("127.0.0.1")],
      localAddress: "127.0.0.1",
      timeout: 5000,
    });
    expect(conn.localAddress).toMatchObject({ hostname: "127.0.0.1" });
  });

  it.skipIf(supported)(`is refused with ERR_UNSUPPORTED where the runtime cannot bind first (${runtime})`, async () => {
    await expect(connect("127.0.0.1:80", { localAddress: "127.0.0.1" })).rejects.toMatchObject({
      code: "ERR_UNSUPPORTED",
      message: expect.stringContaining(String(transport.capabilities.localAddress)),
    });
  });

  it("refuses a localAddress that is not an IP literal, or one on a Unix socket", async () => {
    await expect(connect("127.0.0.1:80", { localAddress: "eth0" })).rejects.toMatchObject({ code: "ERR_INVALID_OPTION" });
    await expect(connect({ path: "/tmp/nothing.sock" }, { localAddress: "127.0.0.1" })).rejects.toMatchObject({ code: "ERR_UNSUPPORTED" });
    await expect(connect("127.0.0.1:80", { localAddress: "::1" })).rejects.toMatchObject({ code: "ERR_INVALID_OPTION" });
  });
});
