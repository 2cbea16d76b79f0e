// The socket kernel (src/socket/socket.ts) against a fake driver: every RawSocket
// guarantee that is written once for all runtimes, checked deterministically:
// no network, no real timers (a manual clock drives linger and close timeouts).
import { describe, expect, it } from "vitest";
import { NetError, unsupported } from "../src/errors.ts";
import { createRawSocket } from "../src/socket/socket.ts";
import type { RawHandlers, RawSocket } from "../src/transport.ts";
import type { RawStartTlsOptions } from "../src/tls.ts";
import { concat, firstDifference, patternBytes } from "./helpers/bytes.ts";
import { FakeDriver, ManualClock, microtasks, settle } from "./helpers/fake-driver.ts";

const KiB = 1024;
const decoder = new TextDecoder();

interface Opened {
  raw: RawSocket;
  driver: FakeDriver;
  clock: ManualClock;
}

/** The one place that knows how the kernel takes its clock. */
function open(driver: FakeDriver = new FakeDriver(), clock: ManualClock = new ManualClock()): Opened {
  return { raw: createRawSocket(driver, { clock }), driver, clock };
}

/** Handlers that log every event as a string ("data:abc", "end", "drain", "close", "close:CODE"). */
class Events implements RawHandlers {
  readonly log: string[] = [];
  readonly chunks: Uint8Array[] = [];
  closeError: NetError | undefined;
  onData(chunk: Uint8Array): void {
    this.chunks.push(chunk);
    this.log.push(`data:${decoder.decode(chunk)}`);
  }
  onEnd(): void {
    this.log.push("end");
  }
  onDrain(): void {
    this.log.push("drain");
  }
  onClose(error: NetError | undefined): void {
    this.closeError = error;
    this.log.push(error ? `close:${error.code}` : "close");
  }
  /** The log with consecutive data entries merged (the kernel may split or join chunks). */
  merged(): string[] {
    const out: string[] = [];
    for (const e of this.log) {
      const last = out[out.length - 1];
      if (e.startsWith("data:") && last?.startsWith("data:")) out[out.length - 1] = last + e.slice(5);
      else out.push(e);
    }
    return out;
  }
  count(event: string): number {
    return this.log.filter((e) => e === event || e.startsWith(`${event}:`)).length;
  }
}

function started(driver?: FakeDriver, clock?: ManualClock): Opened & { events: Events } {
  const opened = open(driver, clock);
  const events = new Events();
  opened.raw.start(events);
  return { ...opened, events };
}

const tlsOptions: RawStartTlsOptions = {
  isServer: false,
  client: { serverName: "localhost", ca: undefined, cert: undefined, key: undefined, alpn: undefined, rejectUnauthorized: true },
};

describe("kernel: attach and pass-through", () => {
  it("attaches the driver before anything else and passes addresses, handshake and options through", async () => {
    const driver = new FakeDriver();
    const { raw } = open(driver);
    expect(driver.calls[0]).toBe("attach");
    expect(raw.localAddress).toEqual(driver.localAddress);
    expect(raw.remoteAddress).toEqual(driver.remoteAddress);
    expect(raw.tls).toBeUndefined();
    raw.setNoDelay(true);
    raw.setKeepAlive(true, 5000);
    expect(driver.calls).toContain("setNoDelay(true)");
    expect(driver.calls).toContain("setKeepAlive(true, 5000)");
  });

  it("exposes the driver's accept-time handshake", async () => {
    const driver = new FakeDriver();
    let done!: () => void;
    const handshake = new Promise<void>((r) => (done = r));
    Object.defineProperty(driver, "handshake", { value: handshake });
    const { raw } = open(driver);
    expect(raw.handshake).toBeDefined();
    done();
    await expect(raw.handshake).resolves.toBeUndefined();
  });
});

