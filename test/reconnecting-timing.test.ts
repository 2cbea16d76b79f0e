// The reconnecting client's timing logic on a manual clock: backoff sleeps,
// maxElapsed, the connect timeout around a target function, write deadlines,
// and write-stall detection. Deterministic: time moves only when the test says.
import { describe, expect, it } from "vitest";
import type { Address } from "../src/address.ts";
import { NetError } from "../src/errors.ts";
import { ReconnectingClient } from "../src/reconnecting/client.ts";
import type { ReconnectingEvents } from "../src/reconnecting/events.ts";
import type { ReconnectingOptions } from "../src/reconnecting/options.ts";
import { WriteStallWatch } from "../src/reconnecting/write-stall.ts";
import type { Target } from "../src/connect/endpoints.ts";
import type { CancelConnect, ConnectSink, RawConnectOptions, Transport } from "../src/transport.ts";
import { memoryTransport } from "../adapters/memory.ts";
import { ManualClock, microtasks } from "./helpers/manual-clock.ts";

/** A transport whose connects are scripted: refused at once, or hanging until aborted. */
function scriptedTransport(mode: "refuse" | "hang") {
  const seen = { attempts: 0, aborted: 0, addresses: [] as Address[] };
  const transport: Transport = {
    name: "scripted",
    capabilities: memoryTransport.capabilities,
    connect(address: Address, _options: RawConnectOptions, sink: ConnectSink): CancelConnect | void {
      seen.attempts++;
      seen.addresses.push(address);
      if (mode === "refuse") return sink.failed(new NetError("ECONNREFUSED", "connection refused"));
      return () => void seen.aborted++;
    },
    listen: () => Promise.reject(new NetError("ERR_UNSUPPORTED", "no listening here")),
  };
  return { transport, seen };
}

function record<T>(client: ReconnectingClient<T>) {
  const events: Array<{ at: number; type: keyof ReconnectingEvents; detail: unknown }> = [];
  return { events, listen: (clock: ManualClock) => {
    for (const type of ["open", "close", "reconnecting", "stale", "error", "drop"] as const) {
      client.on(type, (detail) => events.push({ at: clock.now(), type, detail }));
    }
  } };
}

function start<T = Uint8Array>(transport: Transport, target: Target, options: ReconnectingOptions<T>) {
  const clock = new ManualClock();
  const client = new ReconnectingClient<T>(transport, target, options, { clock });
  const log = record(client);
  log.listen(clock);
  return { clock, client, events: log.events };
}

describe("reconnecting timing (manual clock)", () => {
  it("sleeps exactly the backoff delay between attempts", async () => {
    const { transport, seen } = scriptedTransport("refuse");
    const { clock, client, events } = start(transport, "127.0.0.1:1", { backoff: { initial: 100, max: 1_000, jitter: "none" } });
    await clock.advance(0);
    expect(seen.attempts).toBe(1);
    const delays = () => events.filter((e) => e.type === "reconnecting").map((e) => (e.detail as { delay: number }).delay);
    expect(delays()).toEqual([100]);
    await clock.advance(99);
    expect(seen.attempts).toBe(1);
    await clock.advance(1);
    expect(seen.attempts).toBe(2);
    expect(delays()).toEqual([100, 200]);
    await clock.advance(200 + 400 + 800);
    expect(seen.attempts).toBe(5);
    expect(delays()).toEqual([100, 200, 400, 800, 1_000]);
    await client.close();
    expect(clock.pendingTimers).toBe(0);
  });

  it("maxElapsed gives up at the attempt whose next delay would pass it, and not earlier", async () => {
    const { transport, seen } = scriptedTransport("refuse");
    const { clock, client, events } = start(transport, "127.0.0.1:1", { backoff: { initial: 100, max: 10_000, jitter: "none" }, maxElapsed: 1_000 });
    // Attempts at 0, 100, 300, 700; after the fourth, 700 + 800 > 1000.
    await clock.advance(699);
    expect(client.state).toBe("reconnecting");
    await clock.advance(1);
    expect(seen.attempts).toBe(4);
    const close = events.find((e) => e.type === "close");
    expect(close?.at).toBe(700);
    const error = (close?.detail as { error: NetError }).error;
    expect(error.code).toBe("ERR_RETRIES_EXHAUSTED");
    expect(error.message).toMatch(/maxElapsed \(1000 ms\)/);
    await client.closed;
    expect(clock.pendingTimers).toBe(0);
  });

  it("the connect timeout covers a target function that never settles; the attempt is retried", async () => {
    const { transport, seen } = scriptedTransport("refuse");
    let asked = 0;
    const discover = (): Promise<string> => {
      asked++;
      return new Promise(() => {});
    };
    const { clock, client, events } = start(transport, discover, { connectTimeout: 500, backoff: { initial: 10, max: 10, jitter: "none" } });
    await clock.advance(499);
    expect(events.filter((e) => e.type === "error")).toEqual([]);
    expect(client.state).toBe("connecting");
    await clock.advance(1);
    const error = events.find((e) => e.type === "error")?.detail as NetError;
    expect(error.code).toBe("ETIMEDOUT");
    expect(error.message).toMatch(/discover\(\)/);
    expect(client.state).toBe("reconnecting");
    await clock.advance(10);
    expect(asked).toBe(2);
    expect(seen.attempts).toBe(0);
    await client.close();
    expect(clock.pendingTimers).toBe(0);
  });

  it('a target function that returns "" once is retried with backoff, then connects', async () => {
    const { transport, seen } = scriptedTransport("refuse");
    const answers = ["", "127.0.0.1:7"];
    const discover = (): string => answers.shift() ?? "127.0.0.1:7";
    const { clock, client, events } = start(transport, discover, { backoff: { initial: 50, max: 50, jitter: "none" } });
    await clock.advance(0);
    const first = events.find((e) => e.type === "error")?.detail as NetError;
    expect(first.code).toBe("ENOTFOUND");
    expect(first.message).toMatch(/discover\(\)/);
    expect(client.state).toBe("reconnecting");
    expect(seen.attempts).toBe(0);
    await clock.advance(50);
    expect(seen.attempts).toBe(1);
    expect(seen.addresses[0]).toMatchObject({ hostname: "127.0.0.1", port: 7 });
    await client.close();
  });

  it("close() aborts a connect attempt in flight and releases at once", async () => {
    const { transport, seen } = scriptedTransport("hang");
    const { clock, client } = start(transport, "127.0.0.1:1", { connectTimeout: 60_000 });
    await clock.advance(0);
    expect(seen.attempts).toBe(1);
    let closed = false;
    const closing = client.close().then(() => (closed = true));
    await microtasks();
    expect(seen.aborted).toBe(1);
    expect(closed).toBe(true);
    await closing;
    expect(clock.pendingTimers).toBe(0);
  });

  it("a queued write rejects with ERR_WRITE_DEADLINE at its deadline while the client retries", async () => {
    const { transport } = scriptedTransport("refuse");
    const { clock, client, events } = start(transport, "127.0.0.1:1", { backoff: { initial: 1_000, max: 1_000, jitter: "none" } });
    let outcome = "pending";
    client.write("x", { deadline: 300 }).then(
      () => (outcome = "resolved"),
      (e: NetError) => (outcome = e.code),
    );
    await clock.advance(299);
    expect(outcome).toBe("pending");
    await clock.advance(1);
    expect(outcome).toBe("ERR_WRITE_DEADLINE");
    expect(events.find((e) => e.type === "drop")?.detail).toMatchObject({ count: 1, bytes: 1, resolved: false });
    await client.close();
  });
});

