// Declared capabilities are checked once, in the core, before any socket
// exists; unknown option keys are refused. A fake transport records whether it
// was reached, so each refusal is shown to happen before the adapter runs.
import { describe, expect, it } from "vitest";
import { checkStartTlsCapabilities } from "../src/capabilities.ts";
import { createNet } from "../src/net.ts";
import type { RawTlsClientOptions, RawTlsServerOptions } from "../src/tls.ts";
import type { Transport, TransportCapabilities } from "../src/transport.ts";

const PEM = "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n";
const KEY = "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n";

type Key = keyof TransportCapabilities;
const KEYS: Key[] = [
  "tls",
  "tlsOverUnix",
  "skipVerification",
  "clientCertificate",
  "requestCert",
  "clientStartTls",
  "serverStartTls",
  "keepAliveDelay",
  "reusePort",
  "ipv6Only",
  "backlog",
  "unixBacklog",
];

/** Every capability present, except `missing`, which is refused with a reason naming it. */
function capabilities(...missing: Key[]): TransportCapabilities {
  return Object.fromEntries(KEYS.map((k) => [k, missing.includes(k) ? `fake has no ${k}` : true])) as unknown as TransportCapabilities;
}

/** A transport that never opens anything: reaching it rejects with ECONNREFUSED, and is counted. */
function fakeNet(caps: TransportCapabilities) {
  const reached = { connect: 0, listen: 0 };
  const refused = () => Object.assign(new Error("refused"), { code: "ECONNREFUSED" });
  const transport: Transport = {
    name: "fake",
    capabilities: caps,
    connect: (_address, _options, sink) => (reached.connect++, sink.failed(refused())),
    listen: () => (reached.listen++, Promise.reject(Object.assign(new Error("in use"), { code: "EADDRINUSE" }))),
  };
  return { net: createNet(transport), reached };
}

const unsupported = (reason: string) => expect.objectContaining({ code: "ERR_UNSUPPORTED", message: expect.stringContaining(reason) });

describe("capabilities: connect", () => {
  const cases: Array<[Key, Parameters<ReturnType<typeof createNet>["connect"]>]> = [
    ["tls", ["db:5432", { tls: true }]],
    ["tlsOverUnix", [{ path: "/tmp/x.sock" }, { tls: { serverName: "db" } }]],
    ["skipVerification", ["db:5432", { tls: { rejectUnauthorized: false } }]],
    ["clientCertificate", ["db:5432", { tls: { cert: PEM, key: KEY } }]],
    ["keepAliveDelay", ["db:5432", { keepAlive: 30_000 }]],
  ];
  for (const [missing, [address, options]] of cases) {
    it(`refuses what needs ${missing} with the transport's reason, before connecting`, async () => {
      const { net, reached } = fakeNet(capabilities(missing));
      await expect(net.connect(address, options)).rejects.toEqual(unsupported(`fake has no ${missing}`));
      expect(reached.connect).toBe(0);
      // The same request reaches the transport once the capability is there.
      const able = fakeNet(capabilities());
      await expect(able.net.connect(address, options)).rejects.toMatchObject({ code: "ECONNREFUSED" });
      expect(able.reached.connect).toBe(1);
    });
  }

  it("keepAlive: true needs no delay capability", async () => {
    const { net, reached } = fakeNet(capabilities("keepAliveDelay"));
    await expect(net.connect("db:5432", { keepAlive: true })).rejects.toMatchObject({ code: "ECONNREFUSED" });
    expect(reached.connect).toBe(1);
  });
});

