// conn.forEach(fn): the callback way to receive, over the current runtime's
// transport (plain and TLS) and the memory transport, on Node, Deno and Bun;
// the delivery and recycle rules against a scripted raw socket. Loopback
// only; every wait is bounded.
import { describe, expect, it } from "vitest";
import * as memory from "../adapters/memory.ts";
import { Connection } from "../src/connection.ts";
import { framed, FramingError, lengthPrefixed, NetError, type Net } from "../src/mod.ts";
import type { ConnectOptions } from "../src/connect/connect.ts";
import type { ListenOptions } from "../src/server/server.ts";
import type { RawHandlers, RawSocket } from "../src/transport.ts";
import { concat, patternBytes, sha256 } from "./helpers/bytes.ts";
import { testCerts } from "./helpers/certs.ts";
import { connect, delay, listen, portOf, runtime } from "./helpers/runtime.ts";
import { startFixture } from "./helpers/spawn.ts";
import { until, within } from "./helpers/until.ts";

const MiB = 1024 * 1024;
const certs = testCerts();
const decoder = new TextDecoder();

interface Setup {
  readonly name: string;
  readonly listen: Net["listen"];
  readonly connect: Net["connect"];
  readonly listenOptions: ListenOptions;
  readonly connectOptions: ConnectOptions | undefined;
}

const setups: Setup[] = [
  { name: runtime, listen, connect, listenOptions: { hostname: "127.0.0.1", port: 0 }, connectOptions: undefined },
  {
    name: `${runtime} TLS`,
    listen,
    connect,
    listenOptions: { hostname: "127.0.0.1", port: 0, tls: { cert: certs.server.cert, key: certs.server.key } },
    connectOptions: { tls: { ca: certs.ca, serverName: "localhost" } },
  },
  { name: "memory", listen: memory.listen, connect: memory.connect, listenOptions: { hostname: "127.0.0.1", port: 0 }, connectOptions: undefined },
];

