// The connect lifecycle the core owns for every transport (src/socket/dial.ts):
// one outcome per attempt, the adapter's cancel hook called when the core gives
// up, and a socket that opens too late destroyed. Scripted transports, no network.
import { describe, expect, it } from "vitest";
import { memoryTransport } from "../adapters/memory.ts";
import { NetError } from "../src/errors.ts";
import { createNet } from "../src/net.ts";
import { Dial } from "../src/socket/dial.ts";
import type { CancelConnect, ConnectSink, RawSocket, Transport } from "../src/transport.ts";

/** A raw socket that only counts its destroy() calls. */
function fakeSocket(): RawSocket & { destroyed: number } {
  const socket = { destroyed: 0, destroy: () => void socket.destroyed++ };
  return socket as unknown as RawSocket & { destroyed: number };
}

/** A transport whose connects wait for the test: it keeps each sink and counts cancels. */
function scripted(connect?: Transport["connect"]) {
  const sinks: ConnectSink[] = [];
  let cancels = 0;
  const transport: Transport = {
    name: "scripted",
    capabilities: memoryTransport.capabilities,
    connect:
      connect ??
      ((_address, _options, sink): CancelConnect => {
        sinks.push(sink);
        return () => void cancels++;
      }),
    listen: () => Promise.reject(new NetError("ERR_UNSUPPORTED", "no listening here")),
  };
  return { net: createNet(transport), sinks, cancels: () => cancels };
}

describe("the core's connect lifecycle", () => {
  it("an attempt given up (timeout) calls the adapter's cancel hook once, ignores a later failure and destroys a late socket", async () => {
    const { net, sinks, cancels } = scripted();
    const error = await net.connect("127.0.0.1:7000", { timeout: 20 }).catch((e: unknown) => e);
    expect(error).toMatchObject({ code: "ETIMEDOUT", address: "127.0.0.1:7000" });
    expect(cancels()).toBe(1);
    const late = fakeSocket();
    sinks[0]!.failed(new Error("late failure"));
    sinks[0]!.opened(late);
    expect(late.destroyed).toBe(1);
    expect(cancels()).toBe(1);
  });

  it("reports once: a second report is ignored, and a second socket destroyed", async () => {
    const { net, sinks, cancels } = scripted();
    const pending = net.connect("127.0.0.1:7000");
    const extra = fakeSocket();
    sinks[0]!.failed(Object.assign(new Error("refused"), { code: "ECONNREFUSED" }));
    sinks[0]!.opened(extra);
    await expect(pending).rejects.toMatchObject({ code: "ECONNREFUSED", address: "127.0.0.1:7000" });
    expect(extra.destroyed).toBe(1);
    expect(cancels()).toBe(0);
  });

  it("an adapter may report before its connect returns: the attempt settles, and nothing is cancelled later", async () => {
    let cancelled = 0;
    const { net } = scripted((_address, _options, sink) => {
      sink.failed(new NetError("ENOENT", "no such Unix socket"));
      return () => void cancelled++;
    });
    await expect(net.connect({ path: "/nonexistent.sock" }, { timeout: 20 })).rejects.toMatchObject({ code: "ENOENT" });
    await new Promise((resolve) => setTimeout(resolve, 40));
    expect(cancelled).toBe(0);
  });

  it("a connect that returns a promise instead (no cancel hook) works, and its late socket is destroyed", async () => {
    const late = fakeSocket();
    let open!: (socket: RawSocket) => void;
    const { net } = scripted(() => new Promise<RawSocket>((resolve) => (open = resolve)));
    const controller = new AbortController();
    const pending = net.connect("127.0.0.1:7000", { signal: controller.signal });
    controller.abort();
    await expect(pending).rejects.toMatchObject({ code: "ABORT_ERR" });
    open(late);
    await Promise.resolve();
    expect(late.destroyed).toBe(1);
  });

  it("a connect that throws fails with its error, named with the address", async () => {
    const { net } = scripted(() => {
      throw Object.assign(new Error("bad port"), { code: "EACCES" });
    });
    await expect(net.connect("127.0.0.1:7000")).rejects.toMatchObject({ code: "EACCES", address: "127.0.0.1:7000" });
  });

  describe("a TLS socket reported at its TCP connect, its handshake pending", () => {
    function pendingTls() {
      let settle!: (error?: Error) => void;
      const handshake = new Promise<void>((resolve, reject) => (settle = (error) => (error ? reject(error) : resolve())));
      const socket = Object.assign(fakeSocket(), { handshake });
      const seen: string[] = [];
      const dial = new Dial({ address: { transport: "tcp", hostname: "127.0.0.1", port: 7000 }, label: "127.0.0.1:7000", peer: undefined }, {
        dialled: (s) => seen.push(s === socket ? "dialled" : "dialled another socket"),
        dialFailed: (error) => seen.push(`failed ${error.code}`),
      });
      return { dial, socket, settle, seen, flush: () => handshake.catch(() => {}).then(() => Promise.resolve()) };
    }

    it("the attempt is done when the handshake is, with that socket", async () => {
      const { dial, socket, settle, seen, flush } = pendingTls();
      dial.opened(socket);
      await Promise.resolve();
      expect(seen).toEqual([]);
      settle();
      await flush();
      expect(seen).toEqual(["dialled"]);
      expect(socket.destroyed).toBe(0);
    });

    it("a failed handshake fails the attempt with its error and destroys the socket", async () => {
      const { dial, socket, settle, seen, flush } = pendingTls();
      dial.opened(socket);
      settle(new NetError("ERR_TLS_CERT", "the peer's certificate was refused"));
      await flush();
      expect(seen).toEqual(["failed ERR_TLS_CERT"]);
      expect(socket.destroyed).toBe(1);
    });

    it("an attempt given up during the handshake destroys the socket and reports nothing, whatever the handshake does next", async () => {
      const { dial, socket, settle, seen, flush } = pendingTls();
      dial.opened(socket);
      dial.cancel();
      expect(socket.destroyed).toBe(1);
      settle();
      await flush();
      expect(seen).toEqual([]);
    });
  });
});