describe("kernel: delivery before and after start", () => {
  it("delivers data that arrived before start() after it, in order, never inside start()", async () => {
    const { raw, driver } = open();
    driver.receive("one ");
    driver.receive("two ");
    driver.receive("three");
    const events = new Events();
    raw.start(events);
    expect(events.log).toEqual([]); // not synchronously inside start()
    await settle();
    expect(events.merged()).toEqual(["data:one two three"]);
    driver.receive("four");
    await settle();
    expect(events.merged()).toEqual(["data:one two threefour"]);
  });

  it("pauses a driver whose runtime reads from the start at the first chunk it holds, once, and resumes it at start()", async () => {
    const { raw, driver } = open();
    driver.receive("early ");
    driver.receive("and more");
    expect(driver.calls).toEqual(["attach", "pauseReading"]);
    const events = new Events();
    raw.start(events);
    await settle();
    expect(events.merged()).toEqual(["data:early and more"]);
    expect(driver.calls).toEqual(["attach", "pauseReading", "resumeReading"]);
    // Told once: from here the driver reads only when the kernel says so, and held data no longer pauses it twice.
    raw.pause();
    driver.receive("in flight");
    expect(driver.calls.filter((c) => c === "pauseReading")).toHaveLength(2);
  });

  it("delivers EOF and close that happened before start() after the data, in order", async () => {
    const { raw, driver } = open();
    driver.receive("early");
    driver.peerEnd();
    driver.reportClosed();
    const events = new Events();
    raw.start(events);
    expect(events.log).toEqual([]);
    await settle();
    expect(events.merged()).toEqual(["data:early", "end", "close"]);
  });

  it("delivers a failure that happened before start() after it, once, last", async () => {
    const { raw, driver } = open();
    driver.receive("early");
    driver.reportClosed(new NetError("ECONNRESET", "connection reset by peer"));
    const events = new Events();
    raw.start(events);
    expect(events.log).toEqual([]);
    await settle();
    // A reset may discard unread input, as TCP does; the error itself is never lost.
    expect(events.log[events.log.length - 1]).toBe("close:ECONNRESET");
    expect(events.count("close")).toBe(1);
    expect(events.closeError).toBeInstanceOf(NetError);
  });

  it("replays each socket's early events to that socket's handlers, in order, when many sockets start at once", async () => {
    // The replays of many sockets are queued together: each must reach its own handlers, whatever else runs meanwhile.
    const sockets = Array.from({ length: 40 }, (_, i) => {
      const { raw, driver } = open();
      driver.receive(`s${i}a `);
      driver.receive(`s${i}b`);
      if (i % 2 === 0) driver.peerEnd();
      if (i % 4 === 0) driver.reportClosed();
      return { raw, events: new Events(), i };
    });
    const order: number[] = [];
    for (const { raw, events, i } of sockets) {
      raw.start({
        onData: (chunk) => {
          if (!order.includes(i)) order.push(i);
          events.onData(chunk);
        },
        onEnd: () => events.onEnd(),
        onDrain: () => events.onDrain(),
        onClose: (error) => events.onClose(error),
      });
      // Promise work of other code between two starts: it must not shift the sockets' replays.
      void Promise.resolve().then(() => undefined);
    }
    await settle();
    // In the order they were queued: a socket whose driver closed before start() was queued then, the others at start().
    const closedEarly = sockets.filter(({ i }) => i % 4 === 0).map(({ i }) => i);
    expect(order).toEqual([...closedEarly, ...sockets.filter(({ i }) => i % 4 !== 0).map(({ i }) => i)]);
    for (const { events, i } of sockets) {
      const tail = i % 4 === 0 ? ["end", "close"] : i % 2 === 0 ? ["end"] : [];
      expect(events.merged()).toEqual([`data:s${i}a s${i}b`, ...tail]);
    }
  });

  it("delivers an EOF that arrived before start() even with no data", async () => {
    const { raw, driver } = open();
    driver.peerEnd();
    const events = new Events();
    raw.start(events);
    expect(events.log).toEqual([]);
    await settle();
    expect(events.log).toEqual(["end"]);
  });

  it("refuses a second start()", () => {
    const { raw } = started();
    expect(() => raw.start(new Events())).toThrow();
  });
});