for (const setup of setups) {
  describe(`conn.forEach over ${setup.name}`, () => {
    async function pair(serve: (conn: Connection) => void | Promise<unknown>) {
      const server = await setup.listen(setup.listenOptions, async (c) => {
        await serve(c);
      });
      const conn = await setup.connect({ hostname: "127.0.0.1", port: portOf(server.address) }, setup.connectOptions);
      return { server, conn };
    }

    /** A server that sends `data` in writes of 64 KiB, then closes. */
    function sender(data: Uint8Array) {
      return pair(async (conn) => {
        for (let at = 0; at < data.length; at += 64 * 1024) await conn.write(data.subarray(at, at + 64 * 1024));
        await conn.close();
      });
    }

    it("gives every byte in order and resolves at the peer's EOF", async () => {
      const data = patternBytes(4 * MiB, 3);
      const { server, conn } = await sender(data);
      const chunks: Uint8Array[] = [];
      await within(
        conn.forEach((chunk) => {
          chunks.push(chunk);
        }),
        "forEach",
      );
      expect(await sha256(concat(chunks))).toBe(await sha256(data));
      expect(conn.bytesRead).toBe(data.length);
      // EOF closed the connection, as the end of a `for await` loop does.
      expect(await within(conn.closed, "closed")).toBeUndefined();
      await server.close();
    });

    it("gives the chunks that arrived before the call first, in order", async () => {
      let sendRest!: () => void;
      const rest = new Promise<void>((resolve) => (sendRest = resolve));
      const { server, conn } = await pair(async (c) => {
        await c.write("first ");
        await c.write("second ");
        await rest;
        await c.write("third");
        await c.close();
      });
      // Received and queued, nobody reading yet.
      await until(() => conn.bytesRead === 13, "the first two writes");
      let text = "";
      const done = conn.forEach((chunk) => {
        text += decoder.decode(chunk);
      });
      expect(text).toBe("first second ");
      sendRest();
      await within(done, "forEach");
      expect(text).toBe("first second third");
      await server.close();
    });

    it("waits for the promise fn returns: one call at a time, nothing lost, reading resumes", async () => {
      const data = patternBytes(2 * MiB, 7);
      const { server, conn } = await sender(data);
      const chunks: Uint8Array[] = [];
      let running = 0;
      let overlapped = false;
      let calls = 0;
      await within(
        conn.forEach(async (chunk) => {
          if (running++ > 0) overlapped = true;
          chunks.push(chunk.slice());
          if (calls++ % 8 === 0) await delay(1);
          else await Promise.resolve();
          running--;
        }),
        "forEach",
      );
      expect(overlapped).toBe(false);
      expect(await sha256(concat(chunks))).toBe(await sha256(data));
      await server.close();
    });

    it("fn throws: forEach rejects with its error, the connection stays open and readable", async () => {
      const { server, conn } = await pair(async (c) => {
        for await (const chunk of c) await c.write(chunk);
      });
      const boom = new Error("handler failed");
      await conn.write("one");
      const failed = conn.forEach(() => {
        throw boom;
      });
      await expect(within(failed, "forEach")).rejects.toBe(boom);
      expect(conn.isWritable).toBe(true);
      await conn.write("two");
      // A later reader gets what followed, and another forEach may start.
      let text = "";
      const stop = new Error("stop");
      const next = conn.forEach((chunk) => {
        text += decoder.decode(chunk);
        if (text.endsWith("two")) throw stop;
      });
      await expect(within(next, "second forEach")).rejects.toBe(stop);
      expect(conn.isClosed).toBe(false);
      await conn.close();
      await server.close();
    });

    it("fn's promise rejects: forEach rejects with that error and the connection stays open", async () => {
      const { server, conn } = await pair(async (c) => {
        for await (const chunk of c) await c.write(chunk);
      });
      await conn.write("ping");
      const boom = new Error("async handler failed");
      await expect(
        within(
          conn.forEach(async () => {
            await delay(1);
            throw boom;
          }),
          "forEach",
        ),
      ).rejects.toBe(boom);
      await conn.write("pong");
      let text = "";
      for await (const chunk of conn) {
        text += decoder.decode(chunk);
        if (text.includes("pong")) break;
      }
      expect(text).toContain("pong");
      await conn.close();
      await server.close();
    });

    it("rejects with the connection's error when it fails", async () => {
      const { server, conn } = await pair((c) => c.forEach(() => {}).catch(() => {}));
      const reading = conn.forEach(() => {});
      conn.destroy(new NetError("ECONNRESET", "reset by the test"));
      const error = await within(reading, "forEach").catch((e: unknown) => e);
      expect(error).toBeInstanceOf(NetError);
      expect((error as NetError).code).toBe("ECONNRESET");
      await server.close();
    });

    it("resolves when the connection is closed here while reading", async () => {
      const { server, conn } = await pair((c) => c.forEach(() => {}).catch(() => {}));
      const reading = conn.forEach(() => {});
      await conn.close();
      await expect(within(reading, "forEach")).resolves.toBeUndefined();
      await server.close();
    });

    it("is the one reader: other readers, and a second forEach, get ERR_INVALID_STATE", async () => {
      const { server, conn } = await pair(async (c) => {
        for await (const chunk of c) await c.write(chunk);
      });
      let echoed = "";
      const reading = conn.forEach((chunk) => {
        echoed += decoder.decode(chunk);
      });
      await expect(conn.read(new Uint8Array(8))).rejects.toMatchObject({ code: "ERR_INVALID_STATE" });
      const iterator = conn[Symbol.asyncIterator]();
      await expect(iterator.next()).rejects.toMatchObject({ code: "ERR_INVALID_STATE" });
      await expect(conn.forEach(() => {})).rejects.toMatchObject({ code: "ERR_INVALID_STATE", message: expect.stringContaining("forEach") });
      // Leaving the refused loop does not stop forEach.
      await iterator.return!();
      await conn.write("still read");
      await until(() => echoed === "still read", "the echo, through forEach");
      await conn.close();
      await within(reading, "forEach");
      await server.close();
    });

    it("refuses to start while a read(into) is pending, and a non-function with a TypeError", async () => {
      const { server, conn } = await pair((c) => c.forEach(() => {}).catch(() => {}));
      const pending = conn.read(new Uint8Array(8));
      await expect(conn.forEach(() => {})).rejects.toMatchObject({ code: "ERR_INVALID_STATE" });
      const wrong = await conn.forEach("not a function" as unknown as () => void).catch((e: unknown) => e);
      expect(wrong).toBeInstanceOf(TypeError);
      expect((wrong as TypeError).message).toContain("function");
      await conn.close();
      expect(await within(pending, "read")).toBeNull();
      await server.close();
    });
  });
}

