// TLS on every runtime: verification, ALPN, mutual TLS, STARTTLS, bulk data and
// foreign peers (the openssl CLI). Certificates come from test/helpers/certs.ts.
import { spawn } from "node:child_process";
import { describe, expect, it } from "vitest";
import { NetError, type Connection } from "../src/mod.ts";
import type { TlsServerOptions } from "../src/tls.ts";
import { patternBytes, sha256, readAll } from "./helpers/bytes.ts";
import { testCerts, type KeyPair } from "./helpers/certs.ts";
import { connect, delay, listen, portOf, reconnecting, runtime } from "./helpers/runtime.ts";
import { startFixture } from "./helpers/spawn.ts";
import { until } from "./helpers/until.ts";

const certs = testCerts();
const decoder = new TextDecoder();

function serverTls(pair: KeyPair, extra: Partial<TlsServerOptions> = {}): TlsServerOptions {
  return { cert: pair.cert, key: pair.key, ...extra };
}

async function tlsEchoServer(pair: KeyPair = certs.server, extra: Partial<TlsServerOptions> = {}, seen?: (conn: Connection) => void) {
  return listen({ hostname: "127.0.0.1", port: 0, tls: serverTls(pair, extra) }, async (conn) => {
    seen?.(conn);
    for await (const chunk of conn) await conn.write(chunk);
  });
}

/** Reads until `text` has arrived; leaves the connection open. */
async function readUntil(conn: Connection, text: string): Promise<string> {
  let seen = "";
  for await (const chunk of conn) {
    seen += decoder.decode(chunk);
    if (seen.includes(text)) return seen;
  }
  throw new Error(`closed before "${text}" arrived (got "${seen}")`);
}

async function roundTrip(conn: Connection, text: string): Promise<string> {
  await conn.write(text);
  return readUntil(conn, text);
}

const trusted = { ca: certs.ca, serverName: "localhost" };

describe(`TLS client verification (${runtime})`, () => {
  it("connects to a server with a good certificate and reports the session", async () => {
    await using server = await tlsEchoServer();
    await using conn = await connect(`127.0.0.1:${portOf(server.address)}`, { tls: trusted });
    expect(await roundTrip(conn, "hello over tls")).toBe("hello over tls");
    expect(conn.tls?.authorized).toBe(true);
    if (runtime === "deno") {
      // Deno reports neither the protocol version nor certificates.
      expect(conn.tlsVersion).toBeUndefined();
      expect(conn.peerCertificate).toBeUndefined();
    } else {
      expect(conn.tlsVersion).toMatch(/^TLSv1\.[23]$/);
      const cert = conn.peerCertificate!;
      expect(cert.subject).toBe("CN=localhost");
      expect(cert.issuer).toBe("CN=ca");
      expect(cert.fingerprint256).toMatch(/^([0-9A-F]{2}:){31}[0-9A-F]{2}$/);
      expect(cert.validTo.getTime()).toBeGreaterThan(Date.now());
      expect(cert.validFrom.getTime()).toBeLessThan(Date.now());
    }
  });

  // Deno 2 keeps the TCP socket of a TLS conn closed while its handshake is pending (probed on 2.9.6: the peer
  // sees no close for 30 s, until it sends a byte or leaves; closing the conn only interrupts handshake()). No
  // public call releases it: close(), closeWrite(), cancelling its streams, closing the TCP conn that
  // Deno.startTls consumed (BadResource). The release is Deno's to fix.
  it.skipIf(runtime === "deno")("a connect that times out during the handshake rejects with ETIMEDOUT and releases its socket at once", async () => {
    // A plain server that accepts and never answers the ClientHello: the TCP connect succeeds, the handshake stalls.
    let peerClosed = false;
    await using server = await listen({ hostname: "127.0.0.1", port: 0 }, async (conn) => {
      for await (const _ of conn);
      peerClosed = true;
    });
    const error = await connect(`127.0.0.1:${portOf(server.address)}`, { tls: trusted, timeout: 300 }).catch((e: unknown) => e);
    expect(error).toMatchObject({ code: "ETIMEDOUT" });
    // The server's handshake wait is far longer: only the client's release ends the server's read.
    await until(() => peerClosed, "the server to see the abandoned client's socket close", 5000);
  });

  it("verifies the IP address when no serverName is given (the host dialled is the default)", async () => {
    await using server = await tlsEchoServer();
    await using conn = await connect(`127.0.0.1:${portOf(server.address)}`, { tls: { ca: certs.ca } });
    expect(await roundTrip(conn, "ip")).toBe("ip");
  });

  const refused: Array<[string, KeyPair]> = [
    ["an unknown CA", certs.unknownCa],
    ["a wrong host name", certs.wrongHost],
    ["an expired certificate", certs.expired],
  ];
  for (const [what, pair] of refused) {
    it(`rejects ${what} with ERR_TLS_CERT`, async () => {
      let handled = false;
      await using server = await tlsEchoServer(pair, {}, () => (handled = true));
      const err = await connect(`127.0.0.1:${portOf(server.address)}`, { tls: trusted }).catch((e) => e);
      expect(err).toBeInstanceOf(NetError);
      expect(err.code).toBe("ERR_TLS_CERT");
      expect(err.message).toContain(`127.0.0.1:${portOf(server.address)}`);
      expect(err.cause).toBeDefined();
      expect(handled).toBe(false);
    });
  }

  it("rejects by default against the runtime's roots (the test CA is not trusted unless given)", async () => {
    await using server = await tlsEchoServer();
    const err = await connect(`localhost:${portOf(server.address)}`, { tls: true }).catch((e) => e);
    expect(err.code).toBe("ERR_TLS_CERT");
  });

  it("rejectUnauthorized: false accepts an unverifiable certificate where the runtime allows it", async () => {
    await using server = await tlsEchoServer(certs.unknownCa);
    const result = await connect(`127.0.0.1:${portOf(server.address)}`, { tls: { ...trusted, rejectUnauthorized: false } }).catch((e) => e);
    if (runtime === "deno") {
      expect(result).toBeInstanceOf(NetError);
      expect(result.code).toBe("ERR_UNSUPPORTED");
      expect(result.message).toContain("rejectUnauthorized");
      return;
    }
    await using conn = result as Connection;
    expect(conn.tls?.authorized).toBe(false);
    expect(await roundTrip(conn, "anyway")).toBe("anyway");
  });

  it("refuses malformed TLS options before connecting", async () => {
    await expect(connect("127.0.0.1:1", { tls: { ca: "not a pem" } })).rejects.toMatchObject({ code: "ERR_INVALID_OPTION" });
    await expect(connect("127.0.0.1:1", { tls: { cert: certs.client.cert } })).rejects.toMatchObject({ code: "ERR_INVALID_OPTION" });
    await expect(connect("127.0.0.1:1", { tls: { alpn: [] } })).rejects.toMatchObject({ code: "ERR_INVALID_OPTION" });
    await expect(listen({ port: 0, tls: { cert: certs.server.cert } as TlsServerOptions }, () => {})).rejects.toMatchObject({ code: "ERR_INVALID_OPTION" });
  });
});

