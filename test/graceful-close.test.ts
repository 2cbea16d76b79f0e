// What close() and write() promise, and what a user can rely on when a connection
// dies: responses are not truncated by a close, loss is reported, nothing waits
// forever, and borrowed read memory is never corrupted by a pending write.
// The same file runs on Node, Deno and Bun.
import { describe, expect, it } from "vitest";
import { NetError, type Connection } from "../src/mod.ts";
import { firstDifference, patternBytes, sha256, readAll } from "./helpers/bytes.ts";
import { connect, listen, portOf, runtime } from "./helpers/runtime.ts";

describe(`graceful close and loss reporting (${runtime})`, () => {
  it("a handler's response survives the close, even with request bytes left unread", async () => {
    const sizes = [1, 2, 3, 4, 1, 2, 3, 4].map((mib) => mib * 1024 * 1024);
    const responses = sizes.map((size, i) => patternBytes(size, i + 1));
    await using server = await listen({ hostname: "127.0.0.1", port: 0 }, async (conn) => {
      const iterator = conn[Symbol.asyncIterator]();
      const first = await iterator.next();
      const index = (first.value as Uint8Array)[0]!;
      // Reads one chunk only; the rest of the request stays unread when the handler returns.
      await conn.write(responses[index]!);
    });
    const port = portOf(server.address);
    const results = await Promise.all(
      sizes.map(async (_, i) => {
        const conn = await connect({ hostname: "127.0.0.1", port });
        const request = new Uint8Array(256 * 1024).fill(i);
        const [received] = await Promise.all([readAll(conn), conn.write(request).catch(() => {})]);
        return { received, error: await conn.closed };
      }),
    );
    for (const [i, { received, error }] of results.entries()) {
      expect({ i, error: error?.code, length: received.length }).toEqual({ i, error: undefined, length: responses[i]!.length });
      expect(firstDifference(received, responses[i]!)).toBe(-1);
    }
  }, 60_000);

  it("reports the writes that were accepted but never sent when the connection is destroyed", async () => {
    await using server = await listen({ hostname: "127.0.0.1", port: 0 }, async (_conn, ctx) => {
      // Never reads: everything the client writes beyond the kernel buffers stays in user space.
      await new Promise((resolve) => ctx.signal.addEventListener("abort", resolve));
    });
    const conn = await connect({ hostname: "127.0.0.1", port: portOf(server.address) });
    const chunk = new Uint8Array(256 * 1024);
    const writes: Promise<void>[] = [];
    for (let i = 0; i < 128; i++) writes.push(conn.write(chunk)); // 32 MiB, not awaited
    // Let the kernel take what it will.
    await new Promise((resolve) => setTimeout(resolve, 100));
    const buffered = conn.bufferedAmount;
    expect(buffered).toBeGreaterThan(0);
    conn.destroy();
    await conn.closed;
    expect(conn.unsent).toBeDefined();
    expect(conn.unsent!.bytes).toBe(buffered);
    expect(conn.unsent!.writes).toBeGreaterThan(0);
    expect(conn.unsent!.writes).toBeLessThanOrEqual(128);
    const settled = await Promise.allSettled(writes);
    expect(settled.some((s) => s.status === "rejected")).toBe(true);
  }, 30_000);

  it("reports nothing lost after a close that flushed everything", async () => {
    const data = patternBytes(3 * 1024 * 1024, 9);
    let received!: Promise<Uint8Array>;
    await using server = await listen({ hostname: "127.0.0.1", port: 0 }, async (conn) => {
      received = readAll(conn);
      await received;
    });
    const conn = await connect({ hostname: "127.0.0.1", port: portOf(server.address) });
    void conn.write(data);
    await conn.close();
    expect(conn.unsent).toBeUndefined();
    expect(await sha256(await received)).toBe(await sha256(data));
  }, 30_000);

  it("close({ timeout }) bounds a close to a peer that half-closed and stopped reading", async () => {
    await using server = await listen({ hostname: "127.0.0.1", port: 0, allowHalfOpen: true }, async (conn, ctx) => {
      conn.end(); // half-close, then never read
      await new Promise((resolve) => ctx.signal.addEventListener("abort", resolve));
    });
    const conn = await connect({ hostname: "127.0.0.1", port: portOf(server.address) }, { allowHalfOpen: true });
    const big = conn.write(new Uint8Array(64 * 1024 * 1024));
    const closing = conn.close({ timeout: 300 });
    const error = await conn.closed;
    await closing;
    expect(error).toBeInstanceOf(NetError);
    expect(error?.code).toBe("ETIMEDOUT");
    await expect(big).rejects.toBeInstanceOf(NetError);
    expect(conn.unsent?.bytes).toBeGreaterThan(0);
  }, 30_000);

  it("close() refuses a misspelt option key instead of ignoring it", async () => {
    await using server = await listen({ hostname: "127.0.0.1", port: 0 }, async (conn) => {
      for await (const _ of conn);
    });
    const conn = await connect({ hostname: "127.0.0.1", port: portOf(server.address) });
    await expect(conn.close({ timout: 1 } as never)).rejects.toMatchObject({ code: "ERR_INVALID_OPTION", message: expect.stringContaining('"close.timout"') });
    await conn.close();
  });

  it("refuses writes past maxBufferedBytes with ERR_BUFFER_FULL instead of growing memory", async () => {
    await using server = await listen({ hostname: "127.0.0.1", port: 0 }, async (_conn, ctx) => {
      await new Promise((resolve) => ctx.signal.addEventListener("abort", resolve));
    });
    const conn = await connect({ hostname: "127.0.0.1", port: portOf(server.address) }, { maxBufferedBytes: 1024 * 1024 });
    const chunk = new Uint8Array(64 * 1024);
    let refused: NetError | undefined;
    const writes: Promise<void>[] = [];
    // Bounded: 2 GiB would be written if nothing refused.
    for (let i = 0; i < 32_768 && refused === undefined; i++) {
      const write = conn.write(chunk);
      writes.push(write.catch(() => {}));
      write.catch((error: NetError) => (refused ??= error));
      if (i % 64 === 63) await new Promise((resolve) => setTimeout(resolve, 0));
    }
    expect(refused?.code).toBe("ERR_BUFFER_FULL");
    // The cap holds to within the kernel's share and one chunk.
    expect(conn.bufferedAmount).toBeLessThan(1024 * 1024 + 2 * chunk.length + 64 * 1024 * 4);
    conn.destroy();
    await Promise.all(writes);
  }, 30_000);

  it("an echo loop with borrowed chunks returns every byte intact", async () => {
    await using server = await listen({ hostname: "127.0.0.1", port: 0, borrowedChunks: true }, async (conn) => {
      for await (const chunk of conn) await conn.write(chunk);
    });
    const conn = await connect({ hostname: "127.0.0.1", port: portOf(server.address) });
    const data = patternBytes(32 * 1024 * 1024, 5);
    const sending = (async () => {
      for (let at = 0; at < data.length; at += 48 * 1024) await conn.write(data.subarray(at, at + 48 * 1024));
      conn.end();
    })();
    const [received] = await Promise.all([readAll(conn), sending]);
    expect(received.length).toBe(data.length);
    expect(firstDifference(received, data)).toBe(-1);
  }, 60_000);
});
