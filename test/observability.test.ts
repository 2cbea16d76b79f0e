// Observability (issue #16 section 4) on every runtime: the diagnostics
// channels, the WIRELINE_DEBUG log, client.stats, inspect output, and unref().
import * as dc from "node:diagnostics_channel";
import { spawn } from "node:child_process";
import { inspect } from "node:util";
import { afterEach, describe, expect, it } from "vitest";
import { DIAGNOSTICS_CHANNELS, type DiagnosticsMessages } from "../src/observability/diagnostics.ts";
import { memoryTransport } from "../adapters/memory.ts";
import { createNet, lines, NetError, requester, type Connection } from "../src/mod.ts";
import { testCerts } from "./helpers/certs.ts";
import { connect, listen, portOf, reconnecting, runtime, transport } from "./helpers/runtime.ts";
import { commandFor, root, startFixture } from "./helpers/spawn.ts";
import { until } from "./helpers/until.ts";

type Name = keyof DiagnosticsMessages;
const subscriptions: [Name, (message: unknown) => void][] = [];

/** Records every message of `names`, in order, until the test ends. */
function record(...names: Name[]): { name: Name; message: Record<string, unknown> }[] {
  const seen: { name: Name; message: Record<string, unknown> }[] = [];
  for (const name of names) {
    const listener = (message: unknown): void => void seen.push({ name, message: message as Record<string, unknown> });
    dc.subscribe(name, listener);
    subscriptions.push([name, listener]);
  }
  return seen;
}

afterEach(() => {
  for (const [name, listener] of subscriptions.splice(0)) dc.unsubscribe(name, listener);
});

async function closedPort(): Promise<number> {
  const server = await listen({ hostname: "127.0.0.1", port: 0 }, () => {});
  const port = portOf(server.address);
  await server.close();
  return port;
}

