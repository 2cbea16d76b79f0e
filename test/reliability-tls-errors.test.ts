// Issue 11: the same TLS failure gets the same code on every runtime.
// ERR_TLS_CERT means "the certificate was refused" and is final (a reconnecting
// client gives up on it); ERR_TLS is any other handshake failure (a peer that
// does not speak TLS, one that hangs up, a refused client), which may be retried.
import { describe, expect, it } from "vitest";
import { NetError, type Server } from "../src/mod.ts";
import type { TlsClientOptions } from "../src/tls.ts";
import { testCerts, type KeyPair } from "./helpers/certs.ts";
import { connect, delay, listen, portOf, reconnecting, runtime, transport } from "./helpers/runtime.ts";
import { startFixture, type Fixture } from "./helpers/spawn.ts";

const certs = testCerts();
const trusted: TlsClientOptions = { ca: certs.ca, serverName: "localhost" };

/** How a TLS client's attempt ended: the connect's rejection, or the first failure of a connection that opened. */
async function outcome(port: number, tls: TlsClientOptions): Promise<NetError | string> {
  const conn = await connect(`127.0.0.1:${port}`, { tls, timeout: 5_000 }).catch((e: unknown) => e);
  if (conn instanceof NetError) return conn;
  if (!(conn && typeof conn === "object" && "closed" in conn)) return `not a NetError: ${String(conn)}`;
  const opened = conn as Awaited<ReturnType<typeof connect>>;
  try {
    // The peer hangs up after refusing us: the read ends by itself, bounded anyway.
    const ended = (async () => {
      for await (const _ of opened);
      return (await opened.closed) ?? "closed cleanly";
    })().catch((e: unknown) => e as NetError);
    return await Promise.race([ended, delay(5_000).then(() => "still open after 5 s")]);
  } finally {
    opened.destroy();
  }
}

function tlsServer(pair: KeyPair): Promise<Server> {
  return listen({ hostname: "127.0.0.1", port: 0, tls: { cert: pair.cert, key: pair.key } }, async (conn) => {
    for await (const chunk of conn) await conn.write(chunk);
  });
}

interface Case {
  readonly what: string;
  readonly code: "ERR_TLS" | "ERR_TLS_CERT";
  readonly serve: () => Promise<Server>;
  /** Words the message must contain (it names the problem). */
  readonly names: RegExp;
}

const cases: Case[] = [
  {
    what: "a plain-text server answering the ClientHello with a banner",
    code: "ERR_TLS",
    names: /TLS/,
    serve: () =>
      listen({ hostname: "127.0.0.1", port: 0 }, async (conn) => {
        await conn.write("220 plain-text banner, not TLS\r\n");
        for await (const _ of conn);
      }),
  },
  {
    what: "a server that closes at once",
    code: "ERR_TLS",
    names: /TLS/,
    serve: () => listen({ hostname: "127.0.0.1", port: 0 }, (conn) => conn.close()),
  },
  {
    what: "a server that resets at once",
    code: "ERR_TLS",
    names: /TLS/,
    serve: () => listen({ hostname: "127.0.0.1", port: 0 }, (conn) => conn.destroy()),
  },
  { what: "a certificate from an unknown CA", code: "ERR_TLS_CERT", names: /certificate/, serve: () => tlsServer(certs.unknownCa) },
  { what: "a certificate for another host name", code: "ERR_TLS_CERT", names: /certificate/, serve: () => tlsServer(certs.wrongHost) },
  { what: "an expired certificate", code: "ERR_TLS_CERT", names: /certificate/, serve: () => tlsServer(certs.expired) },
];

describe(`TLS failures have one code per cause (${runtime})`, () => {
  for (const c of cases) {
    it(`${c.code} for ${c.what}`, async () => {
      await using server = await c.serve();
      const port = portOf(server.address);
      const result = await outcome(port, trusted);
      expect(result).toBeInstanceOf(NetError);
      const err = result as NetError;
      expect(err.code).toBe(c.code);
      expect(err.message).toMatch(c.names);
      expect(err.message).toContain(`127.0.0.1:${port}`);
    });
  }

  it("ERR_TLS for a client without a certificate at a requestCert server, which counts the failure", async () => {
    const ownServer = transport.capabilities.requestCert === true;
    // Deno cannot request client certificates: its client is checked against a Node server.
    const peer: Fixture | undefined = ownServer ? undefined : await startFixture("node", "test/fixtures/tls-server.ts", ["mtls", certs.dir]);
    const serverErrors: string[] = [];
    const server = ownServer
      ? await listen({ hostname: "127.0.0.1", port: 0, tls: { cert: certs.server.cert, key: certs.server.key, requestCert: true, ca: certs.ca } }, async (conn) => {
          for await (const chunk of conn) await conn.write(chunk);
        })
      : undefined;
    server?.on("tlsError", ({ error }) => serverErrors.push(error.code));
    try {
      const port = server ? portOf(server.address) : Number(peer!.firstLine);
      // TLS 1.3: the client's handshake completes before the server checks for a certificate, so
      // the refusal may arrive after connect() resolved; either way it must surface as ERR_TLS.
      const result = await outcome(port, trusted);
      expect(result).toBeInstanceOf(NetError);
      expect((result as NetError).code).toBe("ERR_TLS");
      if (server) {
        for (let i = 0; i < 200 && server.stats.handshakeFailures === 0; i++) await delay(10);
        expect(server.stats.handshakeFailures).toBe(1);
        expect(server.stats.totalConnections).toBe(0);
        expect(serverErrors).toEqual(["ERR_TLS"]);
      }
    } finally {
      await server?.close();
      await peer?.stop();
    }
  });

  it("a reconnecting client keeps retrying a peer that is not speaking TLS (ERR_TLS is not final)", async () => {
    await using server = await cases[0]!.serve();
    const client = reconnecting(`127.0.0.1:${portOf(server.address)}`, { tls: trusted, backoff: { initial: 10, max: 20 } });
    const codes: string[] = [];
    const gaveUp = client.closed.then((error) => `gave up with ${error?.code}`);
    const retried = new Promise<string>((resolve) =>
      client.on("reconnecting", ({ error }) => {
        if (codes.push(error.code) === 3) resolve("retried");
      }),
    );
    expect(await Promise.race([retried, gaveUp])).toBe("retried");
    expect(codes).toEqual(["ERR_TLS", "ERR_TLS", "ERR_TLS"]);
    await client.close();
  });
});
