// Timeouts shared by many connections: one runtime timer per timeout value, in deadline order.
import { describe, expect, it } from "vitest";
import { SharedTimeouts } from "../src/timers/shared-timeouts.ts";
import { ManualClock } from "./helpers/manual-clock.ts";

describe("SharedTimeouts", () => {
  it("fires each timeout at its own deadline, in order, with one runtime timer per value", async () => {
    const clock = new ManualClock();
    const timeouts = new SharedTimeouts(clock);
    const fired: string[] = [];
    const record = (name: string): void => void fired.push(`${name}@${clock.now()}`);
    timeouts.set(100, record, "a");
    await clock.advance(30);
    timeouts.set(100, record, "b");
    timeouts.set(50, record, "c");
    expect(clock.pendingTimers).toBe(2);
    await clock.advance(200);
    expect(fired).toEqual(["c@80", "a@100", "b@130"]);
    expect(clock.pendingTimers).toBe(0);
  });

  it("never fires a cleared timeout, whether it was first, in the middle or last", async () => {
    const clock = new ManualClock();
    const timeouts = new SharedTimeouts(clock);
    const fired: number[] = [];
    const handles = [0, 1, 2, 3, 4].map((i) => {
      const handle = timeouts.set(10, (n: number) => void fired.push(n), i);
      return handle;
    });
    for (const i of [0, 2, 4]) timeouts.clear(handles[i]!);
    timeouts.clear(handles[2]!); // twice: nothing more happens
    expect(handles[2]!.done).toBe(true);
    await clock.advance(10);
    expect(fired).toEqual([1, 3]);
    expect(handles.every((h) => h.done)).toBe(true);
  });

  it("stops the runtime timer of a substitute clock once its last timeout is cleared", () => {
    const clock = new ManualClock();
    const timeouts = new SharedTimeouts(clock);
    const a = timeouts.set(1000, () => {}, undefined);
    const b = timeouts.set(1000, () => {}, undefined);
    timeouts.clear(a);
    expect(clock.pendingTimers).toBe(1);
    timeouts.clear(b);
    expect(clock.pendingTimers).toBe(0);
  });

  it("re-arms for a timeout set from a firing one", async () => {
    const clock = new ManualClock();
    const timeouts = new SharedTimeouts(clock);
    const fired: number[] = [];
    const again = (round: number): void => {
      fired.push(clock.now());
      if (round < 3) timeouts.set(20, again, round + 1);
    };
    timeouts.set(20, again, 1);
    await clock.advance(100);
    expect(fired).toEqual([20, 40, 60]);
  });
});
