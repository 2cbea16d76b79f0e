// The raw transport contract (src/transport.ts), checked with the same
// deterministic cases on the current runtime's adapter AND on the memory
// transport, in one run. Loopback only; every wait is bounded.
import { describe, expect, it } from "vitest";
import { memoryTransport } from "../adapters/memory.ts";
import type { ConnectOptions } from "../src/connect/connect.ts";
import { NetError } from "../src/errors.ts";
import { createNet } from "../src/net.ts";
import { dialRaw } from "../src/socket/dial.ts";
import type { RawStartTlsOptions } from "../src/tls.ts";
import type { RawHandlers, RawListener, RawSocket, Transport } from "../src/transport.ts";
import { concat, firstDifference, patternBytes } from "./helpers/bytes.ts";
import { testCerts } from "./helpers/certs.ts";
import { delay, runtime, tempSocketPath, transport as runtimeTransport } from "./helpers/runtime.ts";
import { startFixture } from "./helpers/spawn.ts";
import { until } from "./helpers/until.ts";

const KiB = 1024;
const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** What one socket's handlers saw, with every contract breach they noticed. */
interface Recorded {
  chunks: Uint8Array[];
  /** "data", "end", "drain", "close", "close:CODE", in order (consecutive data merged). */
  events: string[];
  drains: number;
  /** Events that came after onClose, or a second onEnd/onClose. Must stay empty. */
  violations: string[];
  ended: Promise<void>;
  closed: Promise<NetError | undefined>;
  isClosed(): boolean;
  bytes(): Uint8Array;
}

/** `onData` runs after each chunk is recorded (a test's protocol step). */
function record(socket: RawSocket, onData?: (chunk: Uint8Array) => void): Recorded {
  let onEnd!: () => void;
  let onClose!: (e: NetError | undefined) => void;
  let closed = false;
  const rec: Recorded = {
    chunks: [],
    events: [],
    drains: 0,
    violations: [],
    ended: new Promise((r) => (onEnd = r)),
    closed: new Promise((r) => (onClose = r)),
    isClosed: () => closed,
    bytes: () => concat(rec.chunks),
  };
  const note = (event: string): void => {
    if (closed) rec.violations.push(`${event} after onClose`);
    if (event === "data" && rec.events[rec.events.length - 1] === "data") return;
    rec.events.push(event);
  };
  const handlers: RawHandlers = {
    onData: (c) => {
      note("data");
      rec.chunks.push(c);
      onData?.(c);
    },
    onEnd: () => {
      if (rec.events.includes("end")) rec.violations.push("second onEnd");
      note("end");
      onEnd();
    },
    onDrain: () => {
      note("drain");
      rec.drains++;
    },
    onClose: (e) => {
      if (closed) rec.violations.push("second onClose");
      note(e ? `close:${e.code}` : "close");
      closed = true;
      onClose(e);
    },
  };
  socket.start(handlers);
  return rec;
}

