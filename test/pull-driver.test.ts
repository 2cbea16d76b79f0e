// The core's PullDriver (src/socket/pull-driver.ts) over a fake socket whose reads the test
// answers: the loop parks while reading is paused, a pull read goes straight into the caller's
// buffer (or is answered by a read already in flight), `closed` comes only after every pending
// operation settled, the read-buffer policy, and recycled buffers are read into again.
import { describe, expect, it } from "vitest";
import { NetError, toNetError } from "../src/errors.ts";
import type { DriverSink } from "../src/socket/driver.ts";
import { PullDriver, type PullRuntime, type PullSocket, type PullUpgradeState } from "../src/socket/pull-driver.ts";
import { READ_BUFFER_SIZE } from "../src/socket/read-buffer.ts";
import { createRawSocket } from "../src/socket/socket.ts";
import { microtasks, settle } from "./helpers/fake-driver.ts";

interface PendingRead {
  readonly into: Uint8Array;
  /** Answers the read with `n` bytes (each byte = its index, mod 256), written into `into` as a runtime would. */
  fill(n: number): void;
  end(): void;
  fail(error: Error): void;
}

class FakeSocket implements PullSocket {
  readonly reads: PendingRead[] = [];
  readonly writes: Array<{ chunk: Uint8Array; take(): void; fail(e: Error): void }> = [];
  closes = 0;

  read(into: Uint8Array): Promise<number | null> {
    return new Promise((resolve, reject) => {
      this.reads.push({
        into,
        fill: (n) => {
          for (let i = 0; i < n; i++) into[i] = i & 0xff;
          resolve(n);
        },
        end: () => resolve(null),
        fail: reject,
      });
    });
  }

  write(chunk: Uint8Array): Promise<number> {
    return new Promise((resolve, reject) => this.writes.push({ chunk, take: () => resolve(chunk.length), fail: reject }));
  }

  closeWrite(): Promise<void> {
    return Promise.resolve();
  }

  close(): void {
    this.closes++;
  }

  /** The read the driver is waiting on now. */
  get last(): PendingRead {
    return this.reads[this.reads.length - 1]!;
  }
}

class RecordingSink implements DriverSink {
  readonly events: string[] = [];
  readonly chunks: Uint8Array[] = [];
  closedWith: NetError | undefined | "not yet" = "not yet";
  received(chunk: Uint8Array): void {
    this.events.push(`data:${chunk.length}`);
    this.chunks.push(chunk);
  }
  peerEnded(): void {
    this.events.push("end");
  }
  writable(): void {
    this.events.push("writable");
  }
  closed(error?: NetError): void {
    this.events.push(error ? `closed:${error.code}` : "closed");
    this.closedWith = error;
  }
}

const runtime: PullRuntime<FakeSocket> = {
  localAddress: () => ({ transport: "tcp", hostname: "127.0.0.1", port: 1, family: "IPv4" }),
  remoteAddress: () => ({ transport: "tcp", hostname: "127.0.0.1", port: 2, family: "IPv4" }),
  mapError: (error, where, tlsRead) => toNetError(error, where, tlsRead ? "ERR_TLS" : "ECONNRESET"),
};

function open(r: PullRuntime<FakeSocket> = runtime, upgradable = false): { socket: FakeSocket; driver: PullDriver<FakeSocket>; sink: RecordingSink } {
  const socket = new FakeSocket();
  const driver = new PullDriver(r, socket, undefined, upgradable);
  const sink = new RecordingSink();
  driver.attach(sink);
  return { socket, driver, sink };
}

