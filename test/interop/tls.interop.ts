// TLS between runtimes: a wireline TLS server on each runtime, a wireline TLS
// client on each runtime, verification on, ALPN offered, 1 MiB echoed and hashed.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { testCerts } from "../helpers/certs.ts";
import { startFixture, type Fixture, type RuntimeName } from "../helpers/spawn.ts";

const runtimes: RuntimeName[] = ["node", "deno", "bun"];
const certs = testCerts();
const servers = new Map<RuntimeName, Fixture>();

beforeAll(async () => {
  for (const rt of runtimes) servers.set(rt, await startFixture(rt, "test/fixtures/tls-server.ts", ["echo", certs.dir]));
});

afterAll(async () => {
  await Promise.all([...servers.values()].map((s) => s.stop()));
});

describe("TLS interop between runtimes", () => {
  for (const client of runtimes) {
    it(`${client} TLS client ↔ node, deno and bun TLS servers`, async () => {
      const ports = runtimes.map((rt) => servers.get(rt)!.firstLine);
      const fixture = await startFixture(client, "test/fixtures/tls-client.ts", [certs.dir, ...ports], 90_000);
      await fixture.exited;
      const report = JSON.parse(fixture.firstLine) as { client: string; results: Record<string, { ok: boolean; alpn?: string; error?: string }> };
      expect(report.client).toBe(client);
      for (const [i, server] of runtimes.entries()) {
        expect(report.results[ports[i]!], `${client} → ${server}`).toEqual({ ok: true, alpn: "wl/1" });
      }
    });
  }
});
