// The socket kernel's pull mode (RawSocket.readInto), against a driver the
// test controls: what was already read comes first, one request asks the
// driver for one read, push mode comes back with resume(). Also the
// Connection over it: a pull answered by a read the driver already had in
// flight is copied, and the caller's buffer is never handed out as a chunk.
import { describe, expect, it } from "vitest";
import { Connection } from "../src/connection.ts";
import { createRawSocket } from "../src/socket/socket.ts";
import type { RawHandlers, RawSocket } from "../src/transport.ts";
import { FakeDriver, ManualClock, settle } from "./helpers/fake-driver.ts";

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** A driver that reads into the caller's memory: it records each buffer offered, for the test to fill. */
class PullDriver extends FakeDriver {
  readonly offers: Uint8Array[] = [];
  readInto(into: Uint8Array): void {
    this.calls.push(`readInto(${into.length})`);
    this.offers.push(into);
  }
  /** Answers the last offer as a runtime read would: the bytes land in the caller's buffer. */
  fill(text: string): void {
    const into = this.offers[this.offers.length - 1]!;
    const bytes = encoder.encode(text);
    into.set(bytes);
    this.sink!.received(into.subarray(0, bytes.length));
  }
}

function started(): { raw: RawSocket; driver: PullDriver; log: string[] } {
  const driver = new PullDriver();
  const raw = createRawSocket(driver, { clock: new ManualClock() });
  const log: string[] = [];
  const handlers: RawHandlers = {
    onData: (c) => log.push(`data:${decoder.decode(c)}`),
    onEnd: () => log.push("end"),
    onDrain: () => log.push("drain"),
    onClose: (e) => log.push(e ? `close:${e.code}` : "close"),
  };
  raw.start(handlers);
  return { raw, driver, log };
}

describe("kernel: pull mode (readInto)", () => {
  it("is offered only where the driver reads into given memory", () => {
    expect(createRawSocket(new FakeDriver()).readInto).toBeUndefined();
    expect(typeof createRawSocket(new PullDriver()).readInto).toBe("function");
  });

  it("pauses push reading and asks the driver for one read into the buffer", async () => {
    const { raw, driver, log } = started();
    expect(driver.reading).toBe(true);
    const into = new Uint8Array(8);
    raw.readInto!(into);
    expect(driver.reading).toBe(false);
    expect(driver.offers).toEqual([into]);
    driver.fill("abc");
    expect(log).toEqual(["data:abc"]);
    await settle();
    // One request, one read: reading stays paused until the next request.
    expect(driver.reading).toBe(false);
    expect(driver.offers.length).toBe(1);
  });

  it("delivers what was held before the request first, without asking the driver", async () => {
    const { raw, driver, log } = started();
    raw.pause();
    driver.sink!.received(encoder.encode("early"));
    expect(log).toEqual([]);
    raw.readInto!(new Uint8Array(8));
    expect(driver.offers).toEqual([]);
    await settle();
    expect(log).toEqual(["data:early"]);
    // Pull mode: the replay does not restart push reading.
    expect(driver.reading).toBe(false);
    raw.readInto!(new Uint8Array(8));
    expect(driver.offers.length).toBe(1);
  });

  it("reports the peer's EOF once, as the answer to a request", async () => {
    const { raw, driver, log } = started();
    raw.readInto!(new Uint8Array(8));
    driver.sink!.peerEnded();
    driver.sink!.peerEnded();
    await settle();
    expect(log).toEqual(["end"]);
  });

  it("returns to push mode on resume()", () => {
    const { raw, driver } = started();
    raw.readInto!(new Uint8Array(8));
    expect(driver.reading).toBe(false);
    raw.resume();
    expect(driver.reading).toBe(true);
  });

  it("asks nothing of the driver once closing: the close report settles the reader", async () => {
    const { raw, driver, log } = started();
    raw.close();
    raw.readInto!(new Uint8Array(8));
    expect(driver.offers).toEqual([]);
    driver.sink!.peerEnded();
    await settle();
    expect(log).toEqual(["end", "close"]);
  });
});

describe("Connection.read(into) over a pulling kernel", () => {
  function connection(): { conn: Connection; driver: PullDriver } {
    const driver = new PullDriver();
    const conn = new Connection(createRawSocket(driver, { clock: new ManualClock() }), "test");
    return { conn, driver };
  }

  it("resolves with the count the driver read straight into the buffer", async () => {
    const { conn, driver } = connection();
    const into = new Uint8Array(16);
    const read = conn.read(into);
    expect(driver.offers).toEqual([into]);
    driver.fill("straight");
    expect(await read).toBe(8);
    expect(decoder.decode(into.subarray(0, 8))).toBe("straight");
  });

  it("copies a chunk from a read already in flight, and keeps what does not fit for the next read", async () => {
    const { conn, driver } = connection();
    const into = new Uint8Array(4);
    const first = conn.read(into);
    // The driver's own read was in flight: its chunk answers the request instead.
    driver.sink!.received(encoder.encode("in flight"));
    expect(await first).toBe(4);
    expect(decoder.decode(into)).toBe("in f");
    const rest = new Uint8Array(16);
    const n = await conn.read(rest);
    expect(decoder.decode(rest.subarray(0, n!))).toBe("light");
    // Served from what was queued: the driver was not asked again.
    expect(driver.offers.length).toBe(1);
  });

  it("lets iteration take over: push reading resumes and chunks come in order", async () => {
    const { conn, driver } = connection();
    const into = new Uint8Array(16);
    const read = conn.read(into);
    driver.fill("one");
    expect(await read).toBe(3);
    const it = conn[Symbol.asyncIterator]();
    const step = it.next();
    expect(driver.reading).toBe(true);
    driver.sink!.received(encoder.encode("two"));
    expect(decoder.decode((await step).value)).toBe("two");
  });
});
