// The core's memo of recent connect targets (src/connect/target-memo.ts): bounded, matched by
// value, and never the reason a connect uses a stale address, option or transport. Scripted
// transports, no network.
import { describe, expect, it } from "vitest";
import { memoryTransport } from "../adapters/memory.ts";
import type { Address } from "../src/address.ts";
import { NetError } from "../src/errors.ts";
import { createNet } from "../src/net.ts";
import { RECENT_TARGETS, TargetMemo } from "../src/connect/target-memo.ts";
import type { ConnectSink, RawConnectOptions, Transport } from "../src/transport.ts";

const tcp = (hostname: string, port: number): Address => ({ transport: "tcp", hostname, port });

describe("TargetMemo", () => {
  it("keeps at most its bound, forgetting the least recently used target", () => {
    const memo = new TargetMemo(3);
    for (const port of [1, 2, 3]) memo.remember(tcp("127.0.0.1", port), `127.0.0.1:${port}`);
    expect(memo.recall("127.0.0.1:1")).toBeDefined(); // used again: now the newest
    memo.remember(tcp("127.0.0.1", 4), "127.0.0.1:4");
    expect(memo.size).toBe(3);
    expect(memo.recall("127.0.0.1:2")).toBeUndefined();
    for (const port of [1, 3, 4]) expect(memo.recall(`127.0.0.1:${port}`)?.address).toEqual(tcp("127.0.0.1", port));
    for (let port = 5; port < 100; port++) memo.target(tcp("127.0.0.1", port));
    expect(memo.size).toBe(3);
    expect(RECENT_TARGETS).toBeGreaterThanOrEqual(3); // a name and both loopback addresses fit
  });

  it("recalls only an input that parses to the same address: every field compared, by value", () => {
    const memo = new TargetMemo(8);
    const target = memo.remember(tcp("127.0.0.1", 80), "127.0.0.1:80");
    expect(memo.recall("127.0.0.1:80")).toBe(target);
    expect(memo.recall({ hostname: "127.0.0.1", port: 80 })).toBe(target);
    expect(memo.recall("127.0.0.1:81")).toBeUndefined();
    expect(memo.recall("127.0.0.2:80")).toBeUndefined();
    expect(memo.recall({ hostname: "127.0.0.1", port: 81 })).toBeUndefined();
    expect(memo.recall({ hostname: "127.0.0.2", port: 80 })).toBeUndefined();
    // Inputs that parsing would change or refuse are parsed.
    expect(memo.recall({ hostname: "127.0.0.1", port: "80" } as never)).toBeUndefined();
    expect(memo.recall({ port: 80 } as never)).toBeUndefined();
    expect(memo.recall({ path: "127.0.0.1" })).toBeUndefined();
    const unix = memo.remember({ transport: "unix", path: "/tmp/a.sock" }, { path: "/tmp/a.sock" });
    expect(memo.recall({ path: "/tmp/a.sock" })).toBe(unix);
    expect(memo.recall({ path: "/tmp/b.sock" })).toBeUndefined();
    expect(memo.recall("/tmp/a.sock")).toBeUndefined();
  });

  it("a target the core dialled itself (a resolved address) is not recalled from an input until one was parsed to it", () => {
    const memo = new TargetMemo(8);
    const resolved = memo.target(tcp("::1", 80));
    expect(memo.recall({ hostname: "::1", port: 80 })).toBeUndefined();
    expect(memo.remember(tcp("::1", 80), "[::1]:80")).toBe(resolved);
    expect(memo.recall("[::1]:80")).toBe(resolved);
    expect(resolved.label).toBe("[::1]:80");
  });

  it("keeps the address it was given as it was: a caller changing its object afterwards changes nothing", () => {
    const memo = new TargetMemo(8);
    const address = { transport: "tcp", hostname: "127.0.0.1", port: 80 } as { transport: "tcp"; hostname: string; port: number };
    const target = memo.remember(address, address);
    address.port = 81;
    expect(target.address).toEqual(tcp("127.0.0.1", 80));
    expect(memo.recall(address)).toBeUndefined();
  });

  it("gives a canonical IP literal's connections one frozen peer address; none for a name or a Unix path", () => {
    const memo = new TargetMemo(8);
    const v4 = memo.remember(tcp("127.0.0.1", 80), "127.0.0.1:80");
    expect(v4.peer).toEqual({ transport: "tcp", hostname: "127.0.0.1", port: 80, family: "IPv4" });
    expect(Object.isFrozen(v4.peer)).toBe(true);
    expect(memo.recall({ hostname: "127.0.0.1", port: 80 })!.peer).toBe(v4.peer);
    expect(memo.target(tcp("::1", 80)).peer).toEqual({ transport: "tcp", hostname: "::1", port: 80, family: "IPv6" });
    expect(memo.target(tcp("localhost", 80)).peer).toBeUndefined();
    expect(memo.target(tcp("127.000.0.1", 80)).peer).toBeUndefined(); // the runtime reports it otherwise: ask it
    expect(memo.target({ transport: "unix", path: "/tmp/a.sock" }).peer).toBeUndefined();
  });

  it("knows whether a target's host is an IP literal, and of which family", () => {
    const memo = new TargetMemo(8);
    expect(memo.target(tcp("127.0.0.1", 80)).literal).toBe(4);
    expect(memo.target(tcp("::1", 80)).literal).toBe(6);
    expect(memo.target(tcp("db.test", 80)).literal).toBe(0);
    expect(memo.target(tcp("1.2.3.4.example", 80)).literal).toBe(0);
    expect(memo.target({ transport: "unix", path: "/tmp/a.sock" }).literal).toBe(0);
  });
});

