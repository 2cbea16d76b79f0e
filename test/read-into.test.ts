// conn.read(into): the same cases over the current runtime's transport (plain
// and TLS) and over the memory transport, on Node, Deno and Bun. Loopback
// only; every wait is bounded.
import { describe, expect, it } from "vitest";
import * as memory from "../adapters/memory.ts";
import { NetError, type Connection, type Net } from "../src/mod.ts";
import type { ConnectOptions } from "../src/connect/connect.ts";
import type { ListenOptions } from "../src/server/server.ts";
import { firstDifference, patternBytes } from "./helpers/bytes.ts";
import { testCerts } from "./helpers/certs.ts";
import { connect, listen, portOf, runtime } from "./helpers/runtime.ts";
import { until, within } from "./helpers/until.ts";

const MiB = 1024 * 1024;
const certs = testCerts();

interface Setup {
  readonly name: string;
  readonly listen: Net["listen"];
  readonly connect: Net["connect"];
  readonly listenOptions: ListenOptions;
  readonly connectOptions: ConnectOptions | undefined;
  /** Bytes for the long transfer: the memory pipe moves 64 KiB per macrotask. */
  readonly size: number;
}

const setups: Setup[] = [
  { name: runtime, listen, connect, listenOptions: { hostname: "127.0.0.1", port: 0 }, connectOptions: undefined, size: 16 * MiB },
  {
    name: `${runtime} TLS`,
    listen,
    connect,
    listenOptions: { hostname: "127.0.0.1", port: 0, tls: { cert: certs.server.cert, key: certs.server.key } },
    connectOptions: { tls: { ca: certs.ca, serverName: "localhost" } },
    size: 4 * MiB,
  },
  { name: "memory", listen: memory.listen, connect: memory.connect, listenOptions: { hostname: "127.0.0.1", port: 0 }, connectOptions: undefined, size: 4 * MiB },
];

/** A small seeded generator: the same "random" buffer sizes on every run. */
function sizes(seed: number): () => number {
  let s = seed;
  return () => {
    s = (s * 1103515245 + 12345) >>> 0;
    // Mostly small and odd-sized, sometimes large: every way a read can split a chunk.
    return (s >>> 8) % 8 === 0 ? 1 + ((s >>> 4) % (256 * 1024)) : 1 + ((s >>> 4) % 3000);
  };
}