describe(`diagnostics channels (${runtime})`, () => {
  it("nobody listens by default: hasSubscribers is false on every channel", () => {
    for (const name of Object.values(DIAGNOSTICS_CHANNELS)) expect(dc.channel(name).hasSubscribers, name).toBe(false);
  });

  it("a connect publishes start, then end with its duration and addresses", async () => {
    const server = await listen({ hostname: "127.0.0.1", port: 0 }, (conn) => conn.close());
    try {
      const seen = record("wireline:connect:start", "wireline:connect:end", "wireline:connect:error");
      const address = `127.0.0.1:${portOf(server.address)}`;
      const conn = await connect(address);
      conn.destroy();
      expect(seen.map((e) => e.name)).toEqual(["wireline:connect:start", "wireline:connect:end"]);
      const [start, end] = seen.map((e) => e.message);
      expect(start).toMatchObject({ address, transport: runtime });
      expect(end).toMatchObject({ id: start!.id, address, tls: false, remoteAddress: { transport: "tcp", port: portOf(server.address) } });
      expect(end!.duration).toBeGreaterThanOrEqual(0);
    } finally {
      await server.close();
    }
  });

  it("a refused connect publishes start, then error with ECONNREFUSED", async () => {
    const port = await closedPort();
    const seen = record("wireline:connect:start", "wireline:connect:end", "wireline:connect:error");
    const error = await connect(`127.0.0.1:${port}`).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(NetError);
    expect(seen.map((e) => e.name)).toEqual(["wireline:connect:start", "wireline:connect:error"]);
    const failed = seen[1]!.message;
    expect(failed.id).toBe(seen[0]!.message.id);
    expect((failed.error as NetError).code).toBe("ECONNREFUSED");
    expect(failed.duration).toBeGreaterThanOrEqual(0);
  });

  it("a server publishes accept, and refuse when full", async () => {
    let release!: () => void;
    const held = new Promise<void>((resolve) => (release = resolve));
    const server = await listen({ hostname: "127.0.0.1", port: 0, maxConnections: 1, maxQueued: 0 }, () => held);
    const seen = record("wireline:server:accept", "wireline:server:refuse");
    const conns: Connection[] = [];
    try {
      const address = `127.0.0.1:${portOf(server.address)}`;
      conns.push(await connect(address));
      await until(() => seen.length === 1, "seen.length === 1");
      conns.push(await connect(address));
      await until(() => seen.length === 3, "seen.length === 3");
      expect(seen.map((e) => e.name)).toEqual(["wireline:server:accept", "wireline:server:accept", "wireline:server:refuse"]);
      expect(seen[0]!.message).toMatchObject({ server: address, remoteAddress: conns[0]!.localAddress });
      expect(seen[2]!.message).toMatchObject({ server: address, reason: "full", remoteAddress: conns[1]!.localAddress });
    } finally {
      release();
      for (const conn of conns) conn.destroy();
      await server.close();
    }
  });

  it("a server publishes the connections its filter rejects", async () => {
    const server = await listen({ hostname: "127.0.0.1", port: 0, filter: () => false }, () => {});
    const seen = record("wireline:server:filter");
    try {
      const conn = await connect(`127.0.0.1:${portOf(server.address)}`);
      await conn.closed;
      await until(() => seen.length === 1, "seen.length === 1");
      expect(seen[0]!.message).toMatchObject({ remoteAddress: conn.localAddress, error: undefined });
    } finally {
      await server.close();
    }
  });

  it("a reconnecting client publishes its attempts and why it backs off", async () => {
    const port = await closedPort();
    const seen = record("wireline:reconnect:attempt", "wireline:reconnect:backoff");
    const client = reconnecting(`127.0.0.1:${port}`, { backoff: { initial: 10, max: 10, jitter: "none" } });
    try {
      await until(() => seen.filter((e) => e.name === "wireline:reconnect:backoff").length >= 2, "two backoff events");
      const [attempt, backoff] = seen;
      expect(attempt).toMatchObject({ name: "wireline:reconnect:attempt", message: { target: `127.0.0.1:${port}`, endpoint: `127.0.0.1:${port}`, attempt: 1 } });
      expect(backoff).toMatchObject({ name: "wireline:reconnect:backoff", message: { endpoint: `127.0.0.1:${port}`, attempt: 1, delay: 10 } });
      expect((backoff!.message.error as NetError).code).toBe("ECONNREFUSED");
      expect(client.stats).toMatchObject({ connects: 0, lastError: { code: "ECONNREFUSED" } });
      expect(client.stats.attempts).toBeGreaterThanOrEqual(2);
    } finally {
      await client.close();
    }
  });

  it("a reconnecting client publishes open, and counts it in stats", async () => {
    const server = await listen({ hostname: "127.0.0.1", port: 0 }, async (conn) => {
      for await (const chunk of conn) await conn.write(chunk);
    });
    const seen = record("wireline:reconnect:open");
    const address = `127.0.0.1:${portOf(server.address)}`;
    const client = reconnecting(address);
    try {
      await client.opened;
      await client.write("ping");
      for await (const chunk of client) if (chunk.length > 0) break;
      expect(seen).toEqual([{ name: "wireline:reconnect:open", message: { target: address, endpoint: address, connects: 1 } }]);
      expect(client.stats).toMatchObject({ state: "open", attempts: 1, connects: 1, disconnects: 0, bytesWritten: 4, queuedWrites: 0, droppedWrites: 0 });
      expect(client.stats.bytesRead).toBeGreaterThan(0);
    } finally {
      await client.close();
      await server.close();
    }
  });
});

