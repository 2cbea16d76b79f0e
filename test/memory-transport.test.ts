// wireline/memory, the in-process transport users run their own unit tests on:
// the same connect/listen API, errors, backpressure and close semantics as a
// socket, with nothing touching the network.
import { describe, expect, it } from "vitest";
import { connect, listen, memoryTransport } from "../adapters/memory.ts";
import { NetError, type Connection } from "../src/mod.ts";
import { dialRaw } from "../src/socket/dial.ts";
import type { RawHandlers, RawSocket } from "../src/transport.ts";
import { concat, firstDifference, patternBytes, readAll } from "./helpers/bytes.ts";

const KiB = 1024;
const encoder = new TextEncoder();
const decoder = new TextDecoder();
/** The TCP port of a memory listener (the runtime helpers would load the runtime's adapter, which this file never needs). */
function portOf(address: { transport: string; port?: number }): number {
  if (address.transport !== "tcp" || address.port === undefined) throw new Error("not a TCP address");
  return address.port;
}

const turn = (): Promise<void> => new Promise((resolve) => setTimeout(resolve, 0));

interface Recorded {
  chunks: Uint8Array[];
  events: string[];
  drains: number;
  ended: Promise<void>;
  closed: Promise<NetError | undefined>;
  bytes(): Uint8Array;
}

function record(socket: RawSocket): Recorded {
  let ended!: () => void;
  let closed!: (e: NetError | undefined) => void;
  const rec: Recorded = {
    chunks: [],
    events: [],
    drains: 0,
    ended: new Promise((r) => (ended = r)),
    closed: new Promise((r) => (closed = r)),
    bytes: () => concat(rec.chunks),
  };
  const handlers: RawHandlers = {
    onData: (c) => {
      rec.chunks.push(c);
      rec.events.push("data");
    },
    onEnd: () => {
      rec.events.push("end");
      ended();
    },
    onDrain: () => {
      rec.drains++;
      rec.events.push("drain");
    },
    onClose: (e) => {
      rec.events.push(e ? `close:${e.code}` : "close");
      closed(e);
    },
  };
  socket.start(handlers);
  return rec;
}

/** A raw client/server pair over the memory transport, both unstarted. */
async function rawPair(): Promise<{ client: RawSocket; server: RawSocket; close(): Promise<void> }> {
  let accept!: (s: RawSocket) => void;
  const accepted = new Promise<RawSocket>((r) => (accept = r));
  const listener = await memoryTransport.listen({ address: { transport: "tcp", hostname: "127.0.0.1", port: 0 } }, accept);
  const client = await dialRaw(memoryTransport, { transport: "tcp", hostname: "127.0.0.1", port: portOf(listener.address) });
  const server = await accepted;
  return { client, server, close: () => listener.close() };
}

/** Waits (bounded, by turns of the event loop) until `done()`. */
async function until(done: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 2000; i++) {
    if (done()) return;
    await turn();
  }
  throw new Error(`never happened: ${what}`);
}