describe("write-stall watch (manual clock)", () => {
  it("reports bytes that wait with no progress for the timeout, once", async () => {
    const clock = new ManualClock();
    const counters = { bytesWritten: 0, bufferedAmount: 0 };
    const stalls: number[] = [];
    const watch = new WriteStallWatch(counters, 1_000, clock, (ms) => stalls.push(ms));
    await clock.advance(5_000); // nothing buffered: idle, not stalled
    expect(stalls).toEqual([]);
    counters.bytesWritten = 100;
    counters.bufferedAmount = 100;
    await clock.advance(250); // the sample that sees the bytes waiting
    await clock.advance(750);
    expect(stalls).toEqual([]);
    await clock.advance(249);
    expect(stalls).toEqual([]);
    counters.bufferedAmount = 90; // the peer took 10 bytes: progress
    await clock.advance(250);
    await clock.advance(750);
    expect(stalls).toEqual([]);
    await clock.advance(250);
    expect(stalls).toEqual([1_000]);
    expect(clock.pendingTimers).toBe(0);
    watch.stop();
  });

  it("new writes that keep the buffer level are not progress; the kernel taking bytes is", async () => {
    const clock = new ManualClock();
    const counters = { bytesWritten: 100, bufferedAmount: 100 };
    const stalls: number[] = [];
    new WriteStallWatch(counters, 400, clock, (ms) => stalls.push(ms));
    for (let i = 0; i < 3; i++) {
      counters.bytesWritten += 50; // written, and taken by the kernel as fast
      await clock.advance(100);
    }
    expect(stalls).toEqual([]);
    counters.bytesWritten += 50;
    counters.bufferedAmount += 50; // written, nothing taken
    await clock.advance(100);
    await clock.advance(400);
    expect(stalls).toEqual([400]);
  });
});

describe("write-stall watch, excused", () => {
  it("is not a stall while our own reader holds the peer back", async () => {
    const clock = new ManualClock();
    const counters = { bytesWritten: 100, bufferedAmount: 100 };
    const stalls: number[] = [];
    let readBlocked = true;
    new WriteStallWatch(counters, 400, clock, (ms) => stalls.push(ms), () => readBlocked);
    await clock.advance(10_000);
    expect(stalls).toEqual([]);
    readBlocked = false;
    await clock.advance(499); // counted from the first sample after the reader moved on (10 100)
    expect(stalls).toEqual([]);
    await clock.advance(1);
    expect(stalls).toEqual([400]);
  });
});

describe("reconnecting options", () => {
  const { transport } = scriptedTransport("refuse");
  it("refuses an unknown option key, naming it", () => {
    expect(() => new ReconnectingClient(transport, "127.0.0.1:1", { maxAtempts: 3 } as ReconnectingOptions)).toThrow(
      expect.objectContaining({ code: "ERR_INVALID_OPTION", message: expect.stringContaining('"maxAtempts"') }),
    );
    expect(() => new ReconnectingClient(transport, "127.0.0.1:1", { allowHalfOpen: true } as ReconnectingOptions)).toThrow(/allowHalfOpen/);
    expect(() => new ReconnectingClient(transport, "127.0.0.1:1", { backoff: { inital: 10 } } as ReconnectingOptions)).toThrow(/"backoff.inital"/);
    expect(() => new ReconnectingClient(transport, "127.0.0.1:1", { writeStallTimeout: 0 })).toThrow(/writeStallTimeout/);
  });

  it('backoff: "none" is refused with the allowed values and the jitter hint', () => {
    expect(() => new ReconnectingClient(transport, "127.0.0.1:1", { backoff: "none" } as unknown as ReconnectingOptions)).toThrow(
      expect.objectContaining({ code: "ERR_INVALID_OPTION", message: expect.stringMatching(/"backoff".*jitter.*\{ jitter: "none" \}/) }),
    );
  });
});
