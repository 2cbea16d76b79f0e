// Framing over real sockets, on every runtime: whole frames out of a byte stream,
// batching, and a hostile peer that only hurts its own connection.
import { describe, expect, it } from "vitest";
import { FramingError, framed, lengthPrefixed, lines } from "../src/mod.ts";
import { patternBytes, sha256 } from "./helpers/bytes.ts";
import { connect, listen, portOf, runtime } from "./helpers/runtime.ts";

describe(`framing over sockets (${runtime})`, () => {
  it("echoes 2,000 length-prefixed frames of mixed sizes, in order and intact", async () => {
    await using server = await listen({ hostname: "127.0.0.1", port: 0 }, async (conn) => {
      const channel = framed(conn, lengthPrefixed());
      for await (const frame of channel) await channel.send(frame);
    });
    const channel = framed(await connect({ hostname: "127.0.0.1", port: portOf(server.address) }), lengthPrefixed());
    // Sizes from 0 bytes to 1 MiB, so frames both share chunks and span many.
    const frames = Array.from({ length: 2000 }, (_, i) => patternBytes(i % 500 === 0 ? 1 << 20 : (i * 37) % 3000, i + 1));
    const sending = Promise.all(frames.map((f) => channel.send(f)));
    let i = 0;
    for await (const frame of channel) {
      expect(frame.length, `frame ${i}`).toBe(frames[i]!.length);
      if (frame.length > 100_000) expect(await sha256(frame)).toBe(await sha256(frames[i]!));
      if (++i === frames.length) break;
    }
    await sending;
    expect(i).toBe(frames.length);
    await channel.close();
  });

  it("carries UTF-8 lines, multi-byte characters included", async () => {
    await using server = await listen({ hostname: "127.0.0.1", port: 0 }, async (conn) => {
      const channel = framed(conn, lines());
      for await (const line of channel) await channel.send(line.toUpperCase());
    });
    const channel = framed(await connect({ hostname: "127.0.0.1", port: portOf(server.address) }), lines());
    const sent = ["héllo wörld", "日本語のテキスト", "emoji 🚀🛰️", "plain"];
    for (const line of sent) await channel.send(line);
    const got: string[] = [];
    for await (const line of channel) {
      got.push(line);
      if (got.length === sent.length) break;
    }
    expect(got).toEqual(sent.map((s) => s.toUpperCase()));
    await channel.close();
  });

  it("closes only the connection whose peer announces an oversize frame", async () => {
    const errors: unknown[] = [];
    await using server = await listen({ hostname: "127.0.0.1", port: 0 }, async (conn) => {
      const channel = framed(conn, lengthPrefixed({ maxFrameLength: 1024 }));
      try {
        for await (const frame of channel) await channel.send(frame);
      } catch (error) {
        errors.push(error);
      }
    });
    const port = portOf(server.address);
    const good = framed(await connect({ hostname: "127.0.0.1", port }), lengthPrefixed());
    const hostile = await connect({ hostname: "127.0.0.1", port });
    // A header announcing 4 GiB - 1, and nothing else: rejected from the header alone.
    await hostile.write(new Uint8Array([0xff, 0xff, 0xff, 0xff]));
    await hostile.closed;
    expect(errors).toHaveLength(1);
    expect(errors[0]).toBeInstanceOf(FramingError);
    expect((errors[0] as FramingError).code).toBe("ERR_FRAME_TOO_LARGE");
    // The neighbour never noticed.
    await good.send(new TextEncoder().encode("still here"));
    for await (const frame of good) {
      expect(new TextDecoder().decode(frame)).toBe("still here");
      break;
    }
    await good.close();
  });

  it("close() sends the frames already queued before closing", async () => {
    const received: string[] = [];
    let done!: () => void;
    const finished = new Promise<void>((r) => (done = r));
    await using server = await listen({ hostname: "127.0.0.1", port: 0 }, async (conn) => {
      for await (const line of framed(conn, lines())) received.push(line);
      done();
    });
    const channel = framed(await connect({ hostname: "127.0.0.1", port: portOf(server.address) }), lines());
    for (let i = 0; i < 100; i++) void channel.send(`line ${i}`);
    await channel.close();
    await finished;
    expect(received).toHaveLength(100);
    expect(received[99]).toBe("line 99");
  });
});
