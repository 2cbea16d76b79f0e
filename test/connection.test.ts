// Connection API conformance: the same file runs on Node, Deno and Bun.
import { describe, expect, it } from "vitest";
import { framed, lengthPrefixed, NetError, type Connection } from "../src/mod.ts";
import { concat, patternBytes, sha256, readAll } from "./helpers/bytes.ts";
import { connect, delay, listen, portOf, runtime, tempSocketPath } from "./helpers/runtime.ts";
import { startFixture } from "./helpers/spawn.ts";

async function echoServer(options: Parameters<typeof listen>[0] = { hostname: "127.0.0.1", port: 0 }) {
  return listen(options, async (conn) => {
    for await (const chunk of conn) await conn.write(chunk);
  });
}

/** Writes `data` in `chunkSize` pieces, honouring backpressure, then half-closes. */
async function writeAll(conn: Connection, data: Uint8Array, chunkSize = 64 * 1024): Promise<void> {
  for (let at = 0; at < data.length; at += chunkSize) await conn.write(data.subarray(at, at + chunkSize));
  conn.end();
}

describe(`Connection (${runtime})`, () => {
  it("echoes 64 MiB intact (SHA-256 match)", async () => {
    await using server = await echoServer();
    const conn = await connect(`127.0.0.1:${portOf(server.address)}`);
    const data = patternBytes(64 * 1024 * 1024, 7);
    const [, received] = await Promise.all([writeAll(conn, data), readAll(conn)]);
    expect(received.length).toBe(data.length);
    expect(await sha256(received)).toBe(await sha256(data));
    expect(await conn.closed).toBeUndefined();
    expect(conn.bytesRead).toBe(data.length);
    expect(conn.bytesWritten).toBe(data.length);
  }, 60_000);

  it("hands the dialling side chunks it may keep: kept chunks stay intact through later reads, on any connection", async () => {
    const data = patternBytes(4 * 1024 * 1024, 11);
    await using server = await listen({ hostname: "127.0.0.1", port: 0 }, (conn) => writeAll(conn, data));
    // Two downloads at once, so that one connection's reads could overwrite memory the other handed out.
    const download = async (): Promise<Uint8Array[]> => {
      const conn = await connect(`127.0.0.1:${portOf(server.address)}`);
      const kept: Uint8Array[] = [];
      for await (const chunk of conn) kept.push(chunk); // no copy: the chunk is the reader's
      return kept;
    };
    const expected = await sha256(data);
    for (const kept of await Promise.all([download(), download()])) {
      expect(kept.length).toBeGreaterThan(1);
      const received = concat(kept);
      expect(received.length).toBe(data.length);
      expect(await sha256(received)).toBe(expected);
    }
  }, 30_000);

  it("bounds user-space buffering when the reader is slow", async () => {
    let release!: () => void;
    const released = new Promise<void>((r) => (release = r));
    let serverConn!: Connection;
    await using server = await listen({ hostname: "127.0.0.1", port: 0 }, async (conn) => {
      serverConn = conn;
      await released; // a reader that does not read
      for await (const _ of conn);
    });
    const conn = await connect({ hostname: "127.0.0.1", port: portOf(server.address) });
    const chunk = new Uint8Array(64 * 1024);
    const total = 256 * 1024 * 1024;
    let written = 0;
    let maxBuffered = 0;
    let stalled = false;
    while (written < total) {
      const pending = conn.write(chunk);
      written += chunk.length;
      maxBuffered = Math.max(maxBuffered, conn.bufferedAmount);
      const outcome = await Promise.race([pending.then(() => "ok"), delay(300).then(() => "stalled")]);
      if (outcome === "stalled") {
        stalled = true;
        break;
      }
    }
    // The writer was made to wait long before 256 MiB: kernel buffers plus a bounded user-space buffer.
    expect(stalled).toBe(true);
    expect(written).toBeLessThan(total);
    expect(maxBuffered).toBeLessThanOrEqual(2 * 64 * 1024 + chunk.length);
    // The non-reading side paused its socket instead of queueing everything in memory.
    expect(serverConn.bytesRead).toBeLessThanOrEqual(512 * 1024);
    release();
    conn.destroy();
  }, 60_000);

  it("bounds user-space buffering on the dialling side too when it does not read", async () => {
    let writerStalled!: () => void;
    const stalled = new Promise<void>((r) => (writerStalled = r));
    const total = 256 * 1024 * 1024;
    let written = 0;
    await using server = await listen({ hostname: "127.0.0.1", port: 0 }, async (conn) => {
      const chunk = new Uint8Array(64 * 1024);
      while (written < total) {
        const outcome = await Promise.race([conn.write(chunk).then(() => "ok"), delay(300).then(() => "stalled")]);
        written += chunk.length;
        if (outcome === "stalled") break;
      }
      writerStalled();
    });
    const conn = await connect({ hostname: "127.0.0.1", port: portOf(server.address) });
    await stalled;
    expect(written).toBeLessThan(total);
    // The client's socket was paused at its read limit: the rest waits in the kernel, not in memory.
    expect(conn.bytesRead).toBeLessThanOrEqual(512 * 1024);
    conn.destroy();
  }, 60_000);

  it("supports half-close: the peer reads to EOF, then replies", async () => {
    await using server = await listen({ hostname: "127.0.0.1", port: 0, allowHalfOpen: true }, async (conn) => {
      const request = await readAll(conn);
      await conn.write(`got ${request.length} bytes`);
    });
    const conn = await connect({ hostname: "127.0.0.1", port: portOf(server.address) }, { allowHalfOpen: true });
    await conn.write(new Uint8Array(1000));
    conn.end();
    await expect(conn.write("late")).rejects.toMatchObject({ code: "ERR_SOCKET_CLOSED" });
    const reply = new TextDecoder().decode(await readAll(conn));
    expect(reply).toBe("got 1000 bytes");
    expect(await conn.closed).toBeUndefined();
  });

  it("lets a slow handler answer every chunk that arrived before the peer's EOF", async () => {
    await using server = await listen({ hostname: "127.0.0.1", port: 0 }, async (conn) => {
      for await (const chunk of conn) {
        await delay(5); // EOF arrives while chunks are still queued
        await conn.write(chunk);
      }
    });
    const conn = await connect({ hostname: "127.0.0.1", port: portOf(server.address) });
    const data = patternBytes(256 * 1024, 11);
    const [, received] = await Promise.all([writeAll(conn, data, 4096), readAll(conn)]);
    expect(received.length).toBe(data.length);
    expect(await sha256(received)).toBe(await sha256(data));
  });

  it("closes after the peer's EOF when allowHalfOpen is false (the default)", async () => {
    await using server = await listen({ hostname: "127.0.0.1", port: 0 }, (conn) => conn.close());
    const conn = await connect({ hostname: "127.0.0.1", port: portOf(server.address) });
    expect(await readAll(conn)).toHaveLength(0);
    expect(await conn.closed).toBeUndefined();
    expect(conn.isClosed).toBe(true);
  });

  it("echoes over a Unix socket", async () => {
    const path = tempSocketPath("echo");
    await using server = await echoServer({ path });
    expect(server.address).toEqual({ transport: "unix", path });
    const conn = await connect({ path });
    const data = patternBytes(1024 * 1024, 3);
    const [, received] = await Promise.all([writeAll(conn, data), readAll(conn)]);
    expect(await sha256(received)).toBe(await sha256(data));
  });

  it("echoes over IPv6 loopback", async () => {
    await using server = await echoServer({ hostname: "::1", port: 0 });
    expect(server.address).toMatchObject({ transport: "tcp", hostname: "::1", family: "IPv6" });
    const conn = await connect(`[::1]:${portOf(server.address)}`);
    expect(conn.remoteAddress).toMatchObject({ hostname: "::1", family: "IPv6" });
    const [, received] = await Promise.all([writeAll(conn, patternBytes(4096)), readAll(conn)]);
    expect(received).toHaveLength(4096);
  });

  it("yields chunks to async iteration and to the lazy readable stream alike", async () => {
    await using server = await listen({ hostname: "127.0.0.1", port: 0 }, async (conn) => {
      await conn.write("hello ");
      await conn.write("world");
    });
    const conn = await connect({ hostname: "127.0.0.1", port: portOf(server.address) });
    const parts: string[] = [];
    const reader = conn.readable.pipeThrough(new TextDecoderStream() as unknown as ReadableWritablePair<string, Uint8Array>).getReader();
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      parts.push(value);
    }
    expect(parts.join("")).toBe("hello world");
  });

  it("disposes with await using", async () => {
    await using server = await echoServer();
    let seen: Connection;
    {
      await using conn = await connect({ hostname: "127.0.0.1", port: portOf(server.address) });
      seen = conn;
      await conn.write("x");
    }
    expect(seen.isClosed).toBe(true);
  });
});

