/**
 * TLS bulk: `size` MiB one way over loopback TLS in 64 KiB writes, both ends
 * in this process, with a throwaway CA and a leaf for localhost/127.0.0.1.
 * Timed from the first write (after the handshake) until the receiver has
 * counted every byte. Result in GB/s (10^9 bytes per second).
 *
 * @module
 */

import type { Socket } from "bun";
import * as tls from "node:tls";
import type { AddressInfo } from "node:net";
import type { Net } from "../../src/net.ts";
import { BunOutbox } from "../lib/bun-net.ts";
import { benchCerts } from "../lib/tls-certs.ts";
import type { DenoConn, DenoListener } from "../lib/deno-api.ts";
import { denoApi, now, portOf, runtime, signal } from "../lib/platform.ts";
import type { Measurement, Scenario } from "../lib/scenario.ts";

const CHUNK = 64 * 1024;
const MiB = 1024 * 1024;
/** The clients dial 127.0.0.1 but verify this name (raw Deno excepted, see rawDeno). */
const SERVER_NAME = "localhost";

/** `Deno.TlsConn`: unlike a TcpConn it has no setNoDelay. */
type DenoTlsConn = Omit<DenoConn, "setNoDelay"> & { handshake(): Promise<unknown> };

/** The TLS part of the Deno namespace (bench/lib/deno-api.ts types only plain TCP). */
interface DenoTlsApi {
  listenTls(options: { hostname: string; port: number; cert: string; key: string }): DenoListener;
  connectTls(options: { hostname: string; port: number; caCerts: string[] }): Promise<DenoTlsConn>;
}

function result(bytes: number, ms: number): Measurement {
  return { value: bytes / (ms / 1000) / 1e9, extra: { bytes, ms } };
}

function payload(): Uint8Array {
  return new Uint8Array(CHUNK).fill(0x5a);
}

async function wireline(net: Net, total: number): Promise<Measurement> {
  const certs = benchCerts();
  const done = signal<number>();
  const server = await net.listen({ hostname: "127.0.0.1", port: 0, tls: { cert: certs.cert, key: certs.key } }, async (conn) => {
    let got = 0;
    for await (const chunk of conn) got += chunk.length;
    done.resolve(got);
  });
  const conn = await net.connect({ hostname: "127.0.0.1", port: portOf(server.address) }, { tls: { ca: certs.ca, serverName: SERVER_NAME } });
  const chunk = payload();
  const t0 = now();
  for (let sent = 0; sent < total; sent += CHUNK) await conn.write(chunk);
  conn.end();
  const got = await done.promise;
  const ms = now() - t0;
  await conn.close();
  await server.close();
  return result(got, ms);
}

async function rawNode(total: number): Promise<Measurement> {
  const certs = benchCerts();
  const done = signal<number>();
  const server = tls.createServer({ cert: certs.cert, key: certs.key }, (socket) => {
    let got = 0;
    socket.on("data", (chunk: Uint8Array) => (got += chunk.length));
    socket.on("end", () => done.resolve(got));
  });
  const port = await new Promise<number>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => resolve((server.address() as AddressInfo).port));
  });
  const socket = await new Promise<tls.TLSSocket>((resolve, reject) => {
    const s = tls.connect({ host: "127.0.0.1", port, ca: certs.ca, servername: SERVER_NAME }, () => {
      s.off("error", reject);
      resolve(s);
    });
    s.once("error", reject);
  });
  socket.setNoDelay(true);
  const chunk = payload();
  const t0 = now();
  let sent = 0;
  const pump = (): void => {
    while (sent < total) {
      sent += CHUNK;
      if (!socket.write(chunk)) {
        socket.once("drain", pump);
        return;
      }
    }
    socket.end();
  };
  pump();
  const got = await done.promise;
  const ms = now() - t0;
  socket.destroy();
  server.close();
  return result(got, ms);
}

async function rawDeno(total: number): Promise<Measurement> {
  const certs = benchCerts();
  const Deno = denoApi() as unknown as DenoTlsApi;
  const listener = Deno.listenTls({ hostname: "127.0.0.1", port: 0, cert: certs.cert, key: certs.key });
  const received = (async () => {
    const conn = await listener.accept();
    const buf = new Uint8Array(CHUNK);
    let got = 0;
    for (;;) {
      const n = await conn.read(buf);
      if (n === null) break;
      got += n;
    }
    conn.close();
    return got;
  })();
  // connectTls verifies the host it dials; the leaf names 127.0.0.1 too, so dialling it checks the same certificate.
  const conn = await Deno.connectTls({ hostname: "127.0.0.1", port: listener.addr.port, caCerts: [certs.ca] });
  await conn.handshake();
  const chunk = payload();
  const t0 = now();
  for (let sent = 0; sent < total; sent += CHUNK) {
    // write() may take only part of the chunk; the loop sends the rest.
    for (let off = 0; off < CHUNK; ) off += await conn.write(off === 0 ? chunk : chunk.subarray(off));
  }
  await conn.closeWrite();
  const got = await received;
  const ms = now() - t0;
  conn.close();
  listener.close();
  return result(got, ms);
}

async function rawBun(total: number): Promise<Measurement> {
  const certs = benchCerts();
  const done = signal<number>();
  let got = 0;
  const listener = Bun.listen({
    hostname: "127.0.0.1",
    port: 0,
    tls: { cert: certs.cert, key: certs.key },
    socket: {
      data(_s, chunk) {
        got += chunk.length;
      },
      end(s) {
        s.end();
        done.resolve(got);
      },
    },
  });
  const chunk = payload();
  const outbox = new BunOutbox();
  const secured = signal<Error | undefined>();
  let sent = 0;
  const pump = (s: Socket<unknown>): void => {
    if (!outbox.flush(s)) return;
    while (sent < total) {
      sent += CHUNK;
      if (!outbox.write(s, chunk)) return; // the rest goes out on drain
    }
    s.end();
  };
  const socket = await Bun.connect({
    hostname: "127.0.0.1",
    port: listener.port,
    tls: { ca: certs.ca, serverName: SERVER_NAME },
    socket: {
      data() {},
      // Bun closes a refused peer without an error event, so the handshake result is checked here.
      handshake(_s, success, authorizationError) {
        secured.resolve(success ? undefined : (authorizationError ?? new Error("TLS handshake failed")));
      },
      // Writes may only start once the handshake settled; a drain before that has nothing to flush.
      drain: (s) => {
        if (sent > 0) pump(s);
      },
    },
  });
  const refused = await secured.promise;
  if (refused) {
    socket.end();
    listener.stop(true);
    throw refused;
  }
  const t0 = now();
  pump(socket);
  const total_ = await done.promise;
  const ms = now() - t0;
  listener.stop(true);
  return result(total_, ms);
}

/** The TLS bulk scenario. */
export const tlsBulk: Scenario = {
  name: "tls-bulk",
  title: "tls bulk: 256 MiB one way over TLS, 64 KiB writes",
  unit: "GB/s",
  higherIsBetter: true,
  sizes: { full: 256 * MiB, quick: 64 * MiB, guard: 64 * MiB },
  // TLS throughput on Node keeps climbing for a while after the first MiBs (first timed runs came out ~20% low with a 32 MiB warm-up).
  warmupSize: (size) => Math.max(64 * MiB, size / 4),
  variants: [
    { name: "wireline", role: "wireline", label: "wireline", run: wireline },
    {
      name: "raw",
      role: "raw",
      label: "raw",
      run: (_net, size) => (runtime === "node" ? rawNode(size) : runtime === "deno" ? rawDeno(size) : rawBun(size)),
    },
  ],
};
