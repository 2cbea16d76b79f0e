/**
 * TLS bulk: `size` MiB one way over loopback TLS in 64 KiB writes, both ends
 * in this process, with a throwaway CA and a leaf for localhost/127.0.0.1.
 * Timed from the first write (after the handshake) until the receiver has
 * counted every byte. Result in GB/s (10^9 bytes per second).
 *
 * @module
 */

import * as tls from "node:tls";
import type { AddressInfo } from "node:net";
import type { Net } from "../../src/net.ts";
import { rawVariant, wirelineOptionVariant, wirelineVariant } from "../lib/baseline-variants.ts";
import {
  MiB,
  rawBulk,
  rawBunBulk,
  rawDenoBulk,
  wirelineBulk,
  type BulkReader,
  type BunBulkEnds,
  type DenoBulkEnds,
  type NodeBulkEnds,
} from "../lib/bulk-transfer.ts";
import { benchCerts } from "../lib/tls-certs.ts";
import type { DenoConn, DenoListener } from "../lib/deno-api.ts";
import { denoApi, signal } from "../lib/platform.ts";
import type { Measurement, Scenario } from "../lib/scenario.ts";

/** The clients dial 127.0.0.1 but verify this name (raw Deno excepted, see denoEnds). */
const SERVER_NAME = "localhost";

/** `Deno.TlsConn`: unlike a TcpConn it has no setNoDelay. */
type DenoTlsConn = Omit<DenoConn, "setNoDelay"> & { handshake(): Promise<unknown> };

/** The TLS part of the Deno namespace (bench/lib/deno-api.ts types only plain TCP). */
interface DenoTlsApi {
  listenTls(options: { hostname: string; port: number; cert: string; key: string }): DenoListener;
  connectTls(options: { hostname: string; port: number; caCerts: string[] }): Promise<DenoTlsConn>;
}

const nodeEnds: NodeBulkEnds = {
  listen: (onSocket) => {
    const certs = benchCerts();
    const server = tls.createServer({ cert: certs.cert, key: certs.key }, onSocket);
    return new Promise((resolve, reject) => {
      server.once("error", reject);
      server.listen(0, "127.0.0.1", () => resolve({ server, port: (server.address() as AddressInfo).port }));
    });
  },
  connect: (port) =>
    new Promise<tls.TLSSocket>((resolve, reject) => {
      const s = tls.connect({ host: "127.0.0.1", port, ca: benchCerts().ca, servername: SERVER_NAME }, () => {
        s.off("error", reject);
        s.setNoDelay(true);
        resolve(s);
      });
      s.once("error", reject);
    }),
};

const denoEnds: DenoBulkEnds = {
  listen: () => {
    const certs = benchCerts();
    return (denoApi() as unknown as DenoTlsApi).listenTls({ hostname: "127.0.0.1", port: 0, cert: certs.cert, key: certs.key });
  },
  connect: async (port) => {
    // connectTls verifies the host it dials; the leaf names 127.0.0.1 too, so dialling it checks the same certificate.
    const conn = await (denoApi() as unknown as DenoTlsApi).connectTls({ hostname: "127.0.0.1", port, caCerts: [benchCerts().ca] });
    await conn.handshake();
    return conn;
  },
};

const bunEnds: BunBulkEnds = {
  listen: (socket) => {
    const certs = benchCerts();
    return Bun.listen({ hostname: "127.0.0.1", port: 0, tls: { cert: certs.cert, key: certs.key }, socket });
  },
  connect: async (port, socket) => {
    const secured = signal<Error | undefined>();
    const s = await Bun.connect({
      hostname: "127.0.0.1",
      port,
      tls: { ca: benchCerts().ca, serverName: SERVER_NAME },
      socket: {
        ...socket,
        // Bun closes a refused peer without an error event, so the handshake result is checked here.
        handshake(_s, success, authorizationError) {
          secured.resolve(success ? undefined : (authorizationError ?? new Error("TLS handshake failed")));
        },
      },
    });
    const refused = await secured.promise;
    if (refused) {
      s.end();
      throw refused;
    }
    return s;
  },
};

function wireline(net: Net, total: number, borrowedChunks = false, reader: BulkReader = "iterate"): Promise<Measurement> {
  const certs = benchCerts();
  return wirelineBulk(
    net,
    total,
    { hostname: "127.0.0.1", port: 0, tls: { cert: certs.cert, key: certs.key }, borrowedChunks },
    { tls: { ca: certs.ca, serverName: SERVER_NAME } },
    reader,
  );
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
    wirelineVariant((net, total) => wireline(net, total)),
    rawVariant(rawBulk({ node: nodeEnds, deno: denoEnds, bun: bunEnds })),
    wirelineOptionVariant("wireline-borrowed", "wireline, borrowedChunks: true", (net, total) => wireline(net, total, true)),
    wirelineOptionVariant("wireline-read-into", "wireline read(into)", (net, total) => wireline(net, total, false, "read-into")),
    // Deno reads into JavaScript memory: a reader that keeps its chunks needs fresh memory per read. This is that cost in raw code.
    { name: "raw-fresh", role: "reference", label: "raw, fresh memory per read", runtimes: ["deno"], run: (_net, total) => rawDenoBulk(total, denoEnds, true) },
    // The raw API read through a promise, as wireline's iteration must: Bun's GC then keeps about one more received chunk per collection.
    { name: "raw-pull", role: "reference", label: "raw, data awaited through a promise", runtimes: ["bun"], run: (_net, total) => rawBunBulk(total, bunEnds, true) },
  ],
};