describe(`errors (${runtime})`, () => {
  async function closedPort(): Promise<number> {
    const server = await echoServer();
    const port = portOf(server.address);
    await server.close();
    return port;
  }

  it("ECONNREFUSED for a port nobody listens on, with the address in the message", async () => {
    const port = await closedPort();
    const err = await connect(`127.0.0.1:${port}`).catch((e) => e);
    expect(err).toBeInstanceOf(NetError);
    expect(err.code).toBe("ECONNREFUSED");
    expect(err.message).toContain(`127.0.0.1:${port}`);
    expect(err.cause).toBeDefined();
  });

  it("ENOTFOUND for an unresolvable name", async () => {
    const err = await connect("nonexistent.invalid:80").catch((e) => e);
    expect(err).toBeInstanceOf(NetError);
    expect(err.code).toBe("ENOTFOUND");
    expect(err.message).toContain("nonexistent.invalid:80");
  });

  it("ETIMEDOUT when the listener's accept queue is full", async () => {
    const blackhole = await startFixture("deno", "test/fixtures/full-backlog.ts");
    try {
      const err = await connect(`127.0.0.1:${blackhole.firstLine}`, { timeout: 300 }).catch((e) => e);
      expect(err).toBeInstanceOf(NetError);
      expect(err.code).toBe("ETIMEDOUT");
      expect(err.message).toContain("300 ms");
    } finally {
      await blackhole.stop();
    }
  });

  it("ABORT_ERR when the signal aborts, before or during the connect", async () => {
    const before = await connect("127.0.0.1:9", { signal: AbortSignal.abort() }).catch((e) => e);
    expect(before.code).toBe("ABORT_ERR");
    const blackhole = await startFixture("deno", "test/fixtures/full-backlog.ts");
    try {
      const controller = new AbortController();
      setTimeout(() => controller.abort(), 50);
      const during = await connect(`127.0.0.1:${blackhole.firstLine}`, { signal: controller.signal }).catch((e) => e);
      expect(during).toBeInstanceOf(NetError);
      expect(during.code).toBe("ABORT_ERR");
    } finally {
      await blackhole.stop();
    }
  });

  it("ECONNRESET when the peer resets", async () => {
    const peer = await startFixture("node", "test/fixtures/reset-server.ts");
    try {
      const conn = await connect(`127.0.0.1:${peer.firstLine}`);
      await conn.write("hello");
      const err = await readAll(conn).catch((e) => e);
      expect(err).toBeInstanceOf(NetError);
      expect(err.code).toBe("ECONNRESET");
      expect((await conn.closed)?.code).toBe("ECONNRESET");
    } finally {
      await peer.stop();
    }
  });

  it("a served connection's peer address is still known after the peer reset it, though nobody asked before", async () => {
    let served!: Connection;
    let failure: unknown;
    let done!: () => void;
    const finished = new Promise<void>((resolve) => (done = resolve));
    await using server = await listen({ hostname: "127.0.0.1", port: 0 }, async (conn) => {
      served = conn;
      try {
        for await (const _ of conn);
      } catch (error) {
        failure = error;
      }
      done();
    });
    const peer = await startFixture("node", "test/fixtures/reset-client.ts", [String(portOf(server.address))]);
    try {
      await finished;
      expect((failure as NetError | undefined)?.code).toBe("ECONNRESET");
      expect(served.remoteAddress).toEqual({ transport: "tcp", hostname: "127.0.0.1", port: Number(peer.firstLine), family: "IPv4" });
      expect(served.localAddress).toMatchObject({ transport: "tcp", hostname: "127.0.0.1", port: portOf(server.address) });
    } finally {
      await peer.stop();
    }
  });

  it("a dialled connection's local address is still known after it closed, though nobody asked before", async () => {
    let servedPeer: unknown;
    await using server = await listen({ hostname: "127.0.0.1", port: 0 }, (conn) => {
      servedPeer = conn.remoteAddress;
      return conn.close();
    });
    const conn = await connect({ hostname: "127.0.0.1", port: portOf(server.address) });
    for await (const _ of conn);
    await conn.close();
    const { port } = servedPeer as { port: number };
    expect(conn.localAddress).toEqual({ transport: "tcp", hostname: "127.0.0.1", port, family: "IPv4" });
    expect(conn.remoteAddress).toEqual({ transport: "tcp", hostname: "127.0.0.1", port: portOf(server.address), family: "IPv4" });
  });

  it("EADDRINUSE when the port is taken", async () => {
    await using server = await echoServer();
    const err = await echoServer({ hostname: "127.0.0.1", port: portOf(server.address) }).catch((e) => e);
    expect(err).toBeInstanceOf(NetError);
    expect(err.code).toBe("EADDRINUSE");
  });

  it("ENOENT for a Unix socket path that does not exist", async () => {
    const err = await connect({ path: tempSocketPath("missing") }).catch((e) => e);
    expect(err.code).toBe("ENOENT");
  });

  it("ERR_SOCKET_CLOSED for a write after close, and every write promise settles", async () => {
    await using server = await echoServer();
    const conn = await connect({ hostname: "127.0.0.1", port: portOf(server.address) });
    await conn.close();
    const err = await conn.write("late").catch((e) => e);
    expect(err).toBeInstanceOf(NetError);
    expect(err.code).toBe("ERR_SOCKET_CLOSED");
  });

  it("ERR_INVALID_ADDRESS names the problem", async () => {
    const cases: Array<[string, string]> = [
      ["localhost", "missing port"],
      ["localhost:", "missing port"],
      ["localhost:70000", "out of range"],
      [":80", "empty host"],
      ["[::1:80", "missing ']'"],
      ["[zz::1]:80", "not a valid IPv6"],
      ["::1:80", "[addr]:port"],
    ];
    for (const [input, why] of cases) {
      const err = await connect(input).catch((e) => e);
      expect(err, input).toBeInstanceOf(NetError);
      expect(err.code, input).toBe("ERR_INVALID_ADDRESS");
      expect(err.message, input).toContain(why);
    }
  });

  it("ERR_INVALID_OPTION for out-of-range options", async () => {
    await expect(connect("127.0.0.1:1", { timeout: -5 })).rejects.toMatchObject({ code: "ERR_INVALID_OPTION" });
    await expect(connect("127.0.0.1:1", { keepAlive: 10 })).rejects.toMatchObject({ code: "ERR_INVALID_OPTION" });
    await expect(listen({ port: 1, backlog: 0 }, () => {})).rejects.toMatchObject({ code: "ERR_INVALID_OPTION" });
  });

  it("reusePort works where supported and is ERR_UNSUPPORTED elsewhere, never ignored", async () => {
    const first = await listen({ hostname: "127.0.0.1", port: 0, reusePort: true }, () => {}).catch((e) => e);
    if (first instanceof NetError) {
      expect(first.code).toBe("ERR_UNSUPPORTED");
      expect(first.message).toContain("reusePort");
      return;
    }
    const second = await listen({ hostname: "127.0.0.1", port: portOf(first.address), reusePort: true }, () => {});
    expect(portOf(second.address)).toBe(portOf(first.address));
    await second.close();
    await first.close();
  });
});

