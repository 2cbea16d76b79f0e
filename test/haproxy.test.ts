// The PROXY protocol against a real HAProxy (issue 15): `send-proxy` and `send-proxy-v2` in front of a
// wireline server, and wireline's own `proxyHeader` accepted by HAProxy's `accept-proxy` and relayed on.
// The same file runs on Node, Deno and Bun.
import { spawn, type ChildProcess } from "node:child_process";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Connection } from "../src/connection.ts";
import type { ProxyInfo } from "../src/proxy-protocol/types.ts";
import { listenWith, type Server } from "../src/server/server.ts";
import type { Transport } from "../src/transport.ts";
import type { SocketAddress } from "../src/address.ts";
import { testCerts } from "./helpers/certs.ts";
import { firstDifference, patternBytes, readAll } from "./helpers/bytes.ts";
import { connect, delay, listen, portOf, runtime, transport } from "./helpers/runtime.ts";

/** The peer may reset instead of closing: what came before is the answer. */
const readUntilEnd = (conn: Connection): Promise<Uint8Array> => readAll(conn, { untilReset: true });

const HAPROXY = ["/usr/sbin/haproxy", "/usr/local/sbin/haproxy", "/usr/bin/haproxy"].find((path) => existsSync(path));
const HOST = "127.0.0.1";
// Where the server can start TLS after the header (see proxy-protocol-server.test.ts): Node's adapter.
const TLS_AFTER_HEADER = transport.capabilities.proxyProtocolWithTls === true;

/** A free TCP port on loopback (bound, read, released). */
async function freePort(): Promise<number> {
  const probe = await listen({ hostname: HOST, port: 0 }, (conn) => conn.close());
  const port = portOf(probe.address);
  await probe.close({ timeout: 0 });
  return port;
}

/** Every byte until EOF; a reset ends it too. */
interface Seen {
  readonly remoteAddress: SocketAddress | undefined;
  readonly proxy: ProxyInfo | undefined;
  readonly data: Uint8Array;
}

