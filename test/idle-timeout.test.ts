// Idle detection (read / write / all, first and repeated reports), driven by a manual clock.
import { describe, expect, it } from "vitest";
import { checkIdleTimeout, IdleWatcher, type IdleEvent } from "../src/liveness/idle-timeout.ts";
import { ManualClock } from "./helpers/manual-clock.ts";

function watch(options: Parameters<typeof checkIdleTimeout>[0]) {
  const clock = new ManualClock();
  const counters = { bytesRead: 0, bytesWritten: 0 };
  const events: IdleEvent[] = [];
  const watcher = new IdleWatcher(counters, checkIdleTimeout(options)!, (e) => events.push(e), clock);
  return { clock, counters, events, watcher };
}

describe("idle timeout (manual clock)", () => {
  it("reports read-idle once the timeout passed (at most a quarter later), then again every timeout", async () => {
    const { clock, events, watcher } = watch({ read: 1_000 });
    await clock.advance(999);
    expect(events).toEqual([]);
    await clock.advance(250);
    expect(events).toEqual([{ kind: "read", first: true, idleMs: 1_000 }]);
    await clock.advance(1_000);
    expect(events.slice(1)).toEqual([{ kind: "read", first: false, idleMs: 2_000 }]);
    watcher.stop();
    expect(clock.pendingTimers).toBe(0);
  });

  it("activity restarts the timeout and makes the next report first again", async () => {
    const { clock, counters, events, watcher } = watch({ read: 1_000 });
    await clock.advance(1_000);
    expect(events.map((e) => e.first)).toEqual([true]);
    counters.bytesRead = 5;
    await clock.advance(250); // the sample that notices the bytes
    await clock.advance(750);
    expect(events.length).toBe(1);
    await clock.advance(250);
    expect(events.slice(1)).toEqual([{ kind: "read", first: true, idleMs: 1_000 }]);
    watcher.stop();
  });

  it("write and all watch their own counters", async () => {
    const { clock, counters, events, watcher } = watch({ write: 400, all: 800 });
    for (let i = 0; i < 8; i++) {
      counters.bytesRead += 1; // reading keeps "all" busy, not "write"
      await clock.advance(100);
    }
    expect(events.filter((e) => e.kind === "all")).toEqual([]);
    expect(events.filter((e) => e.kind === "write").map((e) => e.first)).toEqual([true, false]);
    await clock.advance(800);
    expect(events.filter((e) => e.kind === "all")).toEqual([{ kind: "all", first: true, idleMs: 800 }]);
    watcher.stop();
  });

  it("stop() from the callback ends sampling", async () => {
    const clock = new ManualClock();
    const events: IdleEvent[] = [];
    const watcher: IdleWatcher = new IdleWatcher({ bytesRead: 0, bytesWritten: 0 }, checkIdleTimeout({ all: 100 })!, (e) => {
      events.push(e);
      watcher.stop();
    }, clock);
    await clock.advance(1_000);
    expect(events.length).toBe(1);
    expect(clock.pendingTimers).toBe(0);
  });
});
