// Edge addresses (issue #11.12): one outcome on every runtime. Checks that need no socket live in
// src/address.ts and fail before one exists; the rest (DNS, file system) come from the adapters.
import { existsSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { parseAddress, tcpSocketAddress, type AddressInput, type SocketAddress } from "../src/address.ts";
import { NetError } from "../src/errors.ts";
import { SocketEnds, type TcpEndsSource } from "../src/socket/socket-ends.ts";
import { connect, listen, runtime } from "./helpers/runtime.ts";

const label = (n: number): string => "a".repeat(n);
/** A host name of exactly `n` characters made of 63-character labels. */
function nameOf(n: number): string {
  const labels: string[] = [];
  let left = n;
  while (left > 0) {
    const size = Math.min(63, left);
    labels.push(label(size));
    left -= size + 1;
  }
  const name = labels.join(".");
  return name.length > n ? name.slice(0, n) : name;
}
const path = (bytes: number): string => `/tmp/${"p".repeat(bytes - 5)}`;

/** [what, input, the reason the message must contain] — each must be ERR_INVALID_ADDRESS. */
const INVALID: Array<[string, AddressInput, string]> = [
  ["IPv6 zone id in brackets", "[fe80::1%lo]:80", "zone ids"],
  ["numeric IPv6 zone id", "[::1%1]:80", "zone ids"],
  ["IPv6 zone id as hostname", { hostname: "fe80::1%eth0", port: 80 }, "zone ids"],
  ["NUL byte in a host", "exa\u0000mple.com:80", "U+0000"],
  ["NUL byte in a hostname option", { hostname: "localhost\u0000.evil.com", port: 80 }, "U+0000"],
  ["control character in a host", { hostname: "local\u0007host", port: 80 }, "U+0007"],
  ["tab in a host", { hostname: "local\thost", port: 80 }, "U+0009"],
  ["300-character label", `${label(300)}.com:80`, "label of 300 characters"],
  ["64-character label", { hostname: `${label(64)}.example.com`, port: 80 }, "label of 64 characters"],
  ["254-character name", { hostname: nameOf(254), port: 80 }, "254 characters"],
  ["empty label", "a..b:80", "empty label"],
  ["leading dot", ".example.com:80", "empty label"],
  ["Unix path of 108 bytes", { path: path(108) }, "108 bytes"],
  ["Unix path of 107 bytes in UTF-8 but fewer characters", { path: `/tmp/${"é".repeat(60)}` }, "125 bytes"],
  ["NUL byte in a Unix path", { path: "/tmp/a\u0000b.sock" }, "NUL byte"],
];

const VALID: Array<[string, AddressInput]> = [
  ["63-character label", { hostname: `${label(63)}.example.com`, port: 80 }],
  ["253-character name", { hostname: nameOf(253), port: 80 }],
  ["253-character name with its root dot", { hostname: `${nameOf(253)}.`, port: 80 }],
  ["trailing dot", "example.com.:80"],
  ["IPv6 literal", "[fe80::1]:80"],
  ["IPv4-mapped IPv6", "[::ffff:127.0.0.1]:80"],
  ["Unix path of 107 bytes", { path: path(107) }],
];

describe(`addresses refused up front (${runtime})`, () => {
  it.each(INVALID)("parseAddress: %s", (_what, input, why) => {
    let caught: unknown;
    try {
      parseAddress(input, { allowPortZero: true });
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(NetError);
    expect((caught as NetError).code).toBe("ERR_INVALID_ADDRESS");
    expect((caught as NetError).message).toContain(why);
  });

  it.each(VALID)("parseAddress accepts: %s", (_what, input) => {
    expect(() => parseAddress(input)).not.toThrow();
  });

  it("connect() and listen() refuse the same inputs before any socket exists", async () => {
    for (const [what, input] of INVALID) {
      const viaConnect = await connect(input).catch((e: unknown) => e);
      expect(viaConnect, `connect: ${what}`).toBeInstanceOf(NetError);
      expect((viaConnect as NetError).code, `connect: ${what}`).toBe("ERR_INVALID_ADDRESS");
      const listenOptions = typeof input === "string" ? undefined : "path" in input ? { path: input.path } : { hostname: input.hostname, port: 0 };
      if (!listenOptions) continue;
      const viaListen = await listen(listenOptions, () => {}).catch((e: unknown) => e);
      expect(viaListen, `listen: ${what}`).toBeInstanceOf(NetError);
      expect((viaListen as NetError).code, `listen: ${what}`).toBe("ERR_INVALID_ADDRESS");
    }
  });

  it("a Unix path over 107 bytes binds nothing (Node 20 would bind a truncated name)", async () => {
    const long = path(120);
    const err = await listen({ path: long }, () => {}).catch((e: unknown) => e);
    expect((err as NetError).code).toBe("ERR_INVALID_ADDRESS");
    expect(existsSync(long.slice(0, 107))).toBe(false);
  });
});

describe(`addresses the system refuses, with one code everywhere (${runtime})`, () => {
  const missingDir = `/tmp/wireline-missing-${runtime}-${Date.now()}-${Math.floor(Math.random() * 1e9)}`;
  const cases: Array<[string, () => Promise<unknown>, string]> = [
    ["listen on an unresolvable host", () => listen({ hostname: "wireline-no-such-host.invalid", port: 0 }, () => {}), "ENOTFOUND"],
    ["connect to an unresolvable host", () => connect({ hostname: "wireline-no-such-host.invalid", port: 80 }), "ENOTFOUND"],
    ["listen on a Unix path in a missing directory", () => listen({ path: `${missingDir}/s.sock` }, () => {}), "ENOENT"],
    ["connect to a Unix path in a missing directory", () => connect({ path: `${missingDir}/s.sock` }), "ENOENT"],
  ];

  it.each(cases)("%s", async (_what, attempt, code) => {
    const outcome = await attempt().then(
      async (value) => {
        // Not refused: release what was opened so the test leaves nothing behind.
        await (value as { close?: () => Promise<unknown> }).close?.();
        return "succeeded";
      },
      (e: unknown) => e,
    );
    expect(outcome).toBeInstanceOf(NetError);
    expect((outcome as NetError).code).toBe(code);
  });
});

describe(`repeated connects read the address given at each call (${runtime})`, () => {
  // A connect without options reuses the previous one's checked address when the input is the same: by value,
  // never by object identity, so an address object changed between calls is read again.
  it("the same address object, its port changed in between, reaches the new port; an invalid one is still refused", async () => {
    const drain = async (conn: AsyncIterable<Uint8Array>): Promise<void> => {
      for await (const _ of conn);
    };
    const first = await listen({ hostname: "127.0.0.1", port: 0 }, drain);
    const second = await listen({ hostname: "127.0.0.1", port: 0 }, drain);
    try {
      const target = { hostname: "127.0.0.1", port: first.address.transport === "tcp" ? first.address.port : 0 };
      for (const input of [`127.0.0.1:${target.port}`, { ...target }, target]) {
        const conn = await connect(input);
        expect(conn.remoteAddress).toMatchObject({ port: target.port });
        await conn.close();
      }
      target.port = second.address.transport === "tcp" ? second.address.port : 0;
      const conn = await connect(target);
      expect(conn.remoteAddress).toMatchObject({ port: target.port });
      await conn.close();
      const again = await connect(`127.0.0.1:${target.port}`);
      expect(again.remoteAddress).toMatchObject({ port: target.port });
      await again.close();
      target.port = -1;
      const refused = await connect(target).catch((e: unknown) => e);
      expect((refused as NetError).code).toBe("ERR_INVALID_ADDRESS");
    } finally {
      await first.close();
      await second.close();
    }
  });
});

describe("a TCP end as a runtime reports it (text and port)", () => {
  it("takes its family from the text, and is undefined once the runtime forgot either part", () => {
    expect(tcpSocketAddress("127.0.0.1", 80)).toEqual({ transport: "tcp", hostname: "127.0.0.1", port: 80, family: "IPv4" });
    expect(tcpSocketAddress("::ffff:127.0.0.1", 80)).toEqual({ transport: "tcp", hostname: "::ffff:127.0.0.1", port: 80, family: "IPv6" });
    expect(tcpSocketAddress(undefined, 80)).toBeUndefined();
    expect(tcpSocketAddress("", 80)).toBeUndefined();
    expect(tcpSocketAddress("::1", undefined)).toBeUndefined();
  });
});

/** A driver's ends, read from `source` as a Node or Bun driver reads them at open. */
class Ends extends SocketEnds {
  constructor(source: TcpEndsSource, unixPath?: string, accepted = false, known?: SocketAddress) {
    super(unixPath, accepted, known);
    this.readTcpEnds(source);
  }
}

describe("a driver's ends (SocketEnds)", () => {
  it("keeps both ports whole, the highest included, and gives the same object on every read", () => {
    const ends = new Ends({ localAddress: "::1", localPort: 65535, remoteAddress: "10.0.0.1", remotePort: 40000 });
    expect(ends.localAddress).toEqual({ transport: "tcp", hostname: "::1", port: 65535, family: "IPv6" });
    expect(ends.remoteAddress).toEqual({ transport: "tcp", hostname: "10.0.0.1", port: 40000, family: "IPv4" });
    expect(ends.remoteAddress).toBe(ends.remoteAddress);
    expect(ends.localAddress).toBe(ends.localAddress);
  });

  it("asks the runtime only for an end it does not know, and nothing of a Unix socket", () => {
    const refused = (): never => {
      throw new Error("read an end that was known");
    };
    const peer = tcpSocketAddress("127.0.0.1", 80);
    const dialled = new Ends({ localAddress: "127.0.0.1", localPort: 50000, get remoteAddress() { return refused(); } }, undefined, false, peer);
    expect(dialled.remoteAddress).toBe(peer);
    expect(dialled.localAddress).toMatchObject({ port: 50000 });
    const unix = new Ends({ get localAddress() { return refused(); }, get remoteAddress() { return refused(); } }, "/tmp/app.sock", true);
    expect([unix.localAddress, unix.remoteAddress]).toEqual([{ transport: "unix", path: "/tmp/app.sock" }, undefined]);
  });
});
