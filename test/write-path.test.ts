// The reconnecting client's write path against a fake connection: coalescing per tick,
// messages kept whole when the connection dies before the flush, and congestion.
import { describe, expect, it } from "vitest";
import type { Connection } from "../src/connection.ts";
import { OfflineQueue } from "../src/reconnecting/offline-queue.ts";
import { WritePath } from "../src/reconnecting/write-path.ts";
import { ManualClock, microtasks } from "./helpers/manual-clock.ts";

class FakeConnection {
  isWritable = true;
  bufferedAmount = 0;
  readonly writes: Uint8Array[] = [];
  #drain: (() => void) | undefined;
  write(data: Uint8Array): Promise<void> {
    this.writes.push(data);
    this.bufferedAmount += data.length; // the kernel takes nothing until the test says so
    if (this.bufferedAmount < 64 * 1024) return Promise.resolve();
    return new Promise((resolve) => (this.#drain = resolve));
  }
  drain(): void {
    this.bufferedAmount = 0;
    this.#drain?.();
  }
}

function setup() {
  const clock = new ManualClock();
  const queue = new OfflineQueue({ maxBytes: 1 << 20, maxWrites: 1000, clock });
  const path = new WritePath(queue, clock);
  const conn = new FakeConnection();
  return { queue, path, conn, attach: () => path.attach(conn as unknown as Connection) };
}

const bytes = (...values: number[]) => Uint8Array.from(values);

describe("write path (fake connection)", () => {
  it("messages of one tick go out in one write and resolve when it is made", async () => {
    const { path, conn, attach } = setup();
    attach();
    const sent = [path.submit(bytes(1), Infinity), path.submit(bytes(2, 3), Infinity), path.submit(bytes(4), Infinity)];
    expect(conn.writes).toEqual([]);
    await Promise.all(sent);
    expect(conn.writes).toEqual([bytes(1, 2, 3, 4)]);
  });

  it("what was queued while detached flushes in one write on attach, before newer messages", async () => {
    const { path, conn, attach, queue } = setup();
    const early = [path.submit(bytes(1), Infinity), path.submit(bytes(2), Infinity)];
    expect(queue.size).toBe(2);
    attach();
    const late = path.submit(bytes(3), Infinity);
    await Promise.all([...early, late]);
    expect(conn.writes).toEqual([bytes(1, 2, 3)]);
  });

  it("a connection that stops taking writes before the flush: the tick's messages go back to the queue whole, in order", async () => {
    const { path, conn, attach, queue } = setup();
    attach();
    const states: string[] = [];
    for (const n of [1, 2, 3]) path.submit(bytes(n, n), Infinity).then(() => states.push(`ok ${n}`));
    conn.isWritable = false; // dies within the tick
    await microtasks();
    expect(conn.writes).toEqual([]);
    expect(queue.size).toBe(3);
    expect(states).toEqual([]);
    path.detach();
    const next = new FakeConnection();
    path.attach(next as unknown as Connection);
    await microtasks();
    expect(next.writes).toEqual([bytes(1, 1, 2, 2, 3, 3)]);
    expect(states).toEqual(["ok 1", "ok 2", "ok 3"]);
  });

  it("past the high-water mark, messages queue until the connection drains", async () => {
    const { path, conn, attach, queue } = setup();
    attach();
    conn.bufferedAmount = 64 * 1024; // the next write finds the buffer full
    await path.submit(bytes(1), Infinity);
    expect(conn.writes.length).toBe(1);
    const waiting = path.submit(bytes(2), Infinity);
    await microtasks();
    expect(queue.size).toBe(1);
    expect(conn.writes.length).toBe(1);
    conn.drain();
    await waiting;
    expect(conn.writes).toEqual([bytes(1), bytes(2)]);
  });

  it("counts the messages a loss of the tail of the stream belongs to", async () => {
    const { path, conn, attach } = setup();
    attach();
    path.submit(new Uint8Array(10), Infinity);
    path.submit(new Uint8Array(20), Infinity);
    await path.submit(new Uint8Array(30), Infinity);
    conn.bufferedAmount = 35; // the kernel took 25 bytes; the last 35 never reached it: the last two messages
    expect(path.lostMessages(conn as unknown as Connection, 35)).toBe(2);
    expect(path.lostMessages(conn as unknown as Connection, 30)).toBe(1);
  });
});