/** A transport whose connects the test settles; it records what each connect received. */
function recording(name: string, resolve?: Transport["resolve"]) {
  const calls: Array<{ address: Address; options: RawConnectOptions; sink: ConnectSink }> = [];
  const transport: Transport = {
    name,
    capabilities: memoryTransport.capabilities,
    connect: (address, options, sink) => {
      calls.push({ address, options, sink });
      return () => {};
    },
    listen: () => Promise.reject(new NetError("ERR_UNSUPPORTED", "no listening here")),
    ...(resolve === undefined ? {} : { resolve }),
  };
  /** Fails the latest connect, and waits for its rejection. */
  const refuse = async (pending: Promise<unknown>): Promise<unknown> => {
    calls.at(-1)!.sink.failed(Object.assign(new Error("refused"), { code: "ECONNREFUSED" }));
    return pending.catch((e: unknown) => e);
  };
  return { transport, net: createNet(transport), calls, refuse };
}

describe("repeated connects never use a stale plan", () => {
  it("options given after a connect without any are honoured, and a connect without options after them has none", async () => {
    const { net, calls, refuse } = recording("scripted-options");
    await refuse(net.connect("127.0.0.1:7000"));
    // A reused plan would carry the default 10 s timeout, and the test time out.
    expect(await net.connect("127.0.0.1:7000", { timeout: 20 }).catch((e: unknown) => e)).toMatchObject({ code: "ETIMEDOUT" });
    await refuse(net.connect("127.0.0.1:7000", { localAddress: "127.0.0.2" }));
    expect(calls.at(-1)!.options).toMatchObject({ localAddress: "127.0.0.2" });
    await refuse(net.connect("127.0.0.1:7000"));
    expect(calls.at(-1)!.options.localAddress).toBeUndefined();
    const invalid = await net.connect("127.0.0.1:7000", { timeout: -1 }).catch((e: unknown) => e);
    expect(invalid).toMatchObject({ code: "ERR_INVALID_OPTION" });
    // The family is checked against each target's own: a recent IPv4 target does not answer for an IPv6 one.
    expect(await net.connect("127.0.0.1:7000", { family: 6 }).catch((e: unknown) => e)).toMatchObject({ code: "ERR_INVALID_OPTION" });
    await refuse(net.connect("[::1]:7000", { family: 6 }));
    expect(calls.at(-1)!.address).toEqual(tcp("::1", 7000));
  });

  it("each connect dials the address it was given, string or object, changed in between", async () => {
    const { net, calls, refuse } = recording("scripted-addresses");
    const target = { hostname: "127.0.0.1", port: 7000 };
    for (const input of ["127.0.0.1:7000", target, "127.0.0.1:7001", target, { path: "/tmp/memo.sock" }, "127.0.0.1:7000"]) {
      const before = JSON.stringify(input);
      await refuse(net.connect(input));
      const dialled = calls.at(-1)!.address;
      expect(dialled).toEqual(typeof input === "string" ? tcp("127.0.0.1", Number(input.split(":")[1])) : "path" in input ? { transport: "unix", path: input.path } : tcp(input.hostname, input.port));
      expect(JSON.stringify(input)).toBe(before);
      if (input === target) target.port++;
    }
  });

  it("the same input through another transport is planned for that transport (its resolver, its connect)", async () => {
    const resolving = recording("scripted-resolving", () => Promise.resolve([{ address: "127.0.0.1", family: 4 as const }]));
    const plain = recording("scripted-unresolving");
    const first = resolving.net.connect("db.test:5432");
    await new Promise((r) => setTimeout(r, 0));
    expect(resolving.calls.at(-1)!.address).toEqual(tcp("127.0.0.1", 5432));
    await resolving.refuse(first);
    // Without a resolver the name goes to the transport as it is.
    await plain.refuse(plain.net.connect("db.test:5432"));
    expect(plain.calls.at(-1)!.address).toEqual(tcp("db.test", 5432));
    expect(resolving.calls).toHaveLength(1);
  });

  it("hands the adapter the dialled peer: one shared object per IP literal target, none for a name", async () => {
    const { net, calls, refuse } = recording("scripted-peer");
    await refuse(net.connect("127.0.0.1:7002"));
    await refuse(net.connect({ hostname: "127.0.0.1", port: 7002 }));
    const [a, b] = calls.map((call) => call.sink.peer);
    expect(a).toEqual({ transport: "tcp", hostname: "127.0.0.1", port: 7002, family: "IPv4" });
    expect(b).toBe(a);
    await refuse(net.connect("127.0.0.1:7003"));
    expect(calls.at(-1)!.sink.peer).toMatchObject({ port: 7003 });
    await refuse(net.connect("localhost:7003"));
    expect(calls.at(-1)!.sink.peer).toBeUndefined();
  });
});
