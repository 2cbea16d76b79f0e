/**
 * A {@link SocketDriver} the test controls completely, for unit tests of the
 * socket kernel (src/socket/socket.ts): it records every call, takes as many
 * bytes per `writeSome` as the test says (synchronously or through a promise
 * the test settles), and lets the test report what a runtime would
 * (received, peerEnded, writable, closed). Plus a manual clock, so linger and
 * close timeouts run without waiting on real time.
 */
import type { NetError } from "../../src/errors.ts";
import type { Clock, TimerHandle } from "../../src/timers/clock.ts";
import type { DriverSink, SocketDriver } from "../../src/socket/driver.ts";
import type { RawStartTlsOptions, TlsInfo } from "../../src/tls.ts";
import type { SocketAddress } from "../../src/address.ts";
import { concat } from "./bytes.ts";

/** One `writeSome` whose promise the test settles (async mode). */
export interface PendingWrite {
  readonly chunk: Uint8Array;
  /** Settles the write with a count of bytes taken (default: all of them). */
  take(count?: number): void;
  fail(error: Error): void;
}

/** How `release` reports `closed` back: at once, on a later microtask, or only when the test calls {@link FakeDriver.reportClosed}. */
export type CloseReport = "sync" | "microtask" | "manual";

const LOCAL: SocketAddress = { transport: "tcp", hostname: "127.0.0.1", port: 40000, family: "IPv4" };
const REMOTE: SocketAddress = { transport: "tcp", hostname: "127.0.0.1", port: 7000, family: "IPv4" };

export class FakeDriver implements SocketDriver {
  /** Every call the kernel made, in order: "attach", "writeSome(5)", "shutdownWrite", "release(true)", ... */
  readonly calls: string[] = [];
  /** Copies of the bytes the driver took, in order. */
  readonly taken: Uint8Array[] = [];
  /** The chunk of every `writeSome` call, as passed (its length is the coalescing evidence). */
  readonly offered: Uint8Array[] = [];
  sink: DriverSink | undefined;
  /**
   * Synchronous mode: bytes the next `writeSome` calls take (each call takes
   * min(chunk, budget) and lowers it). Infinity: everything.
   */
  budget: number = Number.POSITIVE_INFINITY;
  /** Async mode: `writeSome` returns a promise the test settles via {@link pending}. */
  async = false;
  readonly pending: PendingWrite[] = [];
  heldBytes = 0;
  closeReport: CloseReport = "sync";
  released: boolean | undefined;
  reading = false;
  readonly localAddress: SocketAddress | undefined = LOCAL;
  readonly remoteAddress: SocketAddress | undefined = REMOTE;
  tls: TlsInfo | undefined;
  /** A handshake still to come (a TLS socket handed over before it); the test settles it. */
  handshake: Promise<void> | undefined;
  /** Set to make the driver offer STARTTLS; the test settles the upgrade via {@link upgrade}. */
  upgradeTo: FakeDriver | undefined;
  upgradeOptions: RawStartTlsOptions | undefined;
  #upgrade: { resolve(d: SocketDriver): void; reject(e: Error): void } | undefined;
  #closedReported = false;

  attach(sink: DriverSink): void {
    this.calls.push("attach");
    this.sink = sink;
  }

  writeSome(chunk: Uint8Array): number | Promise<number> {
    this.calls.push(`writeSome(${chunk.length})`);
    this.offered.push(chunk);
    if (this.async) {
      return new Promise<number>((resolve, reject) => {
        this.pending.push({
          chunk,
          take: (count = chunk.length) => {
            this.taken.push(chunk.slice(0, count));
            resolve(count);
          },
          fail: reject,
        });
      });
    }
    const count = Math.min(chunk.length, this.budget);
    this.budget -= count;
    this.taken.push(chunk.slice(0, count));
    return count;
  }

  shutdownWrite(): void {
    this.calls.push("shutdownWrite");
  }

  release(graceful: boolean): void {
    this.calls.push(`release(${graceful})`);
    this.released = graceful;
    if (this.closeReport === "sync") this.reportClosed();
    else if (this.closeReport === "microtask") queueMicrotask(() => this.reportClosed());
  }