describe("memory transport: connect and listen", () => {
  it("echoes over connect/listen, with addresses on both ends", async () => {
    let serverSide: Connection | undefined;
    await using server = await listen({ port: 0 }, async (conn) => {
      serverSide = conn;
      for await (const chunk of conn) await conn.write(chunk);
    });
    const port = portOf(server.address);
    expect(port).toBeGreaterThan(0);
    await using conn = await connect({ hostname: "127.0.0.1", port });
    await conn.write("hello, memory");
    conn.end();
    expect(decoder.decode(await readAll(conn))).toBe("hello, memory");
    expect(conn.remoteAddress).toMatchObject({ transport: "tcp", port });
    expect(serverSide?.localAddress).toMatchObject({ transport: "tcp", port });
    expect(serverSide?.remoteAddress).toEqual(conn.localAddress);
  });

  it("listens on a Unix path too", async () => {
    const path = `/tmp/wireline-memory-${Date.now()}.sock`;
    await using server = await listen({ path }, async (conn) => {
      await conn.write("over a path");
      await conn.close();
    });
    expect(server.address).toEqual({ transport: "unix", path });
    await using conn = await connect({ path });
    expect(decoder.decode(await readAll(conn))).toBe("over a path");
  });

  it("refuses a connection nobody listens for: ECONNREFUSED", async () => {
    const server = await listen({ port: 0 }, (conn) => conn.close());
    const port = portOf(server.address);
    await server.close();
    const err = await connect({ hostname: "127.0.0.1", port }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(NetError);
    expect((err as NetError).code).toBe("ECONNREFUSED");
  });

  it("refuses a second listener on the same address: EADDRINUSE, and frees it on close", async () => {
    const first = await listen({ port: 0 }, (conn) => conn.close());
    const port = portOf(first.address);
    const err = await listen({ port }, (conn) => conn.close()).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(NetError);
    expect((err as NetError).code).toBe("EADDRINUSE");
    await first.close();
    const second = await listen({ port }, (conn) => conn.close());
    expect(portOf(second.address)).toBe(port);
    await second.close();
  });

  it("declares what it cannot do, and refuses it with the declared reason", async () => {
    const caps = memoryTransport.capabilities;
    expect(typeof caps.tls).toBe("string");
    expect(typeof caps.clientStartTls).toBe("string");
    expect(typeof caps.serverStartTls).toBe("string");
    expect(typeof caps.reusePort).toBe("string");
    await using server = await listen({ port: 0 }, (conn) => conn.close());
    const tls = await connect({ hostname: "127.0.0.1", port: portOf(server.address) }, { tls: { serverName: "localhost" } }).catch((e: unknown) => e);
    expect(tls).toMatchObject({ code: "ERR_UNSUPPORTED" });
    expect((tls as NetError).message).toContain(caps.tls as string);
    const reuse = await listen({ port: 0, reusePort: true }, (conn) => conn.close()).catch((e: unknown) => e);
    expect(reuse).toMatchObject({ code: "ERR_UNSUPPORTED" });
  });

  it("delivers on a later macrotask, never inside write()", async () => {
    const { client, server, close } = await rawPair();
    const s = record(server);
    record(client);
    client.write(encoder.encode("x"));
    await Promise.resolve();
    expect(s.chunks.length).toBe(0);
    await until(() => s.chunks.length > 0, "delivery");
    client.destroy();
    server.destroy();
    await close();
  });

  it("copies what it takes, as a socket does: a buffer reused once bufferedAmount is 0 does not change what arrives", async () => {
    const { client, server, close } = await rawPair();
    const s = record(server);
    record(client);
    const buffer = encoder.encode("original");
    client.write(buffer);
    expect(client.bufferedAmount).toBe(0); // taken at once
    buffer.set(encoder.encode("MUTATED!"));
    client.end();
    await s.ended;
    expect(decoder.decode(s.bytes())).toBe("original");
    client.destroy();
    server.destroy();
    await close();
  });

  it("holds bytes written before the server side started, and delivers them after start", async () => {
    const { client, server, close } = await rawPair();
    record(client);
    client.write(encoder.encode("early "));
    client.write(encoder.encode("bird"));
    client.end();
    await turn();
    await turn();
    const s = record(server);
    expect(s.events).toEqual([]);
    await s.ended;
    expect(decoder.decode(s.bytes())).toBe("early bird");
    expect(s.events[s.events.length - 1]).toBe("end");
    client.destroy();
    server.destroy();
    await close();
  });
});

describe("memory transport: backpressure", () => {
  it("write() returns false against a peer that does not read, and onDrain follows once it reads", async () => {
    const { client, server, close } = await rawPair();
    const s = record(server);
    const c = record(client);
    server.pause();
    let written = 0;
    const data = patternBytes(1024 * KiB, 5);
    while (written < data.length && client.write(data.subarray(written, written + 16 * KiB))) written += 16 * KiB;
    written += 16 * KiB;
    // The peer's pipe (64 KiB) plus the kernel's high watermark (64 KiB): bounded, not all of it.
    expect(written).toBeLessThanOrEqual(256 * KiB);
    expect(client.bufferedAmount).toBeGreaterThanOrEqual(64 * KiB);
    for (let i = 0; i < 5; i++) await turn();
    expect(c.drains).toBe(0);
    expect(s.chunks.length).toBe(0);
    server.resume();
    await until(() => c.drains > 0, "drain");
    expect(firstDifference(s.bytes(), data.subarray(0, s.bytes().length))).toBe(-1);
    client.write(data.subarray(written));
    client.end();
    await s.ended;
    expect(firstDifference(s.bytes(), data)).toBe(-1);
    client.destroy();
    server.destroy();
    await close();
  });

  it("connection.write() waits while the server does not read, and resolves once it does", async () => {
    let release!: () => void;
    const reading = new Promise<void>((r) => (release = r));
    let received = 0;
    await using server = await listen({ port: 0 }, async (conn) => {
      await reading;
      for await (const chunk of conn) received += chunk.length;
    });
    await using conn = await connect({ hostname: "127.0.0.1", port: portOf(server.address) });
    let waited = false;
    for (let i = 0; i < 100 && !waited; i++) {
      let settled = false;
      const w = conn.write(new Uint8Array(16 * KiB)).then(() => (settled = true));
      for (let t = 0; t < 3; t++) await turn();
      if (!settled) {
        waited = true;
        release();
        await w;
      }
    }
    expect(waited).toBe(true);
    conn.end();
    await conn.closed;
    expect(received).toBe(conn.bytesWritten);
  });
});

describe("memory transport: close semantics", () => {
  it("close() flushes: the peer gets every byte of a large write, then EOF", async () => {
    const { client, server, close } = await rawPair();
    const s = record(server);
    const c = record(client);
    const data = patternBytes(2 * 1024 * KiB, 7);
    expect(client.write(data)).toBe(false);
    client.close();
    await s.ended;
    expect(firstDifference(s.bytes(), data)).toBe(-1);
    server.close();
    expect(await c.closed).toBeUndefined();
    expect(await s.closed).toBeUndefined();
    expect(c.events.filter((e) => e.startsWith("close")).length).toBe(1);
    await close();
  });

  it("half-closes both ways: each side still writes after the other's EOF", async () => {
    const { client, server, close } = await rawPair();
    const s = record(server);
    const c = record(client);
    client.write(encoder.encode("question"));
    client.end();
    await s.ended;
    expect(decoder.decode(s.bytes())).toBe("question");
    server.write(encoder.encode("answer"));
    server.end();
    await c.ended;
    expect(decoder.decode(c.bytes())).toBe("answer");
    expect(c.events.filter((e) => e.startsWith("close"))).toEqual([]); // half-closed both ways, still open
    client.close();
    server.close();
    expect(await c.closed).toBeUndefined();
    expect(await s.closed).toBeUndefined();
    await close();
  });

  it("destroy() resets: the peer sees ECONNRESET, unsent bytes are dropped", async () => {
    const { client, server, close } = await rawPair();
    const s = record(server);
    const c = record(client);
    client.write(new Uint8Array(200 * KiB));
    client.destroy(new NetError("ETIMEDOUT", "gave up"));
    expect(await c.closed).toMatchObject({ code: "ETIMEDOUT" });
    expect(await s.closed).toMatchObject({ code: "ECONNRESET" });
    expect(s.events).toEqual(["close:ECONNRESET"]);
    await close();
  });

  it("a write to a peer that is gone fails with EPIPE", async () => {
    const { client, server, close } = await rawPair();
    const s = record(server);
    const c = record(client);
    server.close(0); // no lingering for an EOF this client never sends
    await c.ended;
    client.write(encoder.encode("anyone?")); // a FIN only says the peer stopped writing
    await s.closed;
    client.write(encoder.encode("still there?"));
    expect(await c.closed).toMatchObject({ code: "EPIPE" });
    await close();
  });

  it("close() against a peer that never reads is bounded by its timeout and fails with ETIMEDOUT", async () => {
    let stalled: Connection | undefined;
    await using server = await listen({ port: 0 }, async (conn) => {
      stalled = conn;
      conn.pause();
      await conn.closed;
    });
    await using conn = await connect({ hostname: "127.0.0.1", port: portOf(server.address) });
    await until(() => stalled !== undefined, "accept");
    void conn.write(new Uint8Array(1024 * KiB)).catch(() => {});
    await conn.close({ timeout: 20 });
    expect(await conn.closed).toMatchObject({ code: "ETIMEDOUT" });
    // The abortive release reaches the peer as a reset.
    stalled!.resume();
    expect(await stalled!.closed).toMatchObject({ code: "ECONNRESET" });
  });
});
