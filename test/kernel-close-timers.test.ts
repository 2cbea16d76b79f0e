// The kernel's close timers: a close that reaches the linger at once arms one timer, bounded by close()'s timeout.
// Fake driver and manual clock: no network, no real timers.
import { describe, expect, it } from "vitest";
import { createRawSocket } from "../src/socket/socket.ts";
import type { NetError } from "../src/errors.ts";
import { FakeDriver, settle } from "./helpers/fake-driver.ts";
import { ManualClock } from "./helpers/manual-clock.ts";

function opened(driver = new FakeDriver()): { driver: FakeDriver; clock: ManualClock; raw: ReturnType<typeof createRawSocket>; closes: (NetError | undefined)[] } {
  const clock = new ManualClock();
  const raw = createRawSocket(driver, { clock });
  const closes: (NetError | undefined)[] = [];
  raw.start({ onData() {}, onEnd() {}, onDrain() {}, onClose: (error) => closes.push(error) });
  return { driver, clock, raw, closes };
}

describe("kernel close timers", () => {
  it("a close with nothing to flush sets one timer, the linger, not a close timer beside it", async () => {
    const { raw, driver, clock } = opened();
    raw.close();
    await settle();
    expect(driver.lifecycle()).toContain("shutdownWrite");
    expect(driver.released).toBeUndefined();
    expect(clock.pendingTimers).toBe(1);
    expect(clock.nextAt).toBe(2_000); // DEFAULT_LINGER
  });

  it("close({ timeout }) shorter than the linger still bounds it", async () => {
    const { raw, driver, clock, closes } = opened();
    raw.close(50);
    await settle();
    await clock.advance(49);
    await settle();
    expect(driver.released).toBeUndefined();
    await clock.advance(1);
    await settle();
    expect(driver.released).toBe(true);
    expect(closes).toEqual([undefined]);
    expect(clock.pendingTimers).toBe(0);
  });

  it("a close that must wait for a flush is bounded from close() on, then lingers", async () => {
    const driver = new FakeDriver();
    driver.async = true;
    const { raw, clock } = opened(driver);
    raw.write(new Uint8Array(10));
    raw.close(5_000);
    await settle();
    expect(clock.nextAt).toBe(5_000); // the close timer, while the write is in flight
    driver.pending.shift()!.take();
    await settle();
    expect(driver.lifecycle()).toContain("shutdownWrite");
    expect(driver.released).toBeUndefined(); // lingering, both timers set
    await clock.advance(2_000);
    await settle();
    expect(driver.released).toBe(true);
    expect(clock.pendingTimers).toBe(0);
  });

  it("a close after the peer's EOF with nothing to flush releases at once and leaves no timer", async () => {
    const { raw, driver, clock, closes } = opened();
    driver.peerEnd();
    await settle();
    raw.close();
    await settle();
    expect(driver.released).toBe(true);
    expect(closes).toEqual([undefined]);
    expect(clock.pendingTimers).toBe(0);
  });
});
