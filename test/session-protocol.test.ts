// The session protocol without sockets: wire format, and two SessionStates
// joined by hand-driven links. Same file on Node, Deno, Bun.
import { describe, expect, it } from "vitest";
import type { NetError } from "../src/errors.ts";
import {
  decodeMessage,
  encodeAck,
  encodeClose,
  encodeDataHeader,
  encodeHello,
  encodeRefused,
  encodeResume,
  encodeWelcome,
  MessageReader,
  MessageType,
  RefusedReason,
  type SessionMessage,
} from "../src/session/envelope.ts";
import { randomSecret, sameSecret, sessionIdText } from "../src/session/handshake.ts";
import { SessionState } from "../src/session/session-state.ts";
import { concat } from "./helpers/bytes.ts";
import { microtasks } from "./helpers/manual-clock.ts";

const W = { frames: 4, bytes: 64 };

function decodeAll(bytes: Uint8Array): SessionMessage[] {
  const out: SessionMessage[] = [];
  new MessageReader(1 << 20).push(bytes, (body) => out.push(decodeMessage(body)));
  return out;
}

/** A one-way link: what one side writes, held until the test delivers it (or drops it). */
class Wire {
  chunks: Uint8Array[] = [];
  readonly reader = new MessageReader(1 << 20);
  write(bytes: Uint8Array): void {
    this.chunks.push(bytes.slice());
  }
  /** Decodes what was written and feeds it to `to`; returns the messages. */
  deliver(to: SessionState): SessionMessage[] {
    const out: SessionMessage[] = [];
    for (const chunk of this.chunks.splice(0)) this.reader.push(chunk, (body) => out.push(decodeMessage(body)));
    for (const m of out) to.receive(m);
    return out;
  }
  drop(): void {
    this.chunks = [];
  }
}

const bytes = (n: number, len = 1): Uint8Array => new Uint8Array(len).fill(n);
/** A raw message as a session without a codec puts it in a DATA message: a 4-byte length, then the bytes. */
const raw = (message: Uint8Array): Uint8Array => concat([Uint8Array.of(0, 0, 0, message.length), message]);

describe("session wire format", () => {
  it("round-trips every message, cut at any byte", () => {
    const id = randomSecret();
    const token = randomSecret();
    const payload = Uint8Array.of(9, 8, 7);
    const stream = [
      encodeHello(W),
      encodeResume(W, id, token, 2 ** 40 + 5),
      encodeWelcome(true, W, id, token, 7),
      encodeRefused(RefusedReason.BadToken, "wrong token"),
      encodeDataHeader(3, 1, 2, payload.length),
      payload,
      encodeAck(2 ** 33),
      encodeClose(12),
    ];
    const all = new Uint8Array(stream.reduce((n, b) => n + b.length, 0));
    let at = 0;
    for (const b of stream) {
      all.set(b, at);
      at += b.length;
    }
    for (let cut = 0; cut <= all.length; cut += 7) {
      const reader = new MessageReader(1 << 20);
      const got: SessionMessage[] = [];
      reader.push(all.subarray(0, cut), (body) => got.push(decodeMessage(body.slice())));
      reader.push(all.subarray(cut), (body) => got.push(decodeMessage(body.slice())));
      expect(got.map((m) => m.type)).toEqual([MessageType.Hello, MessageType.Resume, MessageType.Welcome, MessageType.Refused, MessageType.Data, MessageType.Ack, MessageType.Close]);
      const resume = got[1] as Extract<SessionMessage, { type: 2 }>;
      expect(resume.lastReceived).toBe(2 ** 40 + 5);
      expect(sameSecret(resume.token, token)).toBe(true);
      const welcome = got[2] as Extract<SessionMessage, { type: 3 }>;
      expect([welcome.resumed, welcome.lastReceived, sessionIdText(welcome.id)]).toEqual([true, 7, sessionIdText(id)]);
      expect(got[3]).toMatchObject({ reason: RefusedReason.BadToken, message: "wrong token" });
      expect(got[4]).toMatchObject({ first: 3, count: 1, ack: 2, frames: payload });
      expect(got[5]).toMatchObject({ ack: 2 ** 33 });
      expect(got[6]).toMatchObject({ lastSeq: 12 });
    }
  });

  it("refuses a bad magic, an unknown type, an empty window, and a message over the limit", () => {
    const hello = encodeHello(W);
    hello[5] = 0;
    expect(() => decodeAll(hello)).toThrow(/bad magic/);
    expect(() => decodeAll(Uint8Array.of(0, 0, 0, 1, 0x7f))).toThrow(/unknown message type/);
    expect(() => decodeAll(encodeHello({ frames: 0, bytes: 4096 }))).toThrow(/at least 1 frame/);
    expect(() => new MessageReader(10).push(Uint8Array.of(0, 0, 1, 0), () => {})).toThrow(expect.objectContaining({ code: "ERR_SESSION_PROTOCOL" }));
  });

  it("secrets are 128 bits, random, and compared whole", () => {
    const a = randomSecret();
    expect(a.length).toBe(16);
    expect(sameSecret(a, randomSecret())).toBe(false);
    const b = a.slice();
    b[15] = b[15]! ^ 1;
    expect(sameSecret(a, b)).toBe(false);
    expect(sameSecret(a, a.slice())).toBe(true);
  });
});