describe(`resources (${runtime})`, () => {
  it("leaves no handle or timer behind: a process that closes everything exits by itself", async () => {
    const fixture = await startFixture(runtime, "test/fixtures/lifecycle.ts");
    expect(fixture.firstLine).toBe("done");
    const code = await Promise.race([fixture.exited, delay(10_000).then(() => "still running")]);
    if (code === "still running") fixture.child.kill("SIGKILL");
    expect(code).toBe(0);
  }, 30_000);
});

describe(`keep-alive (${runtime})`, () => {
  it("a keep-alive delay works where the runtime can set it, and fails up front where it cannot", async () => {
    await using server = await listen({ hostname: "127.0.0.1", port: 0 }, (conn) => conn.close());
    const port = portOf(server.address);
    if (runtime === "deno") {
      await expect(connect({ hostname: "127.0.0.1", port }, { keepAlive: 5_000 })).rejects.toMatchObject({ code: "ERR_UNSUPPORTED" });
      await expect(listen({ hostname: "127.0.0.1", port: 0, keepAlive: 5_000 }, () => {})).rejects.toMatchObject({ code: "ERR_UNSUPPORTED" });
    } else {
      const conn = await connect({ hostname: "127.0.0.1", port }, { keepAlive: 5_000 });
      await conn.close();
    }
    const on = await connect({ hostname: "127.0.0.1", port }, { keepAlive: true });
    await on.close();
  });
});