describe("capabilities: listen", () => {
  const cases: Array<[Key, Parameters<ReturnType<typeof createNet>["listen"]>[0]]> = [
    ["tls", { port: 0, tls: { cert: PEM, key: KEY } }],
    ["tlsOverUnix", { path: "/tmp/x.sock", tls: { cert: PEM, key: KEY } }],
    ["requestCert", { port: 0, tls: { cert: PEM, key: KEY, requestCert: true, ca: PEM } }],
    ["reusePort", { port: 0, reusePort: true }],
    ["ipv6Only", { hostname: "::", port: 0, ipv6Only: true }],
    ["backlog", { port: 0, backlog: 16 }],
    ["unixBacklog", { path: "/tmp/x.sock", backlog: 16 }],
    ["keepAliveDelay", { port: 0, keepAlive: 30_000 }],
  ];
  for (const [missing, options] of cases) {
    it(`refuses what needs ${missing} with the transport's reason, before binding`, async () => {
      const { net, reached } = fakeNet(capabilities(missing));
      await expect(net.listen(options, () => {})).rejects.toEqual(unsupported(`fake has no ${missing}`));
      expect(reached.listen).toBe(0);
      const able = fakeNet(capabilities());
      await expect(able.net.listen(options, () => {})).rejects.toMatchObject({ code: "EADDRINUSE" });
      expect(able.reached.listen).toBe(1);
    });
  }

  it("reusePort and ipv6Only are TCP-only on every transport", async () => {
    const { net, reached } = fakeNet(capabilities());
    await expect(net.listen({ path: "/tmp/x.sock", reusePort: true }, () => {})).rejects.toEqual(unsupported("TCP listeners"));
    await expect(net.listen({ path: "/tmp/x.sock", ipv6Only: true }, () => {})).rejects.toEqual(unsupported("TCP listeners"));
    expect(reached.listen).toBe(0);
  });
});

describe("capabilities: startTls", () => {
  const client: RawTlsClientOptions = { serverName: "db", ca: undefined, cert: undefined, key: undefined, alpn: undefined, rejectUnauthorized: true };
  const server: RawTlsServerOptions = { cert: PEM, key: KEY, alpn: undefined, requestCert: false, ca: undefined };
  const cases: Array<[Key, Parameters<typeof checkStartTlsCapabilities>[1], boolean]> = [
    ["tls", { isServer: false, client }, false],
    ["clientStartTls", { isServer: false, client }, false],
    ["serverStartTls", { isServer: true, server }, false],
    ["skipVerification", { isServer: false, client: { ...client, rejectUnauthorized: false } }, false],
    ["clientCertificate", { isServer: false, client: { ...client, cert: PEM, key: KEY } }, false],
    ["requestCert", { isServer: true, server: { ...server, requestCert: true, ca: [PEM] } }, false],
    ["tlsOverUnix", { isServer: false, client }, true],
  ];
  for (const [missing, options, overUnix] of cases) {
    it(`refuses an upgrade that needs ${missing}`, () => {
      expect(() => checkStartTlsCapabilities(capabilities(missing), options, overUnix)).toThrow(unsupported(`fake has no ${missing}`));
      expect(() => checkStartTlsCapabilities(capabilities(), options, overUnix)).not.toThrow();
    });
  }
});

describe("unknown option keys", () => {
  it("connect names a misspelt option and suggests the right one", async () => {
    const { net, reached } = fakeNet(capabilities());
    const options = { keepalive: true } as Parameters<typeof net.connect>[1];
    await expect(net.connect("db:5432", options)).rejects.toEqual(
      expect.objectContaining({ code: "ERR_INVALID_OPTION", message: expect.stringMatching(/"keepalive".*"keepAlive"/) }),
    );
    expect(reached.connect).toBe(0);
  });

  it("connect names an unknown key of the tls object", async () => {
    const { net, reached } = fakeNet(capabilities());
    const options = { tls: { rejectUnauthorised: false } } as Parameters<typeof net.connect>[1];
    await expect(net.connect("db:5432", options)).rejects.toEqual(
      expect.objectContaining({ code: "ERR_INVALID_OPTION", message: expect.stringContaining('"tls.rejectUnauthorised"') }),
    );
    const unrelated = { retries: 3 } as Parameters<typeof net.connect>[1];
    await expect(net.connect("db:5432", unrelated)).rejects.toEqual(
      expect.objectContaining({ code: "ERR_INVALID_OPTION", message: expect.stringMatching(/"retries".*known options: .*timeout/) }),
    );
    expect(reached.connect).toBe(0);
  });

  it("every documented option is accepted", async () => {
    const { net, reached } = fakeNet(capabilities());
    await expect(
      net.connect("db:5432", {
        noDelay: true,
        keepAlive: 30_000,
        allowHalfOpen: false,
        borrowedChunks: false,
        maxBufferedBytes: 1 << 20,
        timeout: 1000,
        signal: new AbortController().signal,
        tls: { serverName: "db", ca: PEM, cert: PEM, key: KEY, alpn: ["h2"], rejectUnauthorized: true },
      }),
    ).rejects.toMatchObject({ code: "ECONNREFUSED" });
    expect(reached.connect).toBe(1);
  });
});