describe(`TLS features (${runtime})`, () => {
  it("negotiates ALPN: both sides see the protocol", async () => {
    let serverSaw: string | undefined;
    await using server = await tlsEchoServer(certs.server, { alpn: ["h2", "wl/1"] }, (conn) => (serverSaw = conn.alpnProtocol));
    await using conn = await connect(`127.0.0.1:${portOf(server.address)}`, { tls: { ...trusted, alpn: ["wl/1", "other"] } });
    expect(conn.alpnProtocol).toBe("wl/1");
    expect(await roundTrip(conn, "x")).toBe("x");
    expect(serverSaw).toBe("wl/1");
  });

  it("mutual TLS: the handler sees the client's certificate", async () => {
    const options = { hostname: "127.0.0.1", port: 0, tls: serverTls(certs.server, { requestCert: true, ca: certs.ca }) };
    // The default server name (the IP dialled, in the certificate too): Deno sends a client certificate only through connectTls, which verifies the host it dials.
    const clientTls = { ca: certs.ca, cert: certs.client.cert, key: certs.client.key };
    if (runtime === "deno") {
      // Deno.listenTls cannot request client certificates; Deno's client side is checked against a Node server.
      await expect(listen(options, () => {})).rejects.toMatchObject({ code: "ERR_UNSUPPORTED", message: expect.stringContaining("requestCert") });
      const peer = await startFixture("node", "test/fixtures/tls-server.ts", ["mtls", certs.dir]);
      try {
        await using conn = await connect(`127.0.0.1:${peer.firstLine}`, { tls: clientTls });
        expect(await readUntil(conn, "\n")).toBe("peer CN=wireline-client\n");
      } finally {
        await peer.stop();
      }
      return;
    }
    let subject: string | undefined;
    let authorized: boolean | undefined;
    await using server = await listen(options, async (conn) => {
      subject = conn.peerCertificate?.subject;
      authorized = conn.tls?.authorized;
      for await (const chunk of conn) await conn.write(chunk);
    });
    await using conn = await connect(`127.0.0.1:${portOf(server.address)}`, { tls: clientTls });
    expect(await roundTrip(conn, "mutual")).toBe("mutual");
    expect(subject).toBe("CN=wireline-client");
    expect(authorized).toBe(true);
  });

  it("STARTTLS: a plain-text greeting, then both sides upgrade the same connection", async () => {
    let serverOutcome: unknown;
    await using server = await listen({ hostname: "127.0.0.1", port: 0 }, async (conn) => {
      await conn.write("220 ready\r\n");
      await readUntil(conn, "STARTTLS\r\n");
      await conn.write("220 go ahead\r\n");
      try {
        const secure = await conn.startTls({ isServer: true, cert: certs.server.cert, key: certs.server.key });
        serverOutcome = secure.tls ? "tls" : "plain";
        for await (const chunk of secure) await secure.write(chunk);
      } catch (error) {
        serverOutcome = error;
      }
    });
    if (runtime === "deno") {
      // Deno.startTls is client-only: the server side says so instead of hanging.
      const conn = await connect(`127.0.0.1:${portOf(server.address)}`);
      await readUntil(conn, "220 ready");
      await conn.write("STARTTLS\r\n");
      await readUntil(conn, "220 go ahead\r\n");
      await conn.closed;
      expect(serverOutcome).toBeInstanceOf(NetError);
      expect((serverOutcome as NetError).code).toBe("ERR_UNSUPPORTED");
      expect((serverOutcome as NetError).message).toContain("client-only");
    }
    // The client side on every runtime; Deno talks to a Node STARTTLS server.
    const peer = runtime === "deno" ? await startFixture("node", "test/fixtures/tls-server.ts", ["starttls", certs.dir]) : undefined;
    try {
      const port = peer ? Number(peer.firstLine) : portOf(server.address);
      const plain = await connect(`127.0.0.1:${port}`);
      expect(plain.tls).toBeUndefined();
      expect(await readUntil(plain, "\r\n")).toMatch(/^220 .*ready\r\n$/);
      await plain.write("STARTTLS\r\n");
      expect(await readUntil(plain, "\r\n")).toBe("220 go ahead\r\n");
      const secure = await plain.startTls(trusted);
      expect(secure.tls?.authorized).toBe(true);
      expect(await roundTrip(secure, "now encrypted")).toBe("now encrypted");
      // The plain connection is spent; using it says why.
      const late = await plain.write("x").catch((e) => e);
      expect(late).toBeInstanceOf(NetError);
      expect(late.code).toBe("ERR_SOCKET_CLOSED");
      expect(late.message).toContain("upgraded");
      await expect(plain.startTls(trusted)).rejects.toMatchObject({ code: "ERR_SOCKET_CLOSED" });
      await expect(plain[Symbol.asyncIterator]().next()).rejects.toMatchObject({ code: "ERR_SOCKET_CLOSED" });
      // Closing the old object closes the socket it handed over.
      await plain.close();
      expect(secure.isClosed).toBe(true);
      if (runtime !== "deno") expect(serverOutcome).toBe("tls");
    } finally {
      await peer?.stop();
    }
  });

  it("STARTTLS refuses to upgrade over unread plain-text bytes (they could be injected)", async () => {
    const reply = "220 go ahead\r\nINJECTED\r\n";
    await using server = await listen({ hostname: "127.0.0.1", port: 0 }, async (conn) => {
      await conn.write(reply);
      await conn.closed;
    });
    const conn = await connect(`127.0.0.1:${portOf(server.address)}`);
    for (let i = 0; i < 400 && conn.bytesRead < reply.length; i++) await delay(5);
    expect(conn.bytesRead).toBe(reply.length);
    const err = await conn.startTls(trusted).catch((e) => e);
    expect(err).toBeInstanceOf(NetError);
    expect(err.code).toBe("ERR_TLS");
    expect(err.message).toContain("unread plain-text");
    // Nothing was touched: the bytes are still there to read.
    expect(await readUntil(conn, "INJECTED")).toBe(reply);
    conn.destroy();
  });

  it("carries 64 MiB over TLS intact (SHA-256 match)", async () => {
    await using server = await tlsEchoServer();
    const conn = await connect(`127.0.0.1:${portOf(server.address)}`, { tls: trusted });
    const data = patternBytes(64 * 1024 * 1024, 9);
    const writing = (async () => {
      for (let at = 0; at < data.length; at += 64 * 1024) await conn.write(data.subarray(at, at + 64 * 1024));
      conn.end();
    })();
    const received = await readAll(conn);
    await writing;
    expect(received.length).toBe(data.length);
    expect(await sha256(received)).toBe(await sha256(data));
    expect(await conn.closed).toBeUndefined();
  }, 60_000);

  it("borrowed chunks over TLS: a reader that uses each chunk before the next step gets every byte intact", async () => {
    // TLS reads bring one record at a time, so several chunks share one read buffer before it is lent again.
    const data = patternBytes(16 * 1024 * 1024, 3);
    await using server = await listen({ hostname: "127.0.0.1", port: 0, tls: serverTls(certs.server) }, async (conn) => {
      for (let at = 0; at < data.length; at += 64 * 1024) await conn.write(data.subarray(at, at + 64 * 1024));
      conn.end();
    });
    const conn = await connect(`127.0.0.1:${portOf(server.address)}`, { tls: trusted, borrowedChunks: true });
    const received = new Uint8Array(data.length);
    let at = 0;
    let steps = 0;
    for await (const chunk of conn) {
      if (steps++ % 3 === 0) await delay(1);
      received.set(chunk, at);
      at += chunk.length;
    }
    expect(at).toBe(data.length);
    expect(await sha256(received)).toBe(await sha256(data));
  }, 60_000);
});