describe(`conn.forEach and STARTTLS (${runtime})`, () => {
  it("reads the plain-text exchange, then the upgraded connection, with no byte lost", async () => {
    // A Node STARTTLS server for every runtime (Deno cannot be its server side).
    const peer = await startFixture("node", "test/fixtures/tls-server.ts", ["starttls", certs.dir]);
    try {
      const plain = await connect(`127.0.0.1:${Number(peer.firstLine)}`);
      /** Reads with forEach until `line`, leaving by a throw (as `break` leaves a loop). */
      const readLine = async (conn: Connection, line: string): Promise<string> => {
        let text = "";
        const seen = new Error("seen");
        const error = await conn
          .forEach((chunk) => {
            text += decoder.decode(chunk);
            if (text.endsWith(line)) throw seen;
          })
          .catch((e: unknown) => e);
        expect(error).toBe(seen);
        return text;
      };
      expect(await within(readLine(plain, "ready\r\n"), "greeting")).toMatch(/^220 .*ready\r\n$/);
      await plain.write("STARTTLS\r\n");
      expect(await within(readLine(plain, "go ahead\r\n"), "go ahead")).toBe("220 go ahead\r\n");
      const secure = await within(plain.startTls({ ca: certs.ca, serverName: "localhost" }), "startTls");
      expect(secure.tls?.authorized).toBe(true);
      let echoed = "";
      const reading = secure.forEach((chunk) => {
        echoed += decoder.decode(chunk);
      });
      await secure.write("now encrypted");
      await until(() => echoed === "now encrypted", "the echo");
      // The plain object is spent: reading it says why.
      await expect(plain.forEach(() => {})).rejects.toMatchObject({ code: "ERR_SOCKET_CLOSED", message: expect.stringContaining("upgraded") });
      secure.end();
      await within(reading, "forEach on the TLS connection");
      await plain.close();
    } finally {
      await peer.stop();
    }
  });
});

/** A raw socket the test drives: it records pause/resume and the chunks given back. */
class ScriptedRaw implements RawSocket {
  handlers: RawHandlers | undefined;
  readonly events: string[] = [];
  readonly recycled: Uint8Array[] = [];
  readonly bufferedAmount = 0;
  readonly localAddress = undefined;
  readonly remoteAddress = undefined;
  readonly recycle = (chunk: Uint8Array): void => {
    this.recycled.push(chunk);
  };
  start(handlers: RawHandlers): void {
    this.handlers = handlers;
  }
  write(): boolean {
    return true;
  }
  end(): void {}
  close(): void {
    this.handlers?.onClose(undefined);
  }
  destroy(error?: NetError): void {
    this.handlers?.onClose(error);
  }
  pause(): void {
    this.events.push("pause");
  }
  resume(): void {
    this.events.push("resume");
  }
  setNoDelay(): void {}
  setKeepAlive(): void {}
}

describe("conn.forEach delivery (scripted socket)", () => {
  it("calls fn synchronously from the socket's delivery, with no microtask between chunks", async () => {
    const raw = new ScriptedRaw();
    const conn = new Connection(raw, "scripted");
    const seen: number[] = [];
    const done = conn.forEach((chunk) => {
      seen.push(chunk[0]!);
    });
    raw.handlers!.onData(Uint8Array.of(1));
    raw.handlers!.onData(Uint8Array.of(2));
    expect(seen).toEqual([1, 2]);
    raw.handlers!.onEnd();
    await within(done, "forEach");
  });

  it("a promise from fn pauses the socket until it settles; chunks delivered meanwhile wait their turn", async () => {
    const raw = new ScriptedRaw();
    const conn = new Connection(raw, "scripted");
    const seen: number[] = [];
    let release!: () => void;
    const done = conn.forEach((chunk) => {
      seen.push(chunk[0]!);
      if (chunk[0] === 1) return new Promise<void>((resolve) => (release = resolve));
    });
    raw.handlers!.onData(Uint8Array.of(1));
    expect(raw.events.at(-1)).toBe("pause");
    // A runtime may still hand over a chunk it had in flight.
    raw.handlers!.onData(Uint8Array.of(2));
    expect(seen).toEqual([1]);
    release();
    await until(() => seen.length === 2, "the waiting chunk");
    expect(seen).toEqual([1, 2]);
    expect(raw.events.at(-1)).toBe("resume");
    raw.handlers!.onEnd();
    await within(done, "forEach");
  });

  it("borrowed chunks go back when fn returns, or when its promise settles", async () => {
    const raw = new ScriptedRaw();
    const conn = new Connection(raw, "scripted", { borrowedChunks: true });
    const first = Uint8Array.of(1);
    const second = Uint8Array.of(2);
    let release!: () => void;
    let recycledDuringCall = -1;
    const done = conn.forEach((chunk) => {
      recycledDuringCall = raw.recycled.length;
      if (chunk === second) return new Promise<void>((resolve) => (release = resolve));
    });
    raw.handlers!.onData(first);
    expect(recycledDuringCall).toBe(0);
    expect(raw.recycled).toEqual([first]);
    raw.handlers!.onData(second);
    await delay(1);
    // Still lent: the promise fn returned has not settled.
    expect(raw.recycled).toEqual([first]);
    release();
    await until(() => raw.recycled.length === 2, "the second chunk given back");
    expect(raw.recycled[1]).toBe(second);
    raw.handlers!.onEnd();
    await within(done, "forEach");
  });

  it("a chunk whose fn threw is given back too, and the socket reads on", async () => {
    const raw = new ScriptedRaw();
    const conn = new Connection(raw, "scripted", { borrowedChunks: true });
    const chunk = Uint8Array.of(9);
    const boom = new Error("boom");
    const done = conn.forEach(() => {
      throw boom;
    });
    raw.handlers!.onData(chunk);
    await expect(done).rejects.toBe(boom);
    expect(raw.recycled).toEqual([chunk]);
    // Later chunks queue for the next reader, in order.
    raw.handlers!.onData(Uint8Array.of(10));
    const next = await conn[Symbol.asyncIterator]().next();
    expect(next.value).toEqual(Uint8Array.of(10));
  });
});