describe("kernel: pause and resume", () => {
  it("delivers nothing while paused, then what was held, in order, on resume", async () => {
    const { raw, driver, events } = started();
    driver.receive("a");
    await settle();
    raw.pause();
    expect(driver.calls).toContain("pauseReading");
    driver.receive("b"); // in flight when pause was asked for: held
    driver.receive("c");
    await settle();
    expect(events.merged()).toEqual(["data:a"]);
    raw.resume();
    await settle();
    expect(driver.calls.lastIndexOf("resumeReading")).toBeGreaterThan(driver.calls.indexOf("pauseReading"));
    driver.receive("d");
    await settle();
    expect(events.merged()).toEqual(["data:abcd"]);
  });

  it("holds an EOF behind held data until resume", async () => {
    const { raw, driver, events } = started();
    raw.pause();
    driver.receive("held");
    driver.peerEnd();
    await settle();
    expect(events.log).toEqual([]);
    raw.resume();
    await settle();
    expect(events.merged()).toEqual(["data:held", "end"]);
  });

  it("a pause before start() holds data past start() until resume", async () => {
    const { raw, driver } = open();
    raw.pause();
    driver.receive("early");
    const events = new Events();
    raw.start(events);
    await settle();
    expect(events.log).toEqual([]);
    raw.resume();
    await settle();
    expect(events.merged()).toEqual(["data:early"]);
  });
});

describe("kernel: EOF once, close once and last", () => {
  it("reports onEnd once even if the driver reports EOF twice", async () => {
    const { driver, events } = started();
    driver.peerEnd();
    driver.peerEnd();
    await settle();
    expect(events.count("end")).toBe(1);
  });

  it("reports onClose once and last: nothing after it", async () => {
    const { raw, driver, events } = started();
    driver.reportClosed(new NetError("ECONNRESET", "connection reset by peer"));
    await settle();
    expect(events.log).toEqual(["close:ECONNRESET"]);
    // A misbehaving runtime keeps talking; the kernel does not pass it on.
    driver.sink!.received(new TextEncoder().encode("late"));
    driver.sink!.peerEnded();
    driver.sink!.writable();
    driver.sink!.closed();
    raw.destroy();
    raw.close();
    raw.end();
    await settle();
    expect(events.log).toEqual(["close:ECONNRESET"]);
  });

  // A consumer that stopped reading must still see `closed` settle.
  it("reports destroy() and close() to a paused socket without waiting for resume()", async () => {
    const destroyed = started();
    destroyed.raw.pause();
    destroyed.driver.receive("held");
    destroyed.raw.destroy();
    const closing = started();
    closing.raw.pause();
    closing.driver.receive("held");
    closing.raw.close();
    closing.driver.peerEnd();
    await settle();
    expect(destroyed.events.log).toEqual(["close"]);
    expect(closing.events.log.at(-1)).toBe("close");
    expect(closing.events.log).not.toContain("data:held");
  });

  it("reports a failure to a paused socket at once: the error drops held input, nothing to wait for", async () => {
    const { raw, driver, events } = started();
    raw.pause();
    driver.receive("held");
    driver.reportClosed(new NetError("ECONNRESET", "connection reset by peer"));
    await settle();
    expect(events.log).toEqual(["close:ECONNRESET"]);
  });

  it("delivers data received before a close first, then onClose", async () => {
    const { driver, events } = started();
    driver.receive("last words");
    driver.peerEnd();
    driver.reportClosed();
    await settle();
    expect(events.merged()).toEqual(["data:last words", "end", "close"]);
  });
});

describe("kernel: a driver reports what its runtime says, the kernel filters", () => {
  it("passes on no EOF after a failure, even one reported in the same turn", async () => {
    const { driver, events } = started();
    driver.reportClosed(new NetError("ECONNRESET", "connection reset by peer"));
    driver.peerEnd();
    await settle();
    expect(events.log).toEqual(["close:ECONNRESET"]);
  });

  it("takes a clean close after our FIN, before the release, as the peer's EOF: onClose waits for close()", async () => {
    const { raw, driver, events } = started();
    raw.end();
    await settle();
    expect(driver.lifecycle()).toContain("shutdownWrite");
    // The runtime closed the socket by itself once both sides sent FIN (Bun does).
    driver.sink!.closed();
    await settle();
    expect(events.log).toEqual(["end"]);
    expect(driver.released).toBeUndefined();
    raw.close();
    await settle();
    expect(driver.lifecycle().filter((c) => c.startsWith("release"))).toEqual(["release(true)"]);
    expect(events.log).toEqual(["end", "close"]);
  });

  it("does not touch the driver's options while STARTTLS has detached it", async () => {
    const driver = new FakeDriver();
    driver.upgradeTo = new FakeDriver();
    const { raw } = started(driver);
    const upgrading = raw.startTls!(tlsOptions);
    await settle();
    raw.setNoDelay(false);
    raw.setKeepAlive(true, 1000);
    expect(driver.calls.filter((c) => c.startsWith("set"))).toEqual([]);
    driver.upgrade();
    await upgrading;
  });
});

