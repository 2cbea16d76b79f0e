// Resumable sessions between runtimes: a session echo server on each runtime,
// a session client on each runtime; every pair exchanges 2000 frames through
// 5 connection resets, each echoed once and in order.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startFixture, type Fixture, type RuntimeName } from "../helpers/spawn.ts";

const runtimes: RuntimeName[] = ["node", "deno", "bun"];
const servers = new Map<RuntimeName, Fixture>();

beforeAll(async () => {
  for (const rt of runtimes) servers.set(rt, await startFixture(rt, "test/fixtures/session-echo-server.ts"));
});

afterAll(async () => {
  await Promise.all([...servers.values()].map((s) => s.stop()));
});

describe("sessions between runtimes", () => {
  for (const client of runtimes) {
    it(`${client} session client ↔ node, deno and bun session servers`, async () => {
      const ports = runtimes.map((rt) => servers.get(rt)!.firstLine);
      const fixture = await startFixture(client, "test/fixtures/session-echo-client.ts", ports, 90_000);
      await fixture.exited;
      const report = JSON.parse(fixture.firstLine) as { client: string; results: Record<string, { ok: boolean; resumes: number; error?: string }> };
      expect(report.client).toBe(client);
      for (const [i, server] of runtimes.entries()) {
        const result = report.results[ports[i]!]!;
        expect(result, `${client} → ${server}`).toMatchObject({ ok: true });
        expect(result.resumes, `${client} → ${server}`).toBeGreaterThanOrEqual(RESETS_MIN);
      }
    });
  }
});

/** The last reset may come after the last echo was acknowledged. */
const RESETS_MIN = 4;