describe("PullDriver", () => {
  it("reads while reading is wanted, parks when paused, and reads again on resume", async () => {
    const { socket, driver, sink } = open();
    driver.resumeReading();
    await microtasks();
    expect(socket.reads.length).toBe(1);
    driver.pauseReading();
    socket.last.fill(10);
    await microtasks();
    // The read in flight is still reported; no further read is made while paused.
    expect(sink.events).toEqual(["data:10"]);
    expect(socket.reads.length).toBe(1);
    driver.resumeReading();
    await microtasks();
    expect(socket.reads.length).toBe(2);
    socket.last.end();
    await microtasks();
    expect(sink.events).toEqual(["data:10", "end"]);
  });

  it("pull mode: a parked driver reads straight into the caller's buffer and hands back a view of it", async () => {
    const { socket, driver, sink } = open();
    driver.resumeReading();
    await microtasks();
    driver.pauseReading();
    socket.last.fill(3);
    await microtasks();
    const into = new Uint8Array(100);
    driver.readInto(into);
    await microtasks();
    expect(socket.reads.length).toBe(2);
    expect(socket.last.into).toBe(into);
    socket.last.fill(7);
    await microtasks();
    expect(sink.chunks[1]!.buffer).toBe(into.buffer);
    expect(sink.chunks[1]!.length).toBe(7);
    // One call, one report: nothing more is read until asked.
    await microtasks();
    expect(socket.reads.length).toBe(2);
  });

  it("pull mode: a read already in flight answers the request and leaves the caller's buffer untouched", async () => {
    const { socket, driver, sink } = open();
    driver.resumeReading();
    await microtasks();
    driver.pauseReading();
    const into = new Uint8Array(100);
    driver.readInto(into);
    socket.last.fill(5);
    await microtasks();
    expect(sink.events).toEqual(["data:5"]);
    expect(sink.chunks[0]!.buffer).not.toBe(into.buffer);
    expect(into.every((b) => b === 0)).toBe(true);
    // The offer was answered: the loop parks instead of reading into it.
    expect(socket.reads.length).toBe(1);
  });

  it("reports closed only after the pending read and write settled, through the runtime's hook", async () => {
    const hooked: boolean[] = [];
    const { socket, driver, sink } = open({ ...runtime, reportClosed: (report, tls) => (hooked.push(tls), report()) });
    driver.resumeReading();
    const written = driver.writeSome(new Uint8Array(4));
    written.catch(() => {});
    await microtasks();
    driver.release();
    expect(socket.closes).toBe(1);
    await microtasks();
    expect(sink.closedWith).toBe("not yet");
    socket.last.fail(new Error("cancelled by close")); // our own close: not reported as an error
    await microtasks();
    expect(sink.closedWith).toBe("not yet");
    socket.writes[0]!.fail(new Error("cancelled by close"));
    await microtasks();
    expect(sink.events).toEqual(["closed"]);
    expect(hooked).toEqual([false]);
    driver.release();
    await microtasks();
    expect(socket.closes).toBe(1);
  });

  it("a failed write closes the connection with the runtime's mapping of the error", async () => {
    // The driver hands the runtime's own write promise to the kernel; the mapping happens once it failed.
    const socket = new FakeSocket();
    const raw = createRawSocket(new PullDriver({ ...runtime, mapError: (error, where) => toNetError(error, where, "EPIPE") }, socket));
    const closes: string[] = [];
    raw.start({ onData: () => {}, onEnd: () => {}, onDrain: () => {}, onClose: (e) => closes.push(e ? `${e.code} ${e.address}` : "clean") });
    raw.write(new Uint8Array(8));
    socket.writes[0]!.fail(new Error("broken pipe"));
    await microtasks();
    expect(socket.closes).toBe(1);
    for (const read of socket.reads) read.fail(new Error("cancelled by close"));
    await settle();
    expect(closes).toEqual(["EPIPE 127.0.0.1:2"]);
  });

  it("a failed read closes the socket with the runtime's error, a TLS socket's as a TLS read", async () => {
    const { socket, driver, sink } = open();
    driver.resumeReading();
    await microtasks();
    socket.last.fail(new Error("reset"));
    await microtasks();
    expect(sink.events).toEqual(["closed:ECONNRESET"]);
    expect(socket.closes).toBe(1);

    const tlsSocket = new FakeSocket();
    const tlsDriver = new PullDriver(runtime, tlsSocket, { alpnProtocol: undefined, tlsVersion: undefined, peerCertificate: undefined, authorized: true });
    const tlsSink = new RecordingSink();
    tlsDriver.attach(tlsSink);
    tlsDriver.resumeReading();
    await microtasks();
    tlsSocket.last.fail(new Error("alert"));
    await microtasks();
    expect(tlsSink.events).toEqual(["closed:ERR_TLS"]);
  });

  it("applies the read-buffer policy: small reads copied, large ones lent, the next read behind a lent chunk", async () => {
    const { socket, driver, sink } = open();
    driver.resumeReading();
    await microtasks();
    // The first buffer is small; a read that fills it brings a full buffer next.
    const first = socket.last.into;
    expect(first.length).toBeLessThan(READ_BUFFER_SIZE);
    socket.last.fill(first.length);
    await microtasks();
    expect(sink.chunks[0]!.buffer).not.toBe(first.buffer);
    expect(socket.last.into.length).toBe(READ_BUFFER_SIZE);
    const big = socket.last.into;
    socket.last.fill(20_000);
    await microtasks();
    expect(sink.chunks[1]!.buffer).toBe(big.buffer); // lent, no copy
    expect(socket.last.into.buffer).toBe(big.buffer);
    expect(socket.last.into.byteOffset).toBe(20_000);
    socket.last.fill(100);
    await microtasks();
    expect(sink.chunks[2]!.buffer).not.toBe(big.buffer); // copied: the rest is read into again
    expect(Array.from(sink.chunks[2]!.subarray(0, 3))).toEqual([0, 1, 2]);
    expect(socket.last.into.byteOffset).toBe(20_000);
  });

  it("reads into a recycled buffer again once the chunk that ended its use came back", async () => {
    const { socket, driver, sink } = open();
    driver.resumeReading();
    await microtasks();
    socket.last.fill(socket.last.into.length);
    await microtasks();
    socket.last.fill(READ_BUFFER_SIZE);
    await microtasks();
    const lent = sink.chunks[1]!;
    expect(lent.length).toBe(READ_BUFFER_SIZE);
    expect(socket.last.into.buffer).not.toBe(lent.buffer); // a fresh buffer: the lent one is the caller's
    driver.recycle(lent);
    socket.last.fill(READ_BUFFER_SIZE);
    await microtasks();
    expect(socket.last.into.buffer).toBe(lent.buffer);
  });

  it("an upgradable socket waits for the runtime after each of its first reads, and startTls is told whether a read is pending", async () => {
    let waits = 0;
    const states: PullUpgradeState[] = [];
    const r: PullRuntime<FakeSocket> = {
      ...runtime,
      upgradeWindow: { reads: 2, wait: () => (waits++, Promise.resolve()) },
      startTls: (_socket, _options, state) => {
        states.push(state);
        if (state !== "ready") throw new NetError("ERR_UNSUPPORTED", "not now");
        return () => Promise.reject(new NetError("ERR_TLS", "test upgrade"));
      },
    };
    const { socket, driver, sink } = open(r, true);
    driver.resumeReading();
    for (let i = 0; i < 3; i++) {
      await microtasks();
      socket.last.fill(1);
    }
    await microtasks();
    expect(waits).toBe(2);
    const client = { serverName: "example.com", ca: undefined, cert: undefined, key: undefined, alpn: undefined, rejectUnauthorized: true };
    const options = { isServer: false as const, client };
    await expect(driver.startTls(options)).rejects.toMatchObject({ code: "ERR_UNSUPPORTED" });
    driver.pauseReading();
    socket.last.fill(1);
    await microtasks();
    await expect(driver.startTls(options)).rejects.toMatchObject({ code: "ERR_TLS" });
    // Handed over: this driver reports nothing more.
    expect(sink.events).toEqual(["data:1", "data:1", "data:1", "data:1"]);
    await expect(open(r, false).driver.startTls(options)).rejects.toMatchObject({ code: "ERR_UNSUPPORTED" });
    expect(states).toEqual(["read-pending", "ready", "not-upgradable"]);
    // A runtime without the hook refuses as unsupported, not with a TypeError.
    await expect(open(runtime, true).driver.startTls(options)).rejects.toMatchObject({ code: "ERR_UNSUPPORTED" });
  });
});