describe("kernel: write queue and watermarks", () => {
  it("write() returns true below 64 KiB buffered and false at 64 KiB", () => {
    const driver = new FakeDriver();
    driver.budget = 0; // the runtime takes nothing: everything stays queued
    const { raw } = started(driver);
    expect(raw.write(new Uint8Array(64 * KiB - 1))).toBe(true);
    expect(raw.bufferedAmount).toBe(64 * KiB - 1);
    expect(raw.write(new Uint8Array(1))).toBe(false);
    expect(raw.bufferedAmount).toBe(64 * KiB);
    expect(raw.write(new Uint8Array(1))).toBe(false);
  });

  it("fires onDrain once buffered falls below 32 KiB, not at 63 KiB (hysteresis)", async () => {
    const driver = new FakeDriver();
    driver.budget = 0;
    const { raw, events } = started(driver);
    expect(raw.write(new Uint8Array(40 * KiB))).toBe(true);
    expect(raw.write(new Uint8Array(40 * KiB))).toBe(false); // 80 KiB queued
    driver.budget = 17 * KiB; // down to 63 KiB: below high, still above low
    driver.writable();
    await settle();
    expect(raw.bufferedAmount).toBe(63 * KiB);
    expect(events.count("drain")).toBe(0);
    driver.budget = 31 * KiB + 1; // down to 32 KiB - 1
    driver.writable();
    await settle();
    expect(raw.bufferedAmount).toBe(32 * KiB - 1);
    expect(events.count("drain")).toBe(1);
    driver.budget = Number.POSITIVE_INFINITY;
    driver.writable();
    await settle();
    expect(raw.bufferedAmount).toBe(0);
    expect(events.count("drain")).toBe(1); // once per false
    expect(driver.bytes().length).toBe(80 * KiB);
  });

  it("does not fire onDrain when write() never returned false", async () => {
    const driver = new FakeDriver();
    driver.budget = 0;
    const { raw, events } = started(driver);
    raw.write(new Uint8Array(10 * KiB));
    driver.budget = Number.POSITIVE_INFINITY;
    driver.writable();
    await settle();
    expect(raw.bufferedAmount).toBe(0);
    expect(events.count("drain")).toBe(0);
  });

  it("counts the driver's heldBytes in bufferedAmount and the watermarks", async () => {
    const driver = new FakeDriver();
    const { raw, events } = started(driver);
    driver.heldBytes = 70 * KiB; // a runtime that buffers itself (Node) holds 70 KiB
    expect(raw.bufferedAmount).toBe(70 * KiB);
    expect(raw.write(new Uint8Array(1))).toBe(false);
    await settle();
    expect(raw.bufferedAmount).toBe(70 * KiB); // the byte went to the runtime's buffer: heldBytes is what counts
    driver.heldBytes = 40 * KiB;
    driver.writable();
    await settle();
    expect(events.count("drain")).toBe(0); // 40 KiB: not below the low watermark yet
    driver.heldBytes = 0;
    driver.writable();
    await settle();
    expect(events.count("drain")).toBe(1);
  });

  it("coalesces small writes queued behind an outstanding write into one writeSome", async () => {
    const driver = new FakeDriver();
    driver.async = true;
    const { raw } = started(driver);
    raw.write(new TextEncoder().encode("first"));
    await settle();
    expect(driver.pending.length).toBe(1);
    for (let i = 0; i < 100; i++) raw.write(new TextEncoder().encode(`m${i};`));
    driver.pending.shift()!.take();
    await settle();
    expect(driver.pending.length).toBe(1); // one call for all 100 small writes
    const joined = Array.from({ length: 100 }, (_, i) => `m${i};`).join("");
    expect(decoder.decode(driver.pending[0]!.chunk)).toBe(joined);
    driver.pending.shift()!.take();
    await settle();
    expect(driver.text()).toBe(`first${joined}`);
    expect(raw.bufferedAmount).toBe(0);
  });

  it("coalesces at most 64 KiB into one writeSome", async () => {
    const driver = new FakeDriver();
    driver.async = true;
    const { raw } = started(driver);
    raw.write(new Uint8Array(1));
    await settle();
    const data = patternBytes(200 * KiB, 3);
    for (let at = 0; at < data.length; at += KiB) raw.write(data.subarray(at, at + KiB));
    for (let i = 0; i < 20 && driver.pending.length > 0; i++) {
      driver.pending.shift()!.take();
      await settle();
    }
    expect(driver.pending.length).toBe(0);
    const sizes = driver.offered.slice(1).map((c) => c.length);
    for (const size of sizes) expect(size).toBeLessThanOrEqual(64 * KiB);
    expect(sizes.length).toBeLessThanOrEqual(4); // 200 KiB in 64 KiB calls, not 200 calls
    expect(firstDifference(driver.bytes().subarray(1), data)).toBe(-1);
  });

  it("a short synchronous write waits for writable(), then sends the rest", async () => {
    const driver = new FakeDriver();
    driver.budget = 3;
    const { raw } = started(driver);
    raw.write(new TextEncoder().encode("hello world"));
    await settle();
    expect(driver.text()).toBe("hel");
    const callsBefore = driver.offered.length;
    await settle();
    expect(driver.offered.length).toBe(callsBefore); // no busy retry before writable()
    expect(raw.bufferedAmount).toBe(8);
    driver.budget = Number.POSITIVE_INFINITY;
    driver.writable();
    await settle();
    expect(driver.text()).toBe("hello world");
    expect(raw.bufferedAmount).toBe(0);
  });

  it("an async partial write is re-called with the rest at once", async () => {
    const driver = new FakeDriver();
    driver.async = true;
    const { raw } = started(driver);
    raw.write(new TextEncoder().encode("hello world"));
    await settle();
    driver.pending.shift()!.take(4);
    await settle();
    expect(driver.pending.length).toBe(1);
    expect(decoder.decode(driver.pending[0]!.chunk)).toBe("o world");
    driver.pending.shift()!.take();
    await settle();
    expect(driver.text()).toBe("hello world");
  });

  it("never loses or duplicates a byte over random partial sync and async writes", async () => {
    let seed = 12345;
    const rand = (n: number): number => {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff;
      return seed % n;
    };
    for (let round = 0; round < 30; round++) {
      const driver = new FakeDriver();
      const { raw } = started(driver);
      const sent: Uint8Array[] = [];
      for (let step = 0; step < 60; step++) {
        const action = rand(4);
        if (action <= 1) {
          const chunk = patternBytes(1 + rand(action === 0 ? 100 : 90 * KiB), round * 1000 + step + 1);
          sent.push(chunk);
          raw.write(chunk);
        } else if (action === 2) {
          // The runtime takes part of the outstanding write: sync budget or an async count.
          driver.budget = rand(3) === 0 ? 0 : rand(80 * KiB);
          driver.async = rand(2) === 0;
          const p = driver.pending.shift();
          if (p) p.take(rand(p.chunk.length + 1));
          else driver.writable();
        }
        await microtasks();
      }
      // Let everything through.
      driver.async = false;
      driver.budget = Number.POSITIVE_INFINITY;
      for (let i = 0; i < 1000 && (raw.bufferedAmount > 0 || driver.pending.length > 0); i++) {
        const p = driver.pending.shift();
        if (p) p.take();
        else driver.writable();
        await microtasks();
      }
      const expected = concat(sent);
      expect(raw.bufferedAmount).toBe(0);
      expect(firstDifference(driver.bytes(), expected)).toBe(-1);
    }
  });

  it("keeps at most one writeSome outstanding", async () => {
    const driver = new FakeDriver();
    driver.async = true;
    const { raw } = started(driver);
    for (let i = 0; i < 10; i++) raw.write(new Uint8Array(10 * KiB));
    await settle();
    expect(driver.pending.length).toBe(1);
  });
});