for (const setup of setups) {
  describe(`conn.read(into) over ${setup.name}`, () => {
    /** A server that runs `serve` on each connection; a client connected to it. */
    async function pair(serve: (conn: Connection) => void | Promise<unknown>) {
      const server = await setup.listen(setup.listenOptions, async (c) => {
        await serve(c);
      });
      const conn = await setup.connect({ hostname: "127.0.0.1", port: portOf(server.address) }, setup.connectOptions);
      return { server, conn };
    }

    /** A server that sends `data` in writes of `piece` bytes, then closes. */
    function sender(data: Uint8Array, piece = 64 * 1024) {
      return pair(async (conn) => {
        for (let at = 0; at < data.length; at += piece) await conn.write(data.subarray(at, at + piece));
        await conn.close();
      });
    }

    it("fills buffers of random sizes with every byte, in order, then resolves null at EOF, and null again", async () => {
      const data = patternBytes(setup.size, 3);
      const { server, conn } = await sender(data, 50_000);
      const received = new Uint8Array(data.length);
      const next = sizes(7);
      let at = 0;
      for (;;) {
        const into = new Uint8Array(next());
        const n = await within(conn.read(into), "read");
        if (n === null) break;
        expect(n).toBeGreaterThan(0);
        expect(n).toBeLessThanOrEqual(into.length);
        expect(at + n).toBeLessThanOrEqual(data.length);
        received.set(into.subarray(0, n), at);
        at += n;
      }
      expect(at).toBe(data.length);
      expect(firstDifference(received, data)).toBe(-1);
      expect(await conn.read(new Uint8Array(16))).toBeNull();
      // EOF, with the whole input read, closes the connection (allowHalfOpen is off).
      expect(await within(conn.closed, "closed")).toBeUndefined();
      expect(await conn.read(new Uint8Array(16))).toBeNull();
      await server.close();
    });

    it("reuses one buffer: each read's bytes are the next ones in the stream", async () => {
      const data = patternBytes(2 * MiB, 11);
      const { server, conn } = await sender(data);
      const buf = new Uint8Array(64 * 1024);
      let at = 0;
      for (let n; (n = await within(conn.read(buf), "read")) !== null; at += n) {
        expect(firstDifference(buf.subarray(0, n), data.subarray(at, at + n))).toBe(-1);
      }
      expect(at).toBe(data.length);
      await server.close();
    });

    it("rejects with the connection's NetError after a failure, on the pending read and every later one", async () => {
      const { server, conn } = await pair(() => {});
      const pending = conn.read(new Uint8Array(1024));
      const failure = new NetError("ECONNRESET", "test failure");
      conn.destroy(failure);
      await expect(within(pending, "pending read")).rejects.toBe(failure);
      await expect(conn.read(new Uint8Array(1024))).rejects.toBe(failure);
      expect(await conn.closed).toBe(failure);
      await server.close();
    });

    it("settles a pending read with null when close() is called", async () => {
      const { server, conn } = await pair((c) => c.closed);
      const pending = conn.read(new Uint8Array(1024));
      await within(conn.close(), "close");
      expect(await within(pending, "pending read")).toBeNull();
      await server.close();
    });

    it("refuses a second read, or an iteration step, while one is pending; the first still gets the bytes", async () => {
      let peer!: Connection;
      const { server, conn } = await pair((c) => {
        peer = c;
        return c.closed;
      });
      await until(() => peer !== undefined, "accept");
      const into = new Uint8Array(100);
      const first = conn.read(into);
      await expect(conn.read(new Uint8Array(10))).rejects.toMatchObject({ code: "ERR_INVALID_STATE" });
      await expect(conn[Symbol.asyncIterator]().next()).rejects.toMatchObject({ code: "ERR_INVALID_STATE" });
      await peer.write("hello");
      const n = await within(first, "first read");
      expect(new TextDecoder().decode(into.subarray(0, n!))).toBe("hello".slice(0, n!));
      await conn.close();
      await server.close();
    });

    it("refuses a read while an iteration step is pending", async () => {
      let peer!: Connection;
      const { server, conn } = await pair((c) => {
        peer = c;
        return c.closed;
      });
      await until(() => peer !== undefined, "accept");
      const step = conn[Symbol.asyncIterator]().next();
      await expect(conn.read(new Uint8Array(10))).rejects.toMatchObject({ code: "ERR_INVALID_STATE" });
      await peer.write("x");
      expect(new TextDecoder().decode((await within(step, "iteration step")).value)).toBe("x");
      await conn.close();
      await server.close();
    });

    it("refuses an empty or missing buffer with ERR_INVALID_OPTION", async () => {
      const { server, conn } = await pair((c) => c.closed);
      await expect(conn.read(new Uint8Array(0))).rejects.toMatchObject({ code: "ERR_INVALID_OPTION" });
      await expect(conn.read(undefined as unknown as Uint8Array)).rejects.toMatchObject({ code: "ERR_INVALID_OPTION" });
      await conn.close();
      await server.close();
    });

    it("mixes with iteration: bytes that already arrived come first, and the stream stays in order", async () => {
      const data = patternBytes(3 * MiB, 5);
      const { server, conn } = await sender(data, 40_000);
      const received = new Uint8Array(data.length);
      let at = 0;
      // Let bytes pile up unread, so that the first reads are served from what arrived before anyone asked.
      await until(() => conn.bytesRead >= 100_000, "data arriving");
      const next = sizes(13);
      let round = 0;
      for (let done = false; !done; round++) {
        if (round % 2 === 0) {
          for (let i = 0; i < 5; i++) {
            const into = new Uint8Array(next());
            const n = await within(conn.read(into), "read");
            if (n === null) {
              done = true;
              break;
            }
            received.set(into.subarray(0, n), at);
            at += n;
          }
        } else {
          let steps = 0;
          for await (const chunk of conn) {
            received.set(chunk, at);
            at += chunk.length;
            if (++steps === 3) break;
          }
          if (steps < 3) done = true;
        }
      }
      expect(at).toBe(data.length);
      expect(firstDifference(received, data)).toBe(-1);
      await server.close();
    });

    it("waits while paused and reads after resume()", async () => {
      let peer!: Connection;
      const { server, conn } = await pair((c) => {
        peer = c;
        return c.closed;
      });
      await until(() => peer !== undefined, "accept");
      conn.pause();
      const into = new Uint8Array(64);
      const pending = conn.read(into);
      await peer.write("after resume");
      conn.resume();
      const n = await within(pending, "read after resume");
      expect(n).toBeGreaterThan(0);
      expect("after resume".startsWith(new TextDecoder().decode(into.subarray(0, n!)))).toBe(true);
      await conn.close();
      await server.close();
    });

    it("serves a server handler that reads its requests with read(into)", async () => {
      const data = patternBytes(MiB, 17);
      let got = -1;
      const server = await setup.listen(setup.listenOptions, async (c) => {
        const buf = new Uint8Array(7777);
        const expected = patternBytes(MiB, 17);
        let total = 0;
        for (let n; total < expected.length && (n = await c.read(buf)) !== null; total += n) {
          if (firstDifference(buf.subarray(0, n), expected.subarray(total, total + n)) !== -1) break;
        }
        got = total;
        await c.write(String(total));
      });
      const conn = await setup.connect({ hostname: "127.0.0.1", port: portOf(server.address) }, setup.connectOptions);
      for (let at = 0; at < data.length; at += 64 * 1024) await conn.write(data.subarray(at, at + 64 * 1024));
      conn.end();
      const reply = new Uint8Array(32);
      const n = await within(conn.read(reply), "reply");
      expect(new TextDecoder().decode(reply.subarray(0, n!))).toBe(String(data.length));
      expect(got).toBe(data.length);
      await conn.close();
      await server.close();
    });
  });
}