/** Rejects, naming the step, if `promise` does not settle within `limitMs`. */
function bounded<T>(promise: Promise<T>, what: string, limitMs = 10_000): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${limitMs} ms: ${what}`)), limitMs);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

const loopback = { transport: "tcp", hostname: "127.0.0.1", port: 0 } as const;

function contract(name: string, transport: Transport): void {
  interface Pair {
    listener: RawListener;
    client: RawSocket;
    server: RawSocket;
    port: number;
  }

  /** A connected client/server pair, both unstarted. */
  async function pair(): Promise<Pair> {
    let accept!: (s: RawSocket) => void;
    const accepted = new Promise<RawSocket>((r) => (accept = r));
    const listener = await transport.listen({ address: loopback }, accept);
    if (listener.address.transport !== "tcp") throw new Error("expected a TCP listener");
    const port = listener.address.port;
    const client = await bounded(dialRaw(transport, { transport: "tcp", hostname: "127.0.0.1", port }), "connect");
    const server = await bounded(accepted, "accept");
    return { listener, client, server, port };
  }

  /** Tears a pair down whatever state it is in, and checks no handler broke the contract. */
  async function teardown(p: Pair, ...recs: Recorded[]): Promise<void> {
    p.client.destroy();
    p.server.destroy();
    await p.listener.close();
    for (const rec of recs) await bounded(rec.closed, "onClose after destroy");
    for (const rec of recs) expect(rec.violations).toEqual([]);
  }

  describe(`transport contract (${name})`, () => {
    it("listens on an ephemeral port and reports addresses", async () => {
      const p = await pair();
      expect(p.port).toBeGreaterThan(0);
      expect(p.listener.address).toMatchObject({ transport: "tcp", hostname: "127.0.0.1" });
      expect(p.client.remoteAddress).toMatchObject({ transport: "tcp", port: p.port });
      expect(p.server.localAddress).toMatchObject({ transport: "tcp", port: p.port });
      await teardown(p, record(p.client), record(p.server));
    });

    it("a Unix socket's listening side has the path as its address, the dialling side none (it is unnamed)", async () => {
      const path = tempSocketPath("ends");
      let accept!: (s: RawSocket) => void;
      const accepted = new Promise<RawSocket>((r) => (accept = r));
      const listener = await transport.listen({ address: { transport: "unix", path } }, accept);
      const client = await bounded(dialRaw(transport, { transport: "unix", path }), "connect");
      const server = await bounded(accepted, "accept");
      expect([client.localAddress, client.remoteAddress]).toEqual([undefined, { transport: "unix", path }]);
      expect([server.localAddress, server.remoteAddress]).toEqual([{ transport: "unix", path }, undefined]);
      await teardown({ listener, client, server, port: 0 }, record(client), record(server));
    });

    it("delivers data and EOF that arrived before start(), after it and in order, never inside start()", async () => {
      const p = await pair();
      const c = record(p.client);
      p.client.write(encoder.encode("early "));
      p.client.write(encoder.encode("bird"));
      p.client.end();
      await until(() => p.client.bufferedAmount === 0, "client flushed");
      await delay(50); // gives the bytes and the FIN time to reach the unstarted server; correctness does not depend on it
      const s = record(p.server);
      expect(s.events).toEqual([]); // nothing synchronously inside start()
      await bounded(s.ended, "server onEnd");
      expect(decoder.decode(s.bytes())).toBe("early bird");
      expect(s.events).toEqual(["data", "end"]);
      await teardown(p, c, s);
    });

    it("pause() stops delivery, data and EOF included; resume() delivers what was held, in order", async () => {
      const p = await pair();
      const c = record(p.client);
      const s = record(p.server);
      p.server.pause();
      const data = patternBytes(16 * KiB, 2); // fits in any peer's receive buffer, so the writer can flush it
      p.client.write(data);
      p.client.end();
      await until(() => p.client.bufferedAmount === 0, "client flushed");
      await delay(50);
      expect(s.events).toEqual([]);
      p.server.resume();
      await bounded(s.ended, "server onEnd after resume");
      expect(firstDifference(s.bytes(), data)).toBe(-1);
      expect(s.events).toEqual(["data", "end"]);
      await teardown(p, c, s);
    });

    it("half-closes both ways: each side writes after the other's EOF", async () => {
      const p = await pair();
      const c = record(p.client);
      const s = record(p.server);
      p.client.write(encoder.encode("question"));
      p.client.end();
      await bounded(s.ended, "server onEnd");
      expect(decoder.decode(s.bytes())).toBe("question");
      p.server.write(encoder.encode("answer"));
      p.server.end();
      await bounded(c.ended, "client onEnd");
      expect(decoder.decode(c.bytes())).toBe("answer");
      // With both directions shut, a runtime may release the socket by itself; it stays clean either way.
      p.client.close();
      p.server.close();
      expect(await bounded(c.closed, "client onClose")).toBeUndefined();
      expect(await bounded(s.closed, "server onClose")).toBeUndefined();
      expect(c.events).toEqual(["data", "end", "close"]);
      expect(s.events).toEqual(["data", "end", "close"]);
      await teardown(p, c, s);
    });

    it("close() after the peer's EOF, with nothing left to send: the peer still gets EOF, then both close cleanly", async () => {
      const p = await pair();
      const c = record(p.client);
      const s = record(p.server);
      p.client.write(encoder.encode("bye"));
      p.client.end();
      await bounded(s.ended, "server onEnd");
      // The kernel may skip the separate shutdown here: releasing the socket must send the FIN itself.
      p.server.close();
      await bounded(c.ended, "client onEnd after the server's close");
      expect(await bounded(s.closed, "server onClose")).toBeUndefined();
      p.client.close();
      expect(await bounded(c.closed, "client onClose")).toBeUndefined();
      expect(c.events).toEqual(["end", "close"]);
      await teardown(p, c, s);
    });

    it("close() flushes first: the peer receives every byte of a large write, then EOF", async () => {
      const p = await pair();
      const c = record(p.client);
      const s = record(p.server);
      const data = patternBytes(8 * 1024 * KiB, 4);
      expect(p.client.write(data)).toBe(false); // far above the high watermark
      expect(p.client.bufferedAmount).toBeGreaterThan(0);
      p.client.close();
      await bounded(s.ended, "server onEnd", 20_000);
      expect(s.bytes().length).toBe(data.length);
      expect(firstDifference(s.bytes(), data)).toBe(-1);
      expect(s.events).toEqual(["data", "end"]);
      p.server.close(); // the client is lingering for this EOF
      expect(await bounded(c.closed, "client onClose")).toBeUndefined();
      expect(await bounded(s.closed, "server onClose")).toBeUndefined();
      await teardown(p, c, s);
    });

    it("write() returns false against a peer that does not read, and onDrain follows once it reads", async () => {
      const p = await pair();
      const c = record(p.client);
      const s = record(p.server);
      p.server.pause();
      const chunk = patternBytes(64 * KiB, 6);
      let writes = 0;
      // Fill until write() says false and no drain follows: the runtime's and the OS's buffers are
      // full too (a drain before that only means they took more). Bounded: 64 MiB.
      for (let round = 0; ; round++) {
        while (p.client.write(chunk)) {
          writes++;
          if (writes > 1024) throw new Error("write() never returned false against a peer that does not read");
          if (writes % 16 === 0) await delay(1);
        }
        writes++;
        const drains = c.drains;
        await delay(25);
        if (c.drains === drains) break;
        if (round > 1024) throw new Error("the writer kept draining although the peer does not read");
      }
      expect(p.client.bufferedAmount).toBeGreaterThanOrEqual(32 * KiB);
      const drainsBefore = c.drains;
      p.server.resume();
      await until(() => c.drains > drainsBefore, "onDrain after the peer read");
      expect(p.client.bufferedAmount).toBeLessThan(32 * KiB);
      p.client.end();
      await bounded(s.ended, "server onEnd", 20_000);
      const expected = concat(Array.from({ length: writes }, () => chunk));
      expect(s.bytes().length).toBe(expected.length);
      expect(firstDifference(s.bytes(), expected)).toBe(-1);
      await teardown(p, c, s);
    });

    it("destroy(error): onClose gets that error; the peer sees EOF or a reset", async () => {
      const p = await pair();
      const c = record(p.client);
      const s = record(p.server);
      p.client.write(encoder.encode("partial"));
      const error = new NetError("ETIMEDOUT", "gave up on the peer");
      p.client.destroy(error);
      expect(await bounded(c.closed, "client onClose")).toBe(error);
      expect(c.events).toEqual(["close:ETIMEDOUT"]);
      expect(p.client.write(encoder.encode("late"))).toBe(false);
      // The peer learns it one way or the other: a FIN, or a reset.
      await until(() => s.events.includes("end") || s.isClosed(), "peer saw EOF or reset");
      const last = s.events[s.events.length - 1]!;
      expect(["end", "close", "close:ECONNRESET", "close:EPIPE"]).toContain(last);
      await teardown(p, c, s);
    });

    const startTlsReason = transport.capabilities.clientStartTls;
    const tlsIt = startTlsReason === true ? it : it.skip;
    tlsIt(`flushes queued bytes in plain text before a STARTTLS handshake${startTlsReason === true ? "" : ` (skipped: ${startTlsReason})`}`, async () => {
      const certs = testCerts();
      const p = await pair();
      const s = record(p.server);
      const plain = patternBytes(256 * KiB, 8); // well past the watermark: most of it is still queued at startTls()
      const options: RawStartTlsOptions = {
        isServer: false,
        client: { serverName: "localhost", ca: [certs.ca], cert: undefined, key: undefined, alpn: undefined, rejectUnauthorized: true },
      };
      // As in SMTP or IMAP: the client upgrades right after reading the server's go-ahead.
      let upgrading: Promise<RawSocket> | undefined;
      const c = record(p.client, () => {
        if (upgrading !== undefined) return;
        p.client.write(plain);
        upgrading = p.client.startTls!(options);
        upgrading.catch(() => {});
      });
      p.server.write(encoder.encode("220 go ahead\r\n"));
      await until(() => upgrading !== undefined, "the client read the go-ahead");
      await until(() => s.bytes().length > plain.length, "plain bytes then the ClientHello");
      const received = s.bytes();
      expect(firstDifference(received.subarray(0, plain.length), plain)).toBe(-1);
      expect(received[plain.length]).toBe(0x16); // a TLS handshake record follows the plain text
      // Our server never answers the handshake: the upgrade fails, and the old handlers hear nothing.
      p.server.destroy();
      const outcome = await bounded(upgrading!.then(() => "upgraded", (e: unknown) => e), "startTls settles");
      expect(outcome).toBeInstanceOf(NetError);
      await delay(20);
      // The go-ahead and a drain for the flushed plain text; nothing after the upgrade began.
      expect(c.events.filter((e) => e !== "drain")).toEqual(["data"]);
      p.client.destroy();
      await p.listener.close();
      expect(s.violations).toEqual([]);
      expect(c.violations).toEqual([]);
    });

    it("refuses a connect nobody listens for: ECONNREFUSED", async () => {
      const p = await pair();
      await teardown(p, record(p.client), record(p.server));
      const err = await dialRaw(transport, { transport: "tcp", hostname: "127.0.0.1", port: p.port }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(NetError);
      expect((err as NetError).code).toBe("ECONNREFUSED");
    });
  });
}

/** A connect that never completes, until given up: its address and options, and how to end it. */
interface Hanging {
  readonly address: string;
  readonly options: ConnectOptions;
  stop(): Promise<void>;
}

/** A listener whose accept queue is full: the kernel drops the SYN, and the connect hangs. */
async function fullBacklog(): Promise<Hanging> {
  const blackhole = await startFixture("deno", "test/fixtures/full-backlog.ts");
  return { address: `127.0.0.1:${blackhole.firstLine}`, options: {}, stop: async () => void (await blackhole.stop()) };
}

/**
 * In memory a connect completes on the next macrotask: it hangs only while its name resolves,
 * here never.
 */
async function unansweredLookup(): Promise<Hanging> {
  return { address: "blackhole.test:7000", options: { lookup: () => new Promise<never>(() => {}) }, stop: async () => {} };
}

/** `error` is exactly the NetError the core builds for this failure: code, message, address and cause. */
function expectConnectError(error: unknown, code: string, message: string, address: string, cause: unknown): void {
  expect(error).toBeInstanceOf(NetError);
  expect(error).toMatchObject({ code, address, message: `${code}: ${message} (${address})` });
  expect((error as Error).cause).toBe(cause);
}

/**
 * How a connect fails, through `createNet(transport).connect`: the same error on every transport,
 * whatever its runtime reported or how it gave the attempt up.
 */
function connectFailures(name: string, transport: Transport, hang: () => Promise<Hanging>): void {
  const net = createNet(transport);
  const failure = (attempt: Promise<unknown>, what: string): Promise<unknown> => bounded(attempt.then(() => new Error(`${what}: connected`), (e: unknown) => e), what);

  describe(`connect failures (${name})`, () => {
    it("aborted before the connect completed: ABORT_ERR \"connect aborted\", the signal's reason as cause", async () => {
      const listener = await transport.listen({ address: loopback }, (socket) => socket.destroy());
      const address = `127.0.0.1:${(listener.address as { port: number }).port}`;
      const reason = new Error("changed my mind");
      const controller = new AbortController();
      const pending = net.connect(address, { signal: controller.signal });
      controller.abort(reason);
      expectConnectError(await failure(pending, "abort"), "ABORT_ERR", "connect aborted", address, reason);
      // A signal that had aborted already: the same error, before any socket exists.
      expectConnectError(await failure(net.connect(address, { signal: AbortSignal.abort(reason) }), "early abort"), "ABORT_ERR", "connect aborted", address, reason);
      await listener.close();
    });

    it("aborted while the connect hangs: the same ABORT_ERR", async () => {
      const target = await hang();
      try {
        const reason = new Error("shutting down");
        const controller = new AbortController();
        const pending = net.connect(target.address, { ...target.options, signal: controller.signal });
        await delay(50);
        controller.abort(reason);
        expectConnectError(await failure(pending, "abort"), "ABORT_ERR", "connect aborted", target.address, reason);
      } finally {
        await target.stop();
      }
    }, 30_000);

    it("timed out: ETIMEDOUT \"connect timed out after N ms\", without a cause", async () => {
      const target = await hang();
      try {
        const error = await failure(net.connect(target.address, { ...target.options, timeout: 200 }), "timeout");
        expectConnectError(error, "ETIMEDOUT", "connect timed out after 200 ms", target.address, undefined);
      } finally {
        await target.stop();
      }
    }, 30_000);

    it("refused: ECONNREFUSED \"connection refused\", with the runtime's own error (if any) as cause", async () => {
      const listener = await transport.listen({ address: loopback }, (socket) => socket.destroy());
      const address = `127.0.0.1:${(listener.address as { port: number }).port}`;
      await listener.close();
      const error = await failure(net.connect(address), "refused");
      const cause = (error as Error).cause;
      expectConnectError(error, "ECONNREFUSED", "connection refused", address, cause);
      expect(cause === undefined || (cause instanceof Error && !(cause instanceof NetError))).toBe(true);
    });
  });
}

contract(runtime, runtimeTransport);
contract("memory", memoryTransport);
connectFailures(runtime, runtimeTransport, fullBacklog);
connectFailures("memory", memoryTransport, unansweredLookup);