describe("kernel: end, close and destroy", () => {
  it("end(): shutdownWrite only after every queued byte was taken; reading goes on", async () => {
    const driver = new FakeDriver();
    driver.async = true;
    const { raw, events } = started(driver);
    raw.write(new TextEncoder().encode("request"));
    raw.end();
    await settle();
    expect(driver.calls).not.toContain("shutdownWrite");
    driver.pending.shift()!.take(3);
    await settle();
    expect(driver.calls).not.toContain("shutdownWrite");
    driver.pending.shift()!.take();
    await settle();
    expect(driver.lifecycle()).toContain("shutdownWrite");
    expect(driver.text()).toBe("request");
    expect(driver.released).toBeUndefined();
    driver.receive("response");
    driver.peerEnd();
    await settle();
    expect(events.merged()).toEqual(["data:response", "end"]);
  });

  it("close(): flush, shutdownWrite, then release(true) once the peer's EOF arrives", async () => {
    const driver = new FakeDriver();
    driver.async = true;
    const { raw, events } = started(driver);
    raw.write(new TextEncoder().encode("bye"));
    raw.close();
    await settle();
    expect(driver.calls).not.toContain("shutdownWrite");
    driver.pending.shift()!.take();
    await settle();
    expect(driver.lifecycle().slice(-1)).toEqual(["shutdownWrite"]);
    expect(driver.released).toBeUndefined(); // lingering for the peer's EOF
    driver.peerEnd();
    await settle();
    expect(driver.lifecycle().slice(-2)).toEqual(["shutdownWrite", "release(true)"]);
    expect(driver.text()).toBe("bye");
    expect(events.log[events.log.length - 1]).toBe("close");
    expect(events.count("close")).toBe(1);
  });

  it("close(): releases gracefully after a bounded linger when the peer never sends EOF", async () => {
    const { raw, driver, clock, events } = started();
    raw.write(new TextEncoder().encode("bye"));
    raw.close();
    await settle();
    expect(driver.lifecycle()).toContain("shutdownWrite");
    expect(driver.released).toBeUndefined();
    let waited = 0;
    while (driver.released === undefined && waited < 10 * 60_000) {
      clock.advance(100);
      waited += 100;
      await settle();
    }
    expect(driver.released).toBe(true);
    expect(events.log[events.log.length - 1]).toBe("close");
    expect(clock.pendingTimers).toBe(0); // every timer cleared on close
  });

  it("close() with a peer that never reads is bounded: release(false) and an error", async () => {
    const driver = new FakeDriver();
    driver.budget = 0;
    const { raw, clock, events } = started(driver);
    raw.write(new Uint8Array(100 * KiB));
    raw.close();
    await settle();
    expect(driver.calls).not.toContain("shutdownWrite");
    let waited = 0;
    while (driver.released === undefined && waited < 10 * 60_000) {
      clock.advance(100);
      waited += 100;
      await settle();
    }
    expect(driver.released).toBe(false);
    expect(driver.calls).not.toContain("shutdownWrite");
    expect(events.count("close")).toBe(1);
    expect(events.closeError).toBeInstanceOf(NetError);
    expect(events.closeError!.code).toMatch(/^[A-Z_]+$/);
    expect(clock.pendingTimers).toBe(0);
  });

  it("close() after the peer's EOF releases right after the flush, with no linger and no separate shutdown", async () => {
    const { raw, driver, events } = started();
    driver.peerEnd();
    await settle();
    raw.write(new TextEncoder().encode("last"));
    raw.close();
    await settle();
    // The release's close(2) sends the FIN: nothing is unread, and nothing is left to send.
    expect(new TextDecoder().decode(driver.offered.at(-1))).toBe("last");
    expect(driver.calls).not.toContain("shutdownWrite");
    expect(driver.lifecycle().at(-1)).toBe("release(true)");
    expect(events.log).toEqual(["end", "close"]);
  });

  it("close() after the peer's EOF on TLS still shuts down first: close_notify goes before the release", async () => {
    const driver = new FakeDriver();
    driver.tls = { alpnProtocol: undefined, tlsVersion: "TLSv1.3", peerCertificate: undefined, authorized: true };
    const { raw } = started(driver);
    driver.peerEnd();
    await settle();
    raw.close();
    await settle();
    expect(driver.lifecycle().slice(-2)).toEqual(["shutdownWrite", "release(true)"]);
  });

  it("destroy(): release(false) at once, queued bytes dropped", async () => {
    const driver = new FakeDriver();
    driver.budget = 0;
    const { raw, events } = started(driver);
    raw.write(new Uint8Array(10 * KiB));
    raw.destroy();
    expect(driver.released).toBe(false);
    expect(driver.calls).not.toContain("shutdownWrite");
    const offered = driver.offered.length;
    driver.budget = Number.POSITIVE_INFINITY;
    driver.sink!.writable();
    await settle();
    expect(driver.offered.length).toBe(offered);
    expect(raw.bufferedAmount).toBe(0);
    expect(events.log).toEqual(["close"]);
    expect(raw.write(new Uint8Array(1))).toBe(false);
  });

  it("destroy() reports what was lost: writes and bytes not taken (a write partly sent counts once)", async () => {
    const driver = new FakeDriver();
    driver.budget = 3;
    const { raw } = started(driver);
    raw.write(new TextEncoder().encode("0123456789")); // 3 bytes taken, 7 left
    raw.write(new TextEncoder().encode("abc"));
    raw.write(new TextEncoder().encode("de"));
    expect(raw.unsent).toBeUndefined();
    raw.destroy();
    expect(raw.unsent).toEqual({ writes: 3, bytes: 12 });
  });

  it("nothing is reported lost when everything was taken", async () => {
    const { raw } = started();
    raw.write(new TextEncoder().encode("all of it"));
    raw.destroy();
    expect(raw.unsent).toBeUndefined();
  });

  it("write() after end() or close() is refused with false and never reaches the driver", async () => {
    const { raw, driver } = started();
    raw.end();
    expect(raw.write(new TextEncoder().encode("late"))).toBe(false);
    await settle();
    expect(driver.offered.length).toBe(0);
    expect(raw.bufferedAmount).toBe(0);
  });

  it("close() after end() lingers for the peer's EOF without a second shutdownWrite", async () => {
    const { raw, driver, events } = started();
    raw.end();
    await settle();
    raw.close();
    raw.close();
    await settle();
    expect(driver.lifecycle().filter((c) => c === "shutdownWrite")).toEqual(["shutdownWrite"]);
    expect(driver.released).toBeUndefined();
    driver.peerEnd();
    await settle();
    expect(driver.lifecycle().slice(-2)).toEqual(["shutdownWrite", "release(true)"]);
    expect(events.log[events.log.length - 1]).toBe("close");
    expect(events.count("close")).toBe(1);
  });

  it("discards what arrives while lingering: the socket is closing", async () => {
    const { raw, driver, events } = started();
    raw.close();
    await settle();
    driver.receive("unwanted");
    driver.peerEnd();
    await settle();
    expect(driver.released).toBe(true);
    expect(events.log.filter((e) => e.startsWith("data"))).toEqual([]);
  });

  it("destroy(error): onClose gets the error", async () => {
    const { raw, events } = started();
    const error = new NetError("ETIMEDOUT", "idle for too long");
    raw.destroy(error);
    await settle();
    expect(events.log).toEqual(["close:ETIMEDOUT"]);
    expect(events.closeError).toBe(error);
  });

  it("destroy() during a graceful close drops the rest and releases at once", async () => {
    const driver = new FakeDriver();
    driver.budget = 0;
    const { raw, events } = started(driver);
    raw.write(new Uint8Array(10 * KiB));
    raw.close();
    await settle();
    raw.destroy();
    await settle();
    expect(driver.lifecycle().filter((c) => c.startsWith("release"))).toEqual(["release(false)"]);
    expect(events.count("close")).toBe(1);
  });

  it("tolerates a driver that reports closed later than release", async () => {
    const driver = new FakeDriver();
    driver.closeReport = "manual";
    const { raw, events } = started(driver);
    raw.destroy();
    await settle();
    driver.reportClosed();
    await settle();
    expect(events.count("close")).toBe(1);
    expect(driver.lifecycle().filter((c) => c.startsWith("release"))).toEqual(["release(false)"]);
  });
});

