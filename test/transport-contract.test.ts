// The raw transport contract (src/transport.ts), checked on the current runtime's adapter.
import { describe, expect, it } from "vitest";
import type { RawHandlers, RawSocket } from "../src/transport.ts";
import { NetError } from "../src/errors.ts";
import { runtime, transport } from "./helpers/runtime.ts";
import { concat, firstDifference, patternBytes } from "./helpers/bytes.ts";

interface Recorded {
  chunks: Uint8Array[];
  ended: Promise<void>;
  closed: Promise<NetError | undefined>;
  drains: number;
  bytes(): Uint8Array;
}

function record(socket: RawSocket): Recorded {
  let onEnd!: () => void;
  let onClose!: (e: NetError | undefined) => void;
  const rec: Recorded = {
    chunks: [],
    ended: new Promise((r) => (onEnd = r)),
    closed: new Promise((r) => (onClose = r)),
    drains: 0,
    bytes: () => concat(rec.chunks),
  };
  const handlers: RawHandlers = {
    onData: (c) => rec.chunks.push(c),
    onEnd: () => onEnd(),
    onDrain: () => rec.drains++,
    onClose: (e) => onClose(e),
  };
  socket.start(handlers);
  return rec;
}


async function pair() {
  let accept!: (s: RawSocket) => void;
  const accepted = new Promise<RawSocket>((r) => (accept = r));
  const listener = await transport.listen({ address: { transport: "tcp", hostname: "127.0.0.1", port: 0 } }, accept);
  if (listener.address.transport !== "tcp") throw new Error("expected tcp");
  const client = await transport.connect({ transport: "tcp", hostname: "127.0.0.1", port: listener.address.port }, {});
  const server = await accepted;
  return { listener, client, server };
}

describe(`transport contract (${runtime})`, () => {
  it("listens on an ephemeral port and reports addresses", async () => {
    const { listener, client, server } = await pair();
    expect(listener.address).toMatchObject({ transport: "tcp", hostname: "127.0.0.1" });
    expect(client.remoteAddress).toMatchObject({ transport: "tcp", port: (listener.address as { port: number }).port });
    expect(server.localAddress).toMatchObject({ transport: "tcp", port: (listener.address as { port: number }).port });
    const c = record(client);
    const s = record(server);
    client.destroy();
    // The contract leaves a half-closed socket open: closing after EOF is the core's decision.
    await s.ended;
    server.destroy();
    await Promise.all([c.closed, s.closed]);
    await listener.close();
  });

  it("delivers every byte of a large write, then EOF, then close once", async () => {
    const { listener, client, server } = await pair();
    const s = record(server);
    const c = record(client);
    const size = 8 * 1024 * 1024;
    const data = patternBytes(size);
    const full = client.write(data);
    expect(typeof full).toBe("boolean");
    expect(full).toBe(false); // 8 MiB is far above the high-water mark
    expect(client.bufferedAmount).toBeGreaterThan(0);
    client.end();
    await s.ended;
    expect(firstDifference(s.bytes(), data)).toBe(-1);
    server.close();
    await c.ended;
    client.close();
    const [ce, se] = await Promise.all([c.closed, s.closed]);
    expect(ce).toBeUndefined();
    expect(se).toBeUndefined();
    await listener.close();
  });

  it("pause stops delivery and resume restarts it", async () => {
    const { listener, client, server } = await pair();
    const s = record(server);
    record(client);
    server.pause();
    client.write(new Uint8Array(1000));
    await new Promise((r) => setTimeout(r, 50));
    expect(s.chunks.length).toBe(0);
    server.resume();
    while (s.bytes().length < 1000) await new Promise((r) => setTimeout(r, 5));
    client.destroy();
    await s.ended;
    server.destroy();
    await s.closed;
    await listener.close();
  });

  it("signals drain after write returns false", async () => {
    const { listener, client, server } = await pair();
    const s = record(server);
    const c = record(client);
    server.pause();
    let writes = 0;
    while (client.write(new Uint8Array(64 * 1024)) && writes < 10_000) writes++;
    expect(writes).toBeLessThan(10_000);
    server.resume();
    while (c.drains === 0) await new Promise((r) => setTimeout(r, 5));
    client.destroy();
    await s.ended;
    server.destroy();
    await s.closed;
    await listener.close();
  });

  it("refused connect rejects with ECONNREFUSED", async () => {
    const { listener, client, server } = await pair();
    const port = (listener.address as { port: number }).port;
    record(client);
    record(server);
    client.destroy();
    await listener.close();
    const err = await transport.connect({ transport: "tcp", hostname: "127.0.0.1", port }, {}).catch((e) => e);
    expect(err).toBeInstanceOf(NetError);
    expect(err.code).toBe("ECONNREFUSED");
  });
});