describe.skipIf(!HAPROXY)(`PROXY protocol with a real HAProxy${HAPROXY ? "" : " (skipped: haproxy is not installed)"}`, () => {
  let dir: string;
  let haproxy: ChildProcess | undefined;
  let server: Server;
  let tlsServer: Server | undefined;
  const seen: Seen[] = [];
  const ports = { probe: 0, v1: 0, v2: 0, acceptV1: 0, acceptV2: 0, tls: 0 };

  beforeAll(async () => {
    // Only HAProxy (on loopback) may send headers; it echoes after reading to EOF.
    server = await listen({ hostname: HOST, port: 0, allowHalfOpen: true, proxyProtocol: { trusted: ["127.0.0.1"], timeout: 10_000 } }, async (conn) => {
      const data = await readUntilEnd(conn);
      seen.push({ remoteAddress: conn.remoteAddress, proxy: conn.proxy, data });
      await conn.write(data);
    });
    const backend = `${HOST}:${portOf(server.address)}`;
    let tlsSections: () => string[] = () => [];
    if (TLS_AFTER_HEADER) {
      const certs = testCerts();
      const able: Transport = { ...transport, capabilities: { ...transport.capabilities, proxyProtocolWithTls: true } };
      tlsServer = await listenWith(able, { hostname: HOST, port: 0, allowHalfOpen: true, tls: { cert: certs.server.cert, key: certs.server.key }, proxyProtocol: { trusted: ["127.0.0.1"] } }, async (conn) => {
        const data = await readUntilEnd(conn);
        seen.push({ remoteAddress: conn.remoteAddress, proxy: conn.proxy, data });
        await conn.write(data);
      });
      // HAProxy speaks TLS to the server, after the v2 header: plain client in, TLS out.
      const tlsBackend = `${HOST}:${portOf(tlsServer.address)}`;
      tlsSections = () => ["listen tls_out", `  bind ${HOST}:${ports.tls}`, `  server s1 ${tlsBackend} send-proxy-v2 ssl verify required ca-file ${certs.caFile} sni str(localhost)`];
    }
    for (const key of Object.keys(ports) as (keyof typeof ports)[]) ports[key] = await freePort();
    dir = mkdtempSync(join(tmpdir(), "wireline-haproxy-"));
    const cfg = join(dir, "haproxy.cfg");
    writeFileSync(
      cfg,
      [
        "global",
        "  maxconn 200",
        "defaults",
        "  mode tcp",
        "  timeout connect 5s",
        "  timeout client 30s",
        "  timeout server 30s",
        // Accepts and drops: once it answers, every listener is bound.
        "listen probe",
        `  bind ${HOST}:${ports.probe}`,
        "  tcp-request connection reject",
        "listen v1",
        `  bind ${HOST}:${ports.v1}`,
        `  server s1 ${backend} send-proxy`,
        "listen v2",
        `  bind ${HOST}:${ports.v2}`,
        "  unique-id-format wireline-%ci-%cp",
        `  server s1 ${backend} send-proxy-v2 proxy-v2-options crc32c,unique-id`,
        // wireline's proxyHeader in, HAProxy's v2 header out: what reaches the server is what the client claimed.
        "listen accept_v1",
        `  bind ${HOST}:${ports.acceptV1} accept-proxy`,
        `  server s1 ${backend} send-proxy-v2`,
        "listen accept_v2",
        `  bind ${HOST}:${ports.acceptV2} accept-proxy`,
        `  server s1 ${backend} send-proxy`,
        ...tlsSections(),
        "",
      ].join("\n"),
    );
    let output = "";
    const child = spawn(HAPROXY!, ["-f", cfg, "-db"], { stdio: ["ignore", "pipe", "pipe"] });
    haproxy = child;
    child.stdout!.on("data", (d: Uint8Array) => (output += new TextDecoder().decode(d)));
    child.stderr!.on("data", (d: Uint8Array) => (output += new TextDecoder().decode(d)));
    const deadline = Date.now() + 10_000;
    for (;;) {
      if (child.exitCode !== null) throw new Error(`haproxy exited with ${child.exitCode}: ${output}`);
      try {
        const probe = await connect({ hostname: HOST, port: ports.probe }, { timeout: 1000 });
        await readUntilEnd(probe);
        break;
      } catch {
        if (Date.now() > deadline) throw new Error(`haproxy did not listen within 10 s: ${output}`);
        await delay(50);
      }
    }
  }, 20_000);

  afterAll(async () => {
    const child = haproxy;
    if (child && child.exitCode === null && child.signalCode === null) {
      const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
      child.kill("SIGKILL");
      await exited;
    }
    await server?.close({ timeout: 1000 });
    await tlsServer?.close({ timeout: 1000 });
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  /** Sends `payload` through HAProxy's `port`, reads the echo, and returns what the server saw. */
  async function roundTrip(port: number, payload: Uint8Array, options?: Parameters<typeof connect>[1]): Promise<{ conn: Connection; echoed: Uint8Array; seen: Seen }> {
    const before = seen.length;
    const conn = await connect({ hostname: HOST, port }, options);
    await conn.write(payload);
    conn.end();
    const echoed = await readUntilEnd(conn);
    expect(seen.length).toBe(before + 1);
    return { conn, echoed, seen: seen[before]! };
  }

  it("send-proxy (v1): the server sees the client's address, HAProxy as `via`, and the data intact", async () => {
    const payload = patternBytes(200_000, 3);
    const { conn, echoed, seen: s } = await roundTrip(ports.v1, payload);
    const client = conn.localAddress as { hostname: string; port: number };
    expect(s.proxy).toMatchObject({ version: 1, command: "PROXY", protocol: "TCP4" });
    expect(s.remoteAddress).toEqual({ transport: "tcp", hostname: client.hostname, port: client.port, family: "IPv4" });
    expect(s.proxy?.destination).toMatchObject({ hostname: HOST, port: ports.v1 });
    expect(s.proxy?.via).toMatchObject({ hostname: HOST });
    expect((s.proxy?.via as { port: number }).port).not.toBe(client.port);
    expect(firstDifference(s.data, payload)).toBe(-1);
    expect(firstDifference(echoed, payload)).toBe(-1);
  });

  it("send-proxy-v2 with CRC32C and a unique id: the server sees the client and the TLVs", async () => {
    const { conn, echoed, seen: s } = await roundTrip(ports.v2, new TextEncoder().encode("over v2"));
    const client = conn.localAddress as { hostname: string; port: number };
    expect(s.proxy).toMatchObject({ version: 2, command: "PROXY", protocol: "TCP4" });
    expect(s.remoteAddress).toMatchObject({ hostname: client.hostname, port: client.port });
    expect(s.proxy?.tlvs.all.map((t) => t.type)).toContain(0x03); // checked by the parser, or the connection would have been refused
    expect(new TextDecoder().decode(s.proxy?.tlvs.uniqueId)).toBe(`wireline-${client.hostname}-${client.port}`);
    expect(new TextDecoder().decode(echoed)).toBe("over v2");
    expect(server.stats.proxyProtocolErrors).toBe(0);
  });

  for (const [version, key] of [[1, "acceptV1"], [2, "acceptV2"]] as const) {
    it(`connect({ proxyHeader: v${version} }) is accepted by HAProxy's accept-proxy and relayed to the server`, async () => {
      const source = { hostname: "203.0.113.9", port: 51000 + version };
      const destination = { hostname: "198.51.100.1", port: 443 };
      const { echoed, seen: s } = await roundTrip(ports[key], new TextEncoder().encode(`claimed v${version}`), { proxyHeader: { version, source, destination } });
      expect(s.remoteAddress).toEqual({ transport: "tcp", family: "IPv4", ...source });
      expect(s.proxy?.destination).toMatchObject(destination);
      expect(new TextDecoder().decode(echoed)).toBe(`claimed v${version}`);
    });
  }

  it.skipIf(!TLS_AFTER_HEADER)("send-proxy-v2 ssl: a TLS server behind HAProxy reads the header, then the handshake", async () => {
    const { conn, echoed, seen: s } = await roundTrip(ports.tls, new TextEncoder().encode("via TLS"));
    const client = conn.localAddress as { hostname: string; port: number };
    expect(s.remoteAddress).toMatchObject({ hostname: client.hostname, port: client.port });
    expect(s.proxy).toMatchObject({ version: 2, command: "PROXY" });
    expect(new TextDecoder().decode(echoed)).toBe("via TLS");
    expect(tlsServer!.stats).toMatchObject({ totalConnections: 1, handshakeFailures: 0 });
  });
});