describe(`borrowed chunks (${runtime})`, () => {
  async function patternServer(data: Uint8Array) {
    return listen({ hostname: "127.0.0.1", port: 0 }, async (conn) => {
      for (let at = 0; at < data.length; at += 64 * 1024) await conn.write(data.subarray(at, at + 64 * 1024));
    });
  }

  it("a reader that uses each chunk before the next step gets every byte intact", async () => {
    const data = patternBytes(16 * 1024 * 1024, 5);
    await using server = await patternServer(data);
    const conn = await connect({ hostname: "127.0.0.1", port: portOf(server.address) }, { borrowedChunks: true });
    // Only Deno reads into JavaScript memory; elsewhere the runtime's fresh buffers are simply passed on.
    expect(conn.borrowedChunks).toBe(runtime === "deno");
    const received = new Uint8Array(data.length);
    let at = 0;
    let steps = 0;
    for await (const chunk of conn) {
      // A chunk is valid for the whole loop body, awaits included, until the next step.
      if (steps++ % 4 === 0) await delay(1);
      received.set(chunk, at);
      at += chunk.length;
    }
    expect(at).toBe(data.length);
    expect(await sha256(received)).toBe(await sha256(data));
  });

  it("the readable stream view hands out copies, so kept chunks stay intact", async () => {
    const data = patternBytes(4 * 1024 * 1024, 9);
    await using server = await patternServer(data);
    const conn = await connect({ hostname: "127.0.0.1", port: portOf(server.address) }, { borrowedChunks: true });
    const kept: Uint8Array[] = [];
    for await (const chunk of conn.readable as unknown as AsyncIterable<Uint8Array>) kept.push(chunk);
    expect(await sha256(kept)).toBe(await sha256(data));
  });

  it("framed() refuses a connection whose chunks are only lent", async () => {
    await using server = await listen({ hostname: "127.0.0.1", port: 0 }, (conn) => conn.close());
    const conn = await connect({ hostname: "127.0.0.1", port: portOf(server.address) }, { borrowedChunks: true });
    if (conn.borrowedChunks) expect(() => framed(conn, lengthPrefixed())).toThrow(expect.objectContaining({ code: "ERR_INVALID_OPTION" }));
    else expect(() => framed(conn, lengthPrefixed())).not.toThrow();
    await conn.close();
  });
});