describe("framed().forEach on a Connection: frames decoded inside the connection's delivery", () => {
  const codec = lengthPrefixed({ maxFrameLength: 16 });
  /** The wire bytes of one length-prefixed frame holding `bytes`. */
  const frame = (...bytes: number[]): Uint8Array => Uint8Array.of(0, 0, 0, bytes.length, ...bytes);

  it("decodes frames cut across chunks as the chunks are delivered, with no wait between them", async () => {
    const raw = new ScriptedRaw();
    const conn = new Connection(raw, "scripted");
    const seen: number[] = [];
    const done = framed(conn, codec).forEach((f) => {
      seen.push(f[0]!);
    });
    const wire = new Uint8Array([...frame(1), ...frame(2), ...frame(3)]);
    raw.handlers!.onData(wire.subarray(0, 3));
    raw.handlers!.onData(wire.subarray(3, 7));
    // Given synchronously: no read promise between delivery and the callback.
    expect(seen).toEqual([1]);
    raw.handlers!.onData(wire.subarray(7));
    expect(seen).toEqual([1, 2, 3]);
    raw.handlers!.onEnd();
    await within(done, "forEach");
  });

  it("a promise from fn holds the frames after it and pauses the connection until it settles", async () => {
    const raw = new ScriptedRaw();
    const conn = new Connection(raw, "scripted");
    const seen: number[] = [];
    const gates: (() => void)[] = [];
    const done = framed(conn, codec).forEach((f) => {
      seen.push(f[0]!);
      if (f[0]! % 2 === 1) return new Promise<void>((resolve) => gates.push(resolve));
    });
    raw.handlers!.onData(new Uint8Array([...frame(1), ...frame(2), ...frame(3), ...frame(4)]));
    expect(seen).toEqual([1]);
    expect(raw.events.at(-1)).toBe("pause");
    raw.handlers!.onData(frame(5)); // in flight when the pause came
    gates.shift()!();
    await until(() => seen.length === 3, "frames 2 and 3");
    expect(seen).toEqual([1, 2, 3]);
    gates.shift()!();
    await until(() => seen.length === 5, "frames 4 and 5");
    expect(seen).toEqual([1, 2, 3, 4, 5]);
    gates.shift()!();
    await until(() => raw.events.at(-1) === "resume", "reading resumed");
    raw.handlers!.onEnd();
    await within(done, "forEach");
  });

  it("rejects with the framing error after the frames before it, and destroys the connection", async () => {
    const raw = new ScriptedRaw();
    const conn = new Connection(raw, "scripted");
    const seen: number[] = [];
    const done = framed(conn, codec).forEach((f) => {
      seen.push(f[0]!);
    });
    raw.handlers!.onData(new Uint8Array([...frame(7), ...frame(8), 0, 0, 0, 99]));
    await expect(within(done, "forEach")).rejects.toBeInstanceOf(FramingError);
    expect(seen).toEqual([7, 8]);
    expect(conn.isClosed).toBe(true);
  });

  it("rejects with fn's error and leaves the connection open", async () => {
    const raw = new ScriptedRaw();
    const conn = new Connection(raw, "scripted");
    const boom = new Error("handler failed");
    const done = framed(conn, codec).forEach(() => {
      throw boom;
    });
    raw.handlers!.onData(frame(1));
    await expect(within(done, "forEach")).rejects.toBe(boom);
    expect(conn.isClosed).toBe(false);
    expect(conn.isWritable).toBe(true);
  });

  it("rejects with the connection's error after the frames already delivered", async () => {
    const raw = new ScriptedRaw();
    const conn = new Connection(raw, "scripted");
    const seen: number[] = [];
    const done = framed(conn, codec).forEach((f) => {
      seen.push(f[0]!);
    });
    raw.handlers!.onData(frame(1));
    raw.handlers!.onClose(new NetError("ECONNRESET", "reset by the test"));
    await expect(within(done, "forEach")).rejects.toMatchObject({ code: "ECONNRESET" });
    expect(seen).toEqual([1]);
  });
});
