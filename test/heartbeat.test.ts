// Heartbeat stale detection, driven by a manual clock: no timed assertions.
import { describe, expect, it } from "vitest";
import type { Connection } from "../src/connection.ts";
import { Heartbeat, heartbeatSettings } from "../src/liveness/heartbeat.ts";
import { ManualClock } from "./helpers/manual-clock.ts";

function watch(settings: Parameters<typeof heartbeatSettings>[0], blocked = false) {
  const clock = new ManualClock();
  const conn = { bytesRead: 0 };
  const seen = { pings: 0, stale: [] as number[], pingErrors: [] as unknown[] };
  const beat = new Heartbeat(
    conn as unknown as Connection,
    heartbeatSettings({ ...settings, ping: settings.ping ?? (() => void seen.pings++) }),
    { readBlocked: () => blocked, onStale: (ms) => seen.stale.push(ms), onPingError: (e) => seen.pingErrors.push(e) },
    clock,
  );
  return { clock, conn, seen, beat };
}

describe("heartbeat (manual clock)", () => {
  it("pings after interval of silence and declares the connection stale after interval + timeout, not before", async () => {
    const { clock, seen } = watch({ interval: 1_000, timeout: 500 });
    await clock.advance(999);
    expect(seen.pings).toBe(0);
    await clock.advance(1);
    expect(seen.pings).toBe(1);
    await clock.advance(499);
    expect(seen.stale).toEqual([]);
    await clock.advance(1);
    expect(seen.stale).toEqual([1_500]);
    expect(clock.pendingTimers).toBe(0);
  });

  it("data noticed through touch() or bytesRead restarts the silence; one ping per silence", async () => {
    const { clock, conn, seen, beat } = watch({ interval: 1_000, timeout: 500 });
    await clock.advance(1_000);
    expect(seen.pings).toBe(1);
    beat.touch();
    await clock.advance(1_400);
    expect(seen.stale).toEqual([]);
    expect(seen.pings).toBe(2);
    conn.bytesRead = 10; // read without touch(): the sample notices it
    await clock.advance(100);
    await clock.advance(1_400);
    expect(seen.stale).toEqual([]);
    await clock.advance(2_000);
    expect(seen.stale.length).toBe(1);
    expect(seen.stale[0]).toBeGreaterThanOrEqual(1_500);
  });

  it("a reader held back by the consumer is never declared stale", async () => {
    const { clock, seen } = watch({ interval: 100, timeout: 100 }, true);
    await clock.advance(10_000);
    expect(seen.stale).toEqual([]);
  });

  it("a failing ping is reported once and stops the watch", async () => {
    const { clock, seen } = watch({
      interval: 100,
      timeout: 100,
      ping: () => {
        throw new Error("no route");
      },
    });
    await clock.advance(100);
    expect(seen.pingErrors.length).toBe(1);
    expect(clock.pendingTimers).toBe(0);
  });

  it("stop() clears its timer", async () => {
    const { clock, seen, beat } = watch({ interval: 100, timeout: 100 });
    beat.stop();
    expect(clock.pendingTimers).toBe(0);
    await clock.advance(1_000);
    expect(seen.stale).toEqual([]);
  });

  it("refuses unknown heartbeat keys, naming them", () => {
    expect(() => heartbeatSettings({ intervall: 5 } as never)).toThrow(/unknown option "heartbeat.intervall"/);
  });
});
