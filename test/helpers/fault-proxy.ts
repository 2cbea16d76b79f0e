/**
 * A TCP proxy whose faults the tests switch on and off, built on wireline's
 * own connect/listen for the current runtime.
 *
 * Modes apply to new and existing connections alike:
 * - "pass": forward both ways; with `latency`, each chunk is held that many ms
 *   before it is forwarded, one chunk at a time per direction;
 * - "blackhole": accept, never answer, never forward (a half-dead peer);
 * - "reset": close every connection at once, new ones as soon as accepted;
 * - "refuse": stop listening, so connects get ECONNREFUSED; another mode listens
 *   again on the same port.
 * `dropAfter`: close a connection once that many client-to-server bytes were
 * forwarded (the last chunk is cut to fit, so a frame can be cut in half).
 */
import type { Connection, Server } from "../../src/mod.ts";
import { connect, delay, listen, portOf } from "./runtime.ts";

export type FaultMode = "pass" | "blackhole" | "reset" | "refuse";

interface Pair {
  client: Connection;
  upstream: Connection | undefined;
}

export class FaultProxy {
  readonly port: number;
  /** Ms each chunk is held before it is forwarded; order is kept. */
  latency = 0;
  /** Close each connection after this many client-to-server bytes; undefined for never. */
  dropAfter: number | undefined;
  /** Connections accepted so far (each is one client attempt that reached us). */
  accepted = 0;
  /** Arrival time (Date.now()) of each accepted connection. */
  readonly acceptTimes: number[] = [];

  #upstream: string;
  #mode: FaultMode = "pass";
  #server: Server | undefined;
  readonly #pairs = new Set<Pair>();

  private constructor(server: Server, upstream: string) {
    this.#server = server;
    this.#upstream = upstream;
    this.port = portOf(server.address);
  }

  /** Starts a proxy on a free loopback port, forwarding to `upstream` ("host:port"). */
  static async start(upstream: string): Promise<FaultProxy> {
    let proxy!: FaultProxy;
    const server = await listen({ hostname: "127.0.0.1", port: 0 }, (conn) => proxy.#handle(conn));
    proxy = new FaultProxy(server, upstream);
    return proxy;
  }

  get mode(): FaultMode {
    return this.#mode;
  }

  /** Where new connections are forwarded. */
  set upstream(address: string) {
    this.#upstream = address;
  }

  /** Switches mode; resolves once the listener is stopped or listening again. */
  async setMode(mode: FaultMode): Promise<void> {
    this.#mode = mode;
    if (mode === "reset" || mode === "refuse") this.#dropAll();
    if (mode === "refuse") {
      const server = this.#server;
      this.#server = undefined;
      await server?.close();
    } else if (!this.#server) {
      // The port was just released; a rare EADDRINUSE race is retried briefly.
      for (let i = 0; ; i++) {
        try {
          this.#server = await listen({ hostname: "127.0.0.1", port: this.port }, (conn) => this.#handle(conn));
          break;
        } catch (error) {
          if (i >= 50) throw error;
          await delay(20);
        }
      }
    }
  }

  /** Stops listening and closes every connection. */
  async close(): Promise<void> {
    this.#mode = "refuse";
    this.#dropAll();
    const server = this.#server;
    this.#server = undefined;
    await server?.close();
  }

  #dropAll(): void {
    for (const pair of this.#pairs) {
      pair.client.destroy();
      pair.upstream?.destroy();
    }
    this.#pairs.clear();
  }

  async #handle(client: Connection): Promise<void> {
    this.accepted++;
    this.acceptTimes.push(Date.now());
    if (this.#mode === "reset" || this.#mode === "refuse") {
      client.destroy();
      return;
    }
    const pair: Pair = { client, upstream: undefined };
    this.#pairs.add(pair);
    try {
      if (this.#mode === "blackhole") {
        // Read and discard, never answer: the client sees an open, silent peer.
        for await (const _ of client);
        return;
      }
      let upstream: Connection;
      try {
        upstream = await connect(this.#upstream);
      } catch {
        client.destroy();
        return;
      }
      pair.upstream = upstream;
      if (!this.#pairs.has(pair)) {
        upstream.destroy();
        return;
      }
      await Promise.all([this.#pipe(client, upstream, true, pair), this.#pipe(upstream, client, false, pair)]);
    } finally {
      this.#pairs.delete(pair);
      client.destroy();
      pair.upstream?.destroy();
    }
  }

  async #pipe(from: Connection, to: Connection, upstreamBound: boolean, pair: Pair): Promise<void> {
    let forwarded = 0;
    try {
      for await (const chunk of from) {
        if (this.#mode === "blackhole") continue;
        if (this.latency > 0) await delay(this.latency);
        let out = chunk;
        const limit = upstreamBound ? this.dropAfter : undefined;
        if (limit !== undefined && forwarded + out.length >= limit) {
          out = out.subarray(0, limit - forwarded);
          if (out.length > 0) await to.write(out);
          // Let the cut bytes reach the server before the connection goes.
          await to.close();
          pair.client.destroy();
          return;
        }
        forwarded += out.length;
        await to.write(out);
      }
      to.end();
    } catch {
      from.destroy();
      to.destroy();
    }
  }
}