describe("SessionState", () => {
  function pair(window = W) {
    const a = new SessionState(window);
    const b = new SessionState(window);
    const ab = new Wire();
    const ba = new Wire();
    a.attach(ab, 0, window);
    b.attach(ba, 0, window);
    return { a, b, ab, ba };
  }

  it("send resolves once the peer's session holds the frame; acks are cumulative, coalesced, piggy-backed, and need no timer", async () => {
    const { a, b, ab, ba } = pair({ frames: 16, bytes: 1024 });
    let done = 0;
    void a.send(bytes(1)).then(() => done++);
    void a.send(bytes(2)).then(() => done++);
    await microtasks();
    expect(done).toBe(0); // sent, not acknowledged
    ab.deliver(b);
    expect(ba.chunks.length).toBe(0); // decided at the end of the job that received them
    await microtasks(); // 2 of 16 frames, under a quarter of the window: still acknowledged within the job, no timer
    expect(ba.deliver(a)).toEqual([{ type: MessageType.Ack, ack: 2 }]); // one ack for both
    await microtasks();
    expect(done).toBe(2);
    expect((await b.next()).value).toEqual(bytes(1));
    expect((await b.next()).value).toEqual(bytes(2));
    // Piggy-backed: b reads frame 3 and replies in the same job; its DATA message carries the ack, and no ACK message goes.
    void a.send(bytes(3)).then(() => done++);
    await microtasks();
    ab.deliver(b);
    void b.next().then(() => void b.send(bytes(4)));
    await microtasks();
    expect(ba.deliver(a)).toEqual([expect.objectContaining({ type: MessageType.Data, first: 1, count: 1, ack: 3 })]);
    await microtasks();
    expect(done).toBe(3);
  });

  it("a full window makes send() wait; a consumer that does not read stops the acks, so memory stays bounded", async () => {
    const { a, b, ab, ba } = pair();
    const settled: number[] = [];
    const sends = [];
    for (let i = 1; i <= 8; i++) sends.push(a.send(bytes(i)).then(() => settled.push(i)));
    await expect(a.send(bytes(9))).rejects.toMatchObject({ code: "ERR_QUEUE_FULL" }); // a window's worth already waits
    await microtasks(); // the batch goes once a microtask adds no frame
    expect(decodeAll(concat(ab.chunks))).toEqual([expect.objectContaining({ first: 1, count: 4 })]); // only the window went out, in one DATA message
    ab.deliver(b);
    await microtasks(); // a due acknowledgement goes at the end of the job
    ba.deliver(a);
    await microtasks();
    expect(settled).toEqual([1, 2, 3, 4]);
    ab.deliver(b); // 5-8 arrive, but 4 frames wait unread: the inbox is full, no ack
    await microtasks();
    expect(ba.chunks.length).toBe(0);
    expect(b.unread).toBe(8);
    expect(b.heldBytes).toBeLessThanOrEqual(2 * W.bytes);
    expect(a.unacknowledged).toBe(4);
    for (let i = 1; i <= 4; i++) expect((await b.next()).value).toEqual(bytes(i));
    ba.deliver(a);
    await Promise.all(sends);
    expect(settled).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
    expect(a.heldBytes).toBe(0);
    await expect(a.send(new Uint8Array(65))).rejects.toMatchObject({ code: "ERR_FRAME_TOO_LARGE" });
  });

  it("a frame sent after a refused one goes out", async () => {
    const { a, b, ab } = pair();
    await expect(a.send(new Uint8Array(65))).rejects.toMatchObject({ code: "ERR_FRAME_TOO_LARGE" });
    await microtasks();
    void a.send(bytes(1));
    await microtasks();
    ab.deliver(b);
    expect((await b.next()).value).toEqual(bytes(1));
  });

  it("a peer that ignores the window is a protocol error", () => {
    const { b } = pair();
    const frame = (seq: number) => decodeAll(concat([encodeDataHeader(seq, 1, 0, 5), raw(bytes(seq))]))[0]!;
    for (let seq = 1; seq <= 8; seq++) b.receive(frame(seq));
    expect(() => b.receive(frame(9))).toThrow(expect.objectContaining({ code: "ERR_SESSION_PROTOCOL" }));
    expect(() => b.receive(frame(11))).toThrow(/missing/);
  });

  it("after a lost connection, resuming replays exactly the frames the peer did not receive, and duplicates are dropped", async () => {
    const { a, b, ab } = pair();
    const settled: number[] = [];
    for (let i = 1; i <= 2; i++) void a.send(bytes(i)).then(() => settled.push(i));
    await microtasks();
    for (let i = 3; i <= 4; i++) void a.send(bytes(i)).then(() => settled.push(i));
    await microtasks();
    // Frames 1-2 (one DATA message) arrive; 3-4 (the next) die with the connection, and so do b's acks.
    const written = ab.chunks.splice(0);
    expect(written.length).toBe(2);
    ab.chunks = written.slice(0, 1);
    ab.deliver(b);
    a.detach();
    b.detach();
    expect((await b.next()).value).toEqual(bytes(1));
    const ab2 = new Wire();
    const ba2 = new Wire();
    a.attach(ab2, b.lastReceived, W);
    b.attach(ba2, a.lastReceived, W);
    const replay = decodeAll(concat(ab2.chunks));
    expect(replay).toEqual([expect.objectContaining({ type: MessageType.Data, first: 3, count: 2, frames: concat([raw(bytes(3)), raw(bytes(4))]) })]);
    // A stale copy of frames 1-2 (from the old connection, say) changes nothing.
    b.receive(decodeAll(written[0]!)[0]!);
    ab2.deliver(b);
    await microtasks();
    ba2.deliver(a);
    await microtasks();
    expect(settled).toEqual([1, 2, 3, 4]);
    const got = [];
    for (let i = 0; i < 3; i++) got.push((await b.next()).value![0]);
    expect(got).toEqual([2, 3, 4]);
    expect(b.unread).toBe(0);
  });

  it("a resume cuts a batch the peer holds in part, and a DATA message overlapping what was received delivers only the new frames", async () => {
    const { a, b } = pair();
    for (let i = 1; i <= 4; i++) void a.send(bytes(i));
    await microtasks(); // frames 1-4 went out as one DATA message, which is lost
    a.detach();
    // b holds frames 1-2 (say another implementation sent them on their own).
    b.receive(decodeAll(concat([encodeDataHeader(1, 2, 0, 10), raw(bytes(1)), raw(bytes(2))]))[0]!);
    const wire = new Wire();
    a.attach(wire, b.lastReceived, W);
    expect(decodeAll(concat(wire.chunks))).toEqual([expect.objectContaining({ first: 3, count: 2, frames: concat([raw(bytes(3)), raw(bytes(4))]) })]);
    // Frames 2-4 again: 2 is a duplicate, 3-4 are new.
    b.receive(decodeAll(concat([encodeDataHeader(2, 3, 0, 15), raw(bytes(2)), raw(bytes(3)), raw(bytes(4))]))[0]!);
    const got = [];
    for (let i = 0; i < 4; i++) got.push((await b.next()).value![0]);
    expect(got).toEqual([1, 2, 3, 4]);
    expect(b.lastReceived).toBe(4);
  });

  it("frames sent before the handshake are resent within the peer's window, in as many DATA messages as it takes", async () => {
    for (const [peer, counts] of [
      [{ frames: 4, bytes: 1024 }, [4, 4, 4, 4]],
      [{ frames: 16, bytes: 64 }, [12, 4]], // raw 1-byte messages are 5 bytes each
    ] as const) {
      const a = new SessionState({ frames: 16, bytes: 1024 });
      for (let i = 1; i <= 16; i++) void a.send(bytes(i));
      await microtasks();
      const wire = new Wire();
      a.attach(wire, 0, peer);
      const messages = decodeAll(concat(wire.chunks)) as Extract<SessionMessage, { type: 0x10 }>[];
      expect(messages.map((m) => m.count)).toEqual(counts);
      expect(messages.map((m) => m.first)).toEqual(counts.map((_, i) => 1 + counts.slice(0, i).reduce((n: number, c) => n + c, 0)));
    }
  });

  it("DATA messages received in one chunk are acknowledged by one ACK", async () => {
    const { a, b, ab, ba } = pair({ frames: 16, bytes: 1024 });
    const sends = [];
    for (let batch = 0; batch < 3; batch++) {
      for (let i = 1; i <= 4; i++) sends.push(a.send(bytes(batch * 4 + i)));
      await microtasks(); // each tick's frames go out as one DATA message: a quarter of the window each
    }
    expect(ab.chunks.length).toBe(3);
    ab.chunks = [concat(ab.chunks)]; // all three arrive in one read
    ab.deliver(b);
    await microtasks();
    expect(ba.deliver(a)).toEqual([{ type: MessageType.Ack, ack: 12 }]);
    await Promise.all(sends);
  });

  it("bursts sent between awaits of settled promises travel as one DATA message, which goes once a microtask adds no frame", async () => {
    const { a, b, ab, ba } = pair({ frames: 16, bytes: 1024 });
    const sends: Promise<void>[] = [];
    for (let burst = 0; burst < 3; burst++) {
      for (let i = 1; i <= 2; i++) sends.push(a.send(bytes(burst * 2 + i)));
      await Promise.resolve(); // a producer awaiting something already settled, as a pump awaiting an acknowledged send
    }
    await microtasks();
    expect(decodeAll(concat(ab.chunks))).toEqual([expect.objectContaining({ type: MessageType.Data, first: 1, count: 6 })]);
    expect(new Set(sends).size).toBe(1); // one DATA message: its sends settle together
    ab.deliver(b);
    await microtasks();
    ba.deliver(a);
    await Promise.all(sends);
    void a.send(bytes(7)); // a lone frame is not held back: it goes at the end of the job
    await microtasks();
    expect(decodeAll(concat(ab.chunks))).toEqual([expect.objectContaining({ first: 7, count: 1 })]);
  });

  it("the sends of one DATA message settle together, when its last frame is acknowledged", async () => {
    const { a } = pair();
    const settled: number[] = [];
    for (let i = 1; i <= 3; i++) void a.send(bytes(i)).then(() => settled.push(i));
    await microtasks(); // frames 1-3 went out as one DATA message
    a.receive({ type: MessageType.Ack, ack: 2 }); // not how a session acknowledges (it takes messages whole), but allowed
    await microtasks();
    expect(settled).toEqual([]);
    expect(a.unacknowledged).toBe(1);
    a.receive({ type: MessageType.Ack, ack: 3 });
    await microtasks();
    expect(settled).toEqual([1, 2, 3]);
  });

  it("a DATA message whose bytes do not hold its count of frames is a protocol error, and delivers nothing", () => {
    const { b } = pair();
    expect(() => b.receive(decodeAll(concat([encodeDataHeader(1, 2, 0, 5), raw(bytes(1))]))[0]!)).toThrow(/announced 2 frames/);
    expect(() => b.receive(decodeAll(concat([encodeDataHeader(1, 1, 0, 7), raw(bytes(1)), Uint8Array.of(0, 0)]))[0]!)).toThrow(/announced 1 frames/);
    expect(b.unread).toBe(0);
    expect(b.lastReceived).toBe(0);
  });

  it("lose() rejects exactly the unacknowledged sends, names them, and restarts at sequence 1", async () => {
    const { a, b, ab, ba } = pair();
    const results: string[] = [];
    const record = (i: number): void => void a.send(bytes(i)).then(() => results.push(`ok ${i}`), (e: NetError) => results.push(`${e.code} ${i}`));
    record(1);
    await microtasks();
    for (let i = 2; i <= 6; i++) record(i);
    await microtasks();
    ab.chunks = ab.chunks.slice(0, 1); // only frame 1 reaches b
    ab.deliver(b);
    await microtasks();
    ba.deliver(a); // frame 1 acknowledged; frame 5 takes its place in the window
    await microtasks();
    a.detach();
    const report = a.lose((u) => new (class extends Error {
      code = "ERR_SESSION_LOST";
    })(`${u.count} unconfirmed, frames ${u.firstSeq}-${u.lastSeq}`) as unknown as NetError);
    await microtasks();
    expect(report).toMatchObject({ count: 5, firstSeq: 2, lastSeq: 5 }); // 2-5 sent, 6 waited for the window
    expect(results).toEqual(["ok 1", "ERR_SESSION_LOST 2", "ERR_SESSION_LOST 3", "ERR_SESSION_LOST 4", "ERR_SESSION_LOST 5", "ERR_SESSION_LOST 6"]);
    const fresh = new SessionState(W);
    const wire = new Wire();
    a.attach(wire, 0, W);
    void a.send(bytes(7));
    await microtasks();
    expect(decodeAll(concat(wire.chunks))[0]).toMatchObject({ first: 1, count: 1 });
    expect(fresh.lastReceived).toBe(0);
  });

  it("end() rejects pending sends and ends the reader after the unread frames", async () => {
    const { a, b, ab } = pair();
    const pending = a.send(bytes(1));
    await microtasks();
    ab.deliver(b);
    b.receive({ type: MessageType.Close, lastSeq: 1 });
    expect((await b.next()).value).toEqual(bytes(1));
    expect((await b.next()).done).toBe(true);
    const error = Object.assign(new Error("stopped"), { code: "ABORT_ERR" }) as unknown as NetError;
    a.end(error);
    await expect(pending).rejects.toBe(error);
    await expect(a.send(bytes(2))).rejects.toBe(error);
  });
});
