// The offline queue's bounds and overflow policies: pure units, the same on every runtime.
import { describe, expect, it } from "vitest";
import type { NetError } from "../src/errors.ts";
import { OfflineQueue, type OverflowPolicy } from "../src/reconnecting/offline-queue.ts";
import { ManualClock, microtasks } from "./helpers/manual-clock.ts";
import { delay } from "./helpers/runtime.ts";

function bytes(n: number, fill = 0): Uint8Array {
  return new Uint8Array(n).fill(fill);
}

/** Records how each promise settled. */
function track(promise: Promise<void>): { state: string; error?: NetError } {
  const out: { state: string; error?: NetError } = { state: "pending" };
  promise.then(
    () => (out.state = "resolved"),
    (error: NetError) => {
      out.state = "rejected";
      out.error = error;
    },
  );
  return out;
}

function queue(overflow: OverflowPolicy, drops: Array<[number, number, string]> = []): OfflineQueue {
  return new OfflineQueue({ maxBytes: 100, maxWrites: 3, overflow, onDrop: (count, size, reason) => drops.push([count, size, reason.code]) });
}

describe("OfflineQueue", () => {
  it("is FIFO and resolves a write when the taker resolves it", async () => {
    const q = queue("reject");
    const a = track(q.push(bytes(10, 1)));
    const b = track(q.push(bytes(20, 2)));
    expect(q.size).toBe(2);
    expect(q.bytes).toBe(30);
    const first = q.shift()!;
    expect(first.data[0]).toBe(1);
    first.resolve();
    await delay(0);
    expect(a.state).toBe("resolved");
    expect(b.state).toBe("pending");
    expect(q.shift()!.data[0]).toBe(2);
    expect(q.shift()).toBeUndefined();
    expect(q.size).toBe(0);
  });

  it('"reject": the new write rejects with ERR_QUEUE_FULL, by count and by bytes', async () => {
    const q = queue("reject");
    for (let i = 0; i < 3; i++) q.push(bytes(10));
    await expect(q.push(bytes(1))).rejects.toMatchObject({ code: "ERR_QUEUE_FULL", message: expect.stringContaining("maxQueuedWrites 3") });
    const byBytes = queue("reject");
    byBytes.push(bytes(60));
    await expect(byBytes.push(bytes(41))).rejects.toMatchObject({ code: "ERR_QUEUE_FULL" });
    expect(byBytes.size).toBe(1);
    expect(byBytes.bytes).toBe(60);
  });

  it("a write larger than maxBytes is refused whatever the policy", async () => {
    for (const policy of ["reject", "drop-oldest", "wait"] as const) {
      await expect(queue(policy).push(bytes(101))).rejects.toMatchObject({ code: "ERR_QUEUE_FULL", message: expect.stringContaining("larger than maxQueuedBytes") });
    }
  });

  it('"drop-oldest": the oldest writes reject with ERR_WRITE_DROPPED and are reported', async () => {
    const drops: Array<[number, number, string]> = [];
    const q = queue("drop-oldest", drops);
    const old = [track(q.push(bytes(40, 1))), track(q.push(bytes(40, 2))), track(q.push(bytes(10, 3)))];
    const fresh = track(q.push(bytes(70, 4))); // needs the room of the two oldest
    await delay(0);
    expect(old.map((o) => o.state)).toEqual(["rejected", "rejected", "pending"]);
    expect(old[0]!.error!.code).toBe("ERR_WRITE_DROPPED");
    expect(drops).toEqual([[2, 80, "ERR_WRITE_DROPPED"]]);
    expect(fresh.state).toBe("pending");
    expect([q.shift()!.data[0], q.shift()!.data[0]]).toEqual([3, 4]);
  });

  it('"wait": the write waits for room, in order, and the waiting list is bounded too', async () => {
    const q = queue("wait");
    const held = [q.push(bytes(10, 1)), q.push(bytes(10, 2)), q.push(bytes(10, 3))];
    const waiting = [track(q.push(bytes(10, 4))), track(q.push(bytes(10, 5))), track(q.push(bytes(10, 6)))];
    expect(q.waiting).toBe(3);
    await expect(q.push(bytes(10, 7))).rejects.toMatchObject({ code: "ERR_QUEUE_FULL", message: expect.stringContaining("wait for room") });
    const taken: number[] = [];
    for (let w = q.shift(); w; w = q.shift()) {
      taken.push(w.data[0]!);
      w.resolve();
    }
    expect(taken).toEqual([1, 2, 3, 4, 5, 6]);
    await Promise.all(held);
    await delay(0);
    expect(waiting.map((w) => w.state)).toEqual(["resolved", "resolved", "resolved"]);
  });

  it("a deadline rejects a write still queued with ERR_WRITE_DEADLINE and frees its room", async () => {
    const drops: Array<[number, number, string]> = [];
    const q = queue("reject", drops);
    const late = track(q.push(bytes(30), 20));
    const patient = track(q.push(bytes(30), 10_000));
    await delay(60);
    expect(late.state).toBe("rejected");
    expect(late.error!.code).toBe("ERR_WRITE_DEADLINE");
    expect(late.error!.message).toContain("20 ms");
    expect(drops).toEqual([[1, 30, "ERR_WRITE_DEADLINE"]]);
    expect(q.size).toBe(1);
    expect(q.bytes).toBe(30);
    q.shift()!.resolve(); // also clears the 10 s timer
    await delay(0);
    expect(patient.state).toBe("resolved");
  });

  it("a deadline also runs while a write waits for room", async () => {
    const q = queue("wait");
    for (let i = 0; i < 3; i++) q.push(bytes(10));
    const waiting = track(q.push(bytes(10), 20));
    await delay(60);
    expect(waiting.error?.code).toBe("ERR_WRITE_DEADLINE");
    expect(q.waiting).toBe(0);
    q.rejectAll(new Error("x") as NetError);
  });

  it("requeue puts a taken write back at the front", () => {
    const q = queue("reject");
    q.push(bytes(1, 1));
    q.push(bytes(1, 2));
    const first = q.shift()!;
    q.requeue(first);
    expect(q.shift()!.data[0]).toBe(1);
    expect(q.shift()!.data[0]).toBe(2);
  });

  it("rejectAll settles every queued and waiting write", async () => {
    const q = queue("wait");
    const all = Array.from({ length: 6 }, () => track(q.push(bytes(10), 5_000)));
    const reason = { code: "ERR_SOCKET_CLOSED" } as NetError;
    q.rejectAll(reason);
    await delay(0);
    expect(all.every((w) => w.state === "rejected" && w.error === reason)).toBe(true);
    expect(q.size + q.waiting).toBe(0);
  });

  it("stays fast and exact with many removals from the middle", async () => {
    const q = new OfflineQueue({ maxBytes: 1e9, maxWrites: 1e6 });
    const promises = Array.from({ length: 20_000 }, (_, i) => q.push(bytes(1, i & 0xff), i % 2 === 0 ? 5 : Infinity));
    await delay(50);
    expect(q.size).toBe(10_000);
    let n = 0;
    for (let w = q.shift(); w; w = q.shift()) {
      n++;
      w.resolve();
    }
    expect(n).toBe(10_000);
    const settled = await Promise.allSettled(promises);
    expect(settled.filter((s) => s.status === "rejected")).toHaveLength(10_000);
  });

  it("validates its limits", () => {
    expect(() => new OfflineQueue({ maxBytes: 0, maxWrites: 1 })).toThrow(/maxQueuedBytes/);
    expect(() => new OfflineQueue({ maxBytes: 1, maxWrites: 1.5 })).toThrow(/maxQueuedWrites/);
    expect(() => new OfflineQueue({ maxBytes: 1, maxWrites: 1, overflow: "block" as "wait" })).toThrow(/overflow/);
  });

  describe("deadlines on a manual clock", () => {
    it("a write rejects with ERR_WRITE_DEADLINE exactly at its deadline, not a millisecond before", async () => {
      const clock = new ManualClock();
      const drops: Array<[number, number, string]> = [];
      const q = new OfflineQueue({ maxBytes: 100, maxWrites: 3, clock, onDrop: (count, size, reason) => drops.push([count, size, reason.code]) });
      const late = track(q.push(bytes(10), 1_000));
      const never = track(q.push(bytes(5)));
      await clock.advance(999);
      expect(late.state).toBe("pending");
      await clock.advance(1);
      expect(late.state).toBe("rejected");
      expect(late.error?.code).toBe("ERR_WRITE_DEADLINE");
      expect(drops).toEqual([[1, 10, "ERR_WRITE_DEADLINE"]]);
      expect(q.size).toBe(1);
      await clock.advance(1_000_000);
      expect(never.state).toBe("pending");
    });

    it("a requeued write keeps what is left of its deadline; a shifted one has no timer", async () => {
      const clock = new ManualClock();
      const q = new OfflineQueue({ maxBytes: 100, maxWrites: 3, clock });
      const write = track(q.push(bytes(10), 1_000));
      await clock.advance(600);
      const taken = q.shift()!;
      expect(clock.pendingTimers).toBe(0);
      q.requeue(taken);
      await clock.advance(399);
      expect(write.state).toBe("pending");
      await clock.advance(1);
      expect(write.state).toBe("rejected");
      expect(write.error?.code).toBe("ERR_WRITE_DEADLINE");
    });

    it("a write put back that the queue never held gets its deadline from its own start", async () => {
      const clock = new ManualClock();
      const q = new OfflineQueue({ maxBytes: 100, maxWrites: 3, clock });
      await clock.advance(100);
      let outcome = "pending";
      q.requeue({ data: bytes(3), deadline: 500, since: 50, resolve: () => (outcome = "resolved"), reject: (e) => (outcome = e.code) });
      expect(q.size).toBe(1);
      await clock.advance(449);
      expect(outcome).toBe("pending");
      await clock.advance(1);
      expect(outcome).toBe("ERR_WRITE_DEADLINE");
      await microtasks();
      expect(q.size).toBe(0);
    });
  });
});