describe("kernel: STARTTLS", () => {
  function upgradable(): Opened & { events: Events; next: FakeDriver } {
    const driver = new FakeDriver();
    const next = new FakeDriver();
    driver.upgradeTo = next;
    driver.async = true;
    return { ...started(driver), next };
  }

  it("calls the driver's startTls only after every queued byte was taken", async () => {
    const { raw, driver, next } = upgradable();
    raw.write(new TextEncoder().encode("STARTTLS\r\n"));
    const upgrading = raw.startTls!(tlsOptions);
    await settle();
    expect(driver.calls).not.toContain("startTls");
    driver.pending.shift()!.take(4);
    await settle();
    expect(driver.calls).not.toContain("startTls");
    driver.pending.shift()!.take();
    await settle();
    expect(driver.calls).toContain("startTls");
    expect(driver.upgradeOptions).toBe(tlsOptions);
    expect(driver.text()).toBe("STARTTLS\r\n");
    driver.upgrade();
    const secure = await upgrading;
    expect(secure).not.toBe(raw);
    expect(next.calls[0]).toBe("attach");
  });

  it("the old handlers hear nothing more; the new socket works", async () => {
    const { raw, driver, next, events } = upgradable();
    driver.async = false;
    const upgrading = raw.startTls!(tlsOptions);
    await settle();
    expect(driver.calls).toContain("startTls");
    driver.upgrade();
    const secure = await upgrading;
    // The old driver misbehaves after the upgrade; nobody listens.
    driver.sink!.received(new TextEncoder().encode("old"));
    driver.sink!.peerEnded();
    driver.sink!.closed();
    await settle();
    expect(events.log).toEqual([]);
    next.receive("early secure");
    const secureEvents = new Events();
    secure.start(secureEvents);
    await settle();
    next.receive(" data");
    await settle();
    expect(secureEvents.merged()).toEqual(["data:early secure data"]);
    expect(secure.write(new TextEncoder().encode("over tls"))).toBe(true);
    await settle();
    expect(next.text()).toBe("over tls");
    expect(driver.text()).toBe("");
    secure.close();
    await settle();
    next.peerEnd();
    await settle();
    expect(next.released).toBe(true);
    expect(secureEvents.log.slice(-2)).toEqual(["end", "close"]);
    expect(events.log).toEqual([]);
  });

  it("ERR_UNSUPPORTED from the driver leaves the socket usable", async () => {
    const { raw, driver, events } = upgradable();
    driver.async = false;
    const upgrading = raw.startTls!(tlsOptions);
    await settle();
    driver.upgrade(unsupported("startTls", "not on this runtime"));
    await expect(upgrading).rejects.toMatchObject({ code: "ERR_UNSUPPORTED" });
    driver.receive("still here");
    await settle();
    expect(events.merged()).toEqual(["data:still here"]);
    expect(raw.write(new TextEncoder().encode("and writable"))).toBe(true);
    await settle();
    expect(driver.text()).toBe("and writable");
  });

  it("takes a driver handed over before its handshake: resolves once it is done, with what arrived meanwhile held", async () => {
    const { raw, driver, next } = upgradable();
    driver.async = false;
    let done!: () => void;
    next.handshake = new Promise<void>((resolve) => (done = resolve));
    const upgrading = raw.startTls!(tlsOptions);
    await settle();
    driver.upgrade();
    await settle();
    expect(next.calls[0]).toBe("attach");
    next.receive("first secure bytes");
    let secure: RawSocket | undefined;
    void upgrading.then((s) => (secure = s));
    await settle();
    expect(secure).toBeUndefined();
    done();
    await settle();
    const secureEvents = new Events();
    secure!.start(secureEvents);
    await settle();
    expect(secureEvents.merged()).toEqual(["data:first secure bytes"]);
  });

  it("a failed handshake rejects startTls() and releases both drivers; the old handlers hear nothing", async () => {
    const { raw, driver, next, events } = upgradable();
    driver.async = false;
    let fail!: (error: NetError) => void;
    next.handshake = new Promise<void>((_, reject) => (fail = reject));
    const upgrading = raw.startTls!(tlsOptions);
    await settle();
    driver.upgrade();
    await settle();
    fail(new NetError("ERR_TLS_CERT", "the peer's certificate was refused"));
    await expect(upgrading).rejects.toMatchObject({ code: "ERR_TLS_CERT" });
    expect(next.released).toBe(false);
    expect(driver.released).toBe(false);
    // The old driver reported its close (FakeDriver does so at release): the connection has its error already.
    await settle();
    expect(events.log).toEqual([]);
  });

  it("a socket whose driver has no TLS has no startTls, or one that refuses with ERR_UNSUPPORTED", async () => {
    const { raw } = started();
    if (raw.startTls) await expect(raw.startTls(tlsOptions)).rejects.toMatchObject({ code: "ERR_UNSUPPORTED" });
    else expect(raw.startTls).toBeUndefined();
  });
});