  pauseReading(): void {
    this.calls.push("pauseReading");
    this.reading = false;
  }

  resumeReading(): void {
    this.calls.push("resumeReading");
    this.reading = true;
  }

  setNoDelay(enabled: boolean): void {
    this.calls.push(`setNoDelay(${enabled})`);
  }

  setKeepAlive(enabled: boolean, initialDelay?: number): void {
    this.calls.push(`setKeepAlive(${enabled}, ${initialDelay})`);
  }

  get startTls(): ((options: RawStartTlsOptions) => Promise<SocketDriver>) | undefined {
    if (!this.upgradeTo) return undefined;
    return (options) => {
      this.calls.push("startTls");
      this.upgradeOptions = options;
      return new Promise((resolve, reject) => (this.#upgrade = { resolve, reject }));
    };
  }

  /** Completes (or fails) a pending STARTTLS. */
  upgrade(error?: Error): void {
    const upgrade = this.#upgrade;
    if (!upgrade) throw new Error("no STARTTLS in progress");
    this.#upgrade = undefined;
    if (error) upgrade.reject(error);
    else upgrade.resolve(this.upgradeTo!);
  }

  // What the runtime would report.
  receive(text: string | Uint8Array): void {
    this.#sink().received(typeof text === "string" ? new TextEncoder().encode(text) : text);
  }
  peerEnd(): void {
    this.#sink().peerEnded();
  }
  writable(): void {
    this.#sink().writable();
  }
  /** Reports `closed` (once; `release` does it too, per {@link closeReport}). */
  reportClosed(error?: NetError): void {
    if (this.#closedReported) return;
    this.#closedReported = true;
    this.#sink().closed(error);
  }

  /** Everything taken so far, as one array. */
  bytes(): Uint8Array {
    return concat(this.taken);
  }
  text(): string {
    return new TextDecoder().decode(this.bytes());
  }
  /** Calls other than writes, reading and options, in order: attach, shutdownWrite, release, startTls. */
  lifecycle(): string[] {
    return this.calls.filter((c) => !c.startsWith("writeSome") && !c.startsWith("set") && !c.endsWith("Reading"));
  }

  #sink(): DriverSink {
    if (!this.sink) throw new Error("the kernel never attached this driver");
    return this.sink;
  }
}

/** A clock that moves only when the test says so. */
export class ManualClock implements Clock {
  #now = 0;
  #nextId = 1;
  readonly #timers = new Map<number, { at: number; fn: () => void }>();

  now(): number {
    return this.#now;
  }
  setTimeout(fn: () => void, ms: number): TimerHandle {
    const id = this.#nextId++;
    this.#timers.set(id, { at: this.#now + Math.max(0, ms), fn });
    return id;
  }
  clearTimeout(handle: TimerHandle): void {
    this.#timers.delete(handle as number);
  }
  /** Timers not yet fired or cleared. */
  get pendingTimers(): number {
    return this.#timers.size;
  }
  /** Moves time forward, firing due timers in order. */
  advance(ms: number): void {
    const end = this.#now + ms;
    for (;;) {
      let next: [number, { at: number; fn: () => void }] | undefined;
      for (const entry of this.#timers) if (entry[1].at <= end && (!next || entry[1].at < next[1].at)) next = entry;
      if (!next) break;
      this.#timers.delete(next[0]);
      this.#now = next[1].at;
      next[1].fn();
    }
    this.#now = end;
  }
}

/**
 * Lets the kernel's deferred work run: pending microtasks, promise
 * continuations and one macrotask turn. No timed waiting: only ordering.
 */
export async function settle(): Promise<void> {
  await microtasks();
  await new Promise<void>((resolve) => setTimeout(resolve, 0));
  await microtasks();
}

/** Lets pending microtasks and promise continuations run (cheaper than {@link settle} in long loops). */
export async function microtasks(): Promise<void> {
  for (let i = 0; i < 20; i++) await Promise.resolve();
}