describe(`diagnostics channels: TLS, drops, request timeouts (${runtime})`, () => {
  const certs = testCerts();

  it("a TLS connect publishes the handshake on both sides", async () => {
    const server = await listen({ hostname: "127.0.0.1", port: 0, tls: { cert: certs.server.cert, key: certs.server.key } }, (conn) => conn.close());
    const seen = record("wireline:tls:handshake");
    try {
      const address = `127.0.0.1:${portOf(server.address)}`;
      const conn = await connect(address, { tls: { ca: certs.ca } });
      await until(() => seen.length === 2, "seen.length === 2");
      conn.destroy();
      const sides = seen.map((e) => e.message).sort((a, b) => String(a.side).localeCompare(String(b.side)));
      expect(sides[0]).toMatchObject({ side: "client", address, error: undefined });
      expect(sides[1]).toMatchObject({ side: "server", error: undefined });
      expect(sides[1]!.duration).toBeGreaterThanOrEqual(0);
    } finally {
      await server.close();
    }
  });

  it("a refused certificate publishes a failed client handshake", async () => {
    const server = await listen({ hostname: "127.0.0.1", port: 0, tls: { cert: certs.unknownCa.cert, key: certs.unknownCa.key } }, (conn) => conn.close());
    const seen = record("wireline:tls:handshake");
    try {
      const error = await connect(`127.0.0.1:${portOf(server.address)}`, { tls: { ca: certs.ca } }).catch((e: unknown) => e);
      expect(error).toMatchObject({ code: "ERR_TLS_CERT" });
      await until(() => seen.some((e) => e.message.side === "client"), "a client-side event");
      const client = seen.find((e) => e.message.side === "client")!.message;
      expect((client.error as NetError).code).toBe("ERR_TLS_CERT");
    } finally {
      await server.close();
    }
  });

  it("writes dropped from a full offline queue are published", async () => {
    const client = reconnecting(`127.0.0.1:${await closedPort()}`, { maxQueuedWrites: 1, overflow: "drop-oldest", backoff: { initial: 60_000, jitter: "none" } });
    const seen = record("wireline:queue:drop");
    try {
      const first = client.write("one").catch((e: unknown) => e);
      void client.write("two").catch(() => {});
      expect(await first).toMatchObject({ code: "ERR_WRITE_DROPPED" });
      expect(seen).toHaveLength(1);
      expect(seen[0]!.message).toMatchObject({ count: 1, bytes: 3, resolved: false, reason: { code: "ERR_WRITE_DROPPED" } });
      expect(client.stats).toMatchObject({ queuedWrites: 1, droppedWrites: 1, droppedBytes: 3 });
    } finally {
      await client.close();
    }
  });

  it("a request without a reply in time is published", async () => {
    const server = await listen({ hostname: "127.0.0.1", port: 0 }, async (conn) => {
      for await (const _ of conn); // never replies
    });
    const client = reconnecting(`127.0.0.1:${portOf(server.address)}`, { codec: lines() });
    const seen = record("wireline:request:timeout");
    try {
      const requests = requester(client, { timeout: 50 });
      await expect(requests.request("PING")).rejects.toMatchObject({ code: "ERR_REPLY_TIMEOUT" });
      expect(seen.map((e) => e.message)).toEqual([{ timeout: 50, sent: true }]);
    } finally {
      await client.close();
      await server.close();
    }
  });
});

describe(`unref capability (${runtime})`, () => {
  it("this runtime declares unref, and unref()/ref() work on a connection, a server and a client", async () => {
    expect(transport.capabilities.unref).toBe(true);
    const server = await listen({ hostname: "127.0.0.1", port: 0 }, (conn) => conn.close());
    const conn = await connect(`127.0.0.1:${portOf(server.address)}`);
    const client = reconnecting(`127.0.0.1:${portOf(server.address)}`);
    try {
      for (const target of [conn, server, client]) {
        target.unref();
        target.ref();
      }
    } finally {
      conn.destroy();
      await client.close();
      await server.close();
    }
  });

  it("a transport that cannot unref refuses with ERR_UNSUPPORTED and its reason", async () => {
    const net = createNet({ ...memoryTransport, capabilities: { ...memoryTransport.capabilities, unref: "this transport cannot let go" } });
    const server = await net.listen({ port: 7411 }, (conn) => conn.close());
    const conn = await net.connect("localhost:7411");
    const client = net.reconnecting("localhost:7411");
    try {
      for (const target of [conn, server, client]) {
        expect(() => target.unref()).toThrow(expect.objectContaining({ code: "ERR_UNSUPPORTED", message: expect.stringContaining("this transport cannot let go") }));
      }
    } finally {
      conn.destroy();
      await client.close();
      await server.close();
    }
  });
});

