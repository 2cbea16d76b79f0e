// A TLS server must notice at once a client that connects and leaves before its ClientHello: its
// place is held, and counted as handshaking, only while a handshake can still happen. Plain TCP
// clients connect to a TLS server whose handshakeTimeout (30 s) is far beyond the test's wait, and
// close without a byte; each must end as a handshake failure (ERR_TLS, reported by tlsError), not
// wait for the timeout. Server-side STARTTLS has the same wait, with no timeout of its own. The same
// file runs on Node, Deno and Bun.
import { describe, expect, it } from "vitest";
import type { Connection, NetError } from "../src/mod.ts";
import type { Server, ServerEvents } from "../src/server/server.ts";
import { testCerts } from "./helpers/certs.ts";
import { connect, delay, listen, portOf, runtime, transport } from "./helpers/runtime.ts";
import { until } from "./helpers/until.ts";

const HOST = "127.0.0.1";
const N = 8;
const HANDSHAKE_TIMEOUT = 30_000;

function collect<K extends keyof ServerEvents>(server: Server, type: K): ServerEvents[K][] {
  const seen: ServerEvents[K][] = [];
  server.on(type, (e) => seen.push(e));
  return seen;
}

describe(`TLS clients that leave before their ClientHello (${runtime})`, () => {
  it(`${N} plain TCP clients connect and close without a byte: each is a handshake failure at once, not at handshakeTimeout`, async () => {
    const certs = testCerts();
    let handled = 0;
    await using server = await listen({ hostname: HOST, port: 0, tls: { cert: certs.server.cert, key: certs.server.key }, handshakeTimeout: HANDSHAKE_TIMEOUT }, () => {
      handled++;
    });
    const tlsErrors = collect(server, "tlsError");
    const port = portOf(server.address);
    const clients: Connection[] = [];
    for (let i = 0; i < N; i++) clients.push(await connect({ hostname: HOST, port }));
    // Every client is the server's before any leaves, so that a leave cannot be mistaken for a lost accept.
    await until(() => server.stats.handshakingConnections === N, () => `${N} handshaking connections (got ${server.stats.handshakingConnections})`, 5000);
    // Half send a FIN through a graceful close, half drop the socket: neither sent a byte.
    await Promise.all(clients.map((c, i) => (i % 2 === 0 ? c.close() : c.destroy())));
    const stats = (): string => JSON.stringify(server.stats);

    await until(() => server.stats.handshakeFailures === N, () => `${N} handshake failures within 5 s of the clients leaving (stats ${stats()})`, 5000);
    expect(server.stats).toMatchObject({ handshakingConnections: 0, handshakeFailures: N, handshakeTimeouts: 0, currentConnections: 0, totalConnections: 0 });
    expect(tlsErrors.map((e) => e.error.code)).toEqual(Array(N).fill("ERR_TLS"));
    // Each runtime words the cause its own way (Deno: "unexpected end of file", Bun: "socket disconnected").
    for (const { error } of tlsErrors) expect(error.message).toContain(runtime === "node" ? "TLS handshake failed: the peer closed the connection" : "TLS handshake failed");
    expect(handled).toBe(0);
  }, 30_000);

  const serverStartTls = transport.capabilities.serverStartTls;
  it.skipIf(serverStartTls !== true)(`server-side startTls() rejects once the client leaves instead of sending its ClientHello${serverStartTls === true ? "" : ` (skipped: ${serverStartTls})`}`, async () => {
    const certs = testCerts();
    let settled: (outcome: unknown) => void = () => {};
    const outcome = new Promise<unknown>((resolve) => (settled = resolve));
    await using server = await listen({ hostname: HOST, port: 0 }, async (conn) => {
      await conn.write("220 go ahead\r\n");
      await conn.startTls({ isServer: true, cert: certs.server.cert, key: certs.server.key }).then(
        (secure) => settled(secure),
        (error: unknown) => settled(error),
      );
    });
    const client = await connect({ hostname: HOST, port: portOf(server.address) });
    await client[Symbol.asyncIterator]().next();
    // The server calls startTls() right after its write: most likely it waits for the handshake now.
    await delay(50);
    client.destroy();
    const result = await Promise.race([outcome, delay(5000).then(() => "still waiting 5 s after the client left")]);
    // Before the handshake began the upgrade is refused as ERR_SOCKET_CLOSED; during it, ERR_TLS.
    expect(["ERR_TLS", "ERR_SOCKET_CLOSED"], String(result)).toContain((result as NetError).code);
  }, 30_000);
});