/** Runs the openssl CLI; resolves with its stdout once it exits (bounded). */
function opensslRun(args: string[], input?: string, onStdout?: (text: string) => void): { done: Promise<string>; kill(): void } {
  const child = spawn("openssl", args, { stdio: ["pipe", "pipe", "pipe"] });
  let out = "";
  child.stdout!.on("data", (d: Uint8Array) => {
    out += decoder.decode(d);
    onStdout?.(out);
  });
  child.stderr!.on("data", () => {});
  if (input !== undefined) child.stdin!.write(input);
  const timer = setTimeout(() => child.kill("SIGKILL"), 15_000);
  const done = new Promise<string>((resolve) =>
    child.on("exit", () => {
      clearTimeout(timer);
      resolve(out);
    }),
  );
  return { done, kill: () => child.kill("SIGTERM") };
}

describe(`TLS with a foreign peer: the openssl CLI (${runtime})`, () => {
  it("our client against openssl s_server", async () => {
    let announce!: (port: number) => void;
    const announced = new Promise<number>((r) => (announce = r));
    const server = opensslRun(
      ["s_server", "-accept", "127.0.0.1:0", "-cert", certs.server.certFile, "-key", certs.server.keyFile, "-naccept", "1", "-rev", "-alpn", "wl/1"],
      undefined,
      (out) => {
        const m = /ACCEPT\s+\S*:(\d+)/.exec(out);
        if (m) announce(Number(m[1]));
      },
    );
    try {
      const port = await announced;
      await using conn = await connect(`127.0.0.1:${port}`, { tls: { ...trusted, alpn: ["wl/1"] } });
      expect(conn.alpnProtocol).toBe("wl/1");
      await conn.write("wireline\n");
      expect(await readUntil(conn, "\n")).toContain("enileriw");
    } finally {
      server.kill();
      await server.done;
    }
  });

  it("openssl s_client against our server", async () => {
    await using server = await tlsEchoServer(certs.server, { alpn: ["wl/1"] });
    const client = opensslRun(
      ["s_client", "-connect", `127.0.0.1:${portOf(server.address)}`, "-CAfile", certs.caFile, "-servername", "localhost", "-verify_return_error", "-alpn", "wl/1", "-quiet"],
      "echo me\n",
      (out) => {
        if (out.includes("echo me\n")) client.kill();
      },
    );
    expect(await client.done).toBe("echo me\n");
  });
});

describe(`TLS with the reconnecting client (${runtime})`, () => {
  it("treats a certificate failure as fatal: one attempt, then closed with ERR_TLS_CERT", async () => {
    await using server = await tlsEchoServer(certs.unknownCa);
    const client = reconnecting(`127.0.0.1:${portOf(server.address)}`, { tls: trusted, backoff: { initial: 10, max: 20 } });
    let attempts = 0;
    client.on("reconnecting", () => attempts++);
    const closedWith = await client.closed;
    expect(closedWith?.code).toBe("ERR_TLS_CERT");
    expect(client.state).toBe("closed");
    expect(attempts).toBe(0);
    await expect(client.write("late")).rejects.toBeInstanceOf(NetError);
  });

  it("keeps a verified TLS connection and echoes through it", async () => {
    await using server = await tlsEchoServer();
    const client = reconnecting(`127.0.0.1:${portOf(server.address)}`, { tls: trusted });
    await client.write("over tls, reconnecting");
    let got = "";
    for await (const chunk of client) {
      got += decoder.decode(chunk);
      if (got.length >= "over tls, reconnecting".length) break;
    }
    expect(got).toBe("over tls, reconnecting");
    await client.close();
  });
});