describe(`inspect output (${runtime})`, () => {
  it("shows a connection's addresses and state, a server's address and counters, a client's target and state", async () => {
    const server = await listen({ hostname: "127.0.0.1", port: 0 }, async (conn) => {
      for await (const chunk of conn) await conn.write(chunk);
    });
    const address = `127.0.0.1:${portOf(server.address)}`;
    const conn = await connect(address);
    const client = reconnecting(address);
    try {
      await conn.write("hi");
      const shown = inspect(conn);
      expect(shown).toContain(`-> ${address}`);
      expect(shown).toContain('state: "open"');
      expect(shown).toContain("bytesWritten: 2");
      expect(inspect(server)).toContain(`Server <${address}> { state: "listening"`);
      await client.opened;
      expect(inspect(client)).toMatch(new RegExp(`ReconnectingClient <${address}> \\{ state: "open", endpoint: "${address}", attempts: 1, connects: 1`));
      conn.destroy();
      await conn.closed;
      expect(inspect(conn)).toContain('state: "closed"');
    } finally {
      conn.destroy();
      await client.close();
      await server.close();
    }
  });
});

/** Resolves with the exit code, or "still running" after `ms` (the process is then killed). */
async function exitWithin(fixture: Awaited<ReturnType<typeof startFixture>>, ms: number): Promise<number | null | "still running"> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const code = await Promise.race([fixture.exited, new Promise<"still running">((r) => (timer = setTimeout(() => r("still running"), ms)))]);
  clearTimeout(timer);
  if (code === "still running") fixture.child.kill("SIGKILL");
  return code;
}

describe(`unref (${runtime})`, () => {
  it("a process holding only an unref'd connection exits by itself", async () => {
    const server = await listen({ hostname: "127.0.0.1", port: 0 }, async (conn) => {
      for await (const _ of conn);
    });
    try {
      const child = await startFixture(runtime, "test/fixtures/unref-holder.ts", ["connection", String(portOf(server.address))]);
      expect(child.firstLine).toBe("ready");
      expect(await exitWithin(child, 10_000)).toBe(0);
    } finally {
      await server.close({ timeout: 0 });
    }
  });

  it("a process holding only an unref'd server exits by itself", async () => {
    const child = await startFixture(runtime, "test/fixtures/unref-holder.ts", ["server"]);
    expect(child.firstLine).toBe("ready");
    expect(await exitWithin(child, 10_000)).toBe(0);
  });

  it("a process holding only an unref'd reconnecting client in its backoff sleep exits by itself", async () => {
    const child = await startFixture(runtime, "test/fixtures/unref-holder.ts", ["client", String(await closedPort())]);
    expect(child.firstLine).toBe("ready");
    expect(await exitWithin(child, 10_000)).toBe(0);
  });
});

describe(`debug log (${runtime})`, () => {
  it("WIRELINE_DEBUG=1 explains on stderr why a client is not connecting", async () => {
    const port = await closedPort();
    const [command, args] = commandFor(runtime, "test/fixtures/debug-log-client.ts", [String(port)]);
    const child = spawn(command, args, { cwd: root, env: { ...process.env, WIRELINE_DEBUG: "1" }, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout!.on("data", (d: Uint8Array) => (stdout += new TextDecoder().decode(d)));
    child.stderr!.on("data", (d: Uint8Array) => (stderr += new TextDecoder().decode(d)));
    let timer: ReturnType<typeof setTimeout> | undefined;
    const code = await Promise.race([
      new Promise<number | null>((resolve) => child.on("exit", resolve)),
      new Promise<"still running">((resolve) => (timer = setTimeout(() => resolve("still running"), 20_000))),
    ]);
    clearTimeout(timer);
    if (code === "still running") child.kill("SIGKILL");
    expect(code, stderr).toBe(0);
    expect(stdout.trim()).toBe("done");
    const target = `127.0.0.1:${port}`;
    expect(stderr).toContain(`wireline: client ${target}: attempt 1 to ${target}\n`);
    expect(stderr).toMatch(new RegExp(`wireline: client ${target}: attempt 1 to ${target} failed with ECONNREFUSED, next attempt in 20 ms: .+\\n`));
    expect(stderr).toMatch(new RegExp(`wireline: connect #\\d+ to ${target} failed with ECONNREFUSED after \\d+ ms`));
  });
});
