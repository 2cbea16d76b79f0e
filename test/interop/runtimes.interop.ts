// A server on each runtime, a client on each runtime: every pair exchanges raw
// bytes and length-prefixed frames, and both must arrive intact.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startFixture, type Fixture, type RuntimeName } from "../helpers/spawn.ts";

const runtimes: RuntimeName[] = ["node", "deno", "bun"];
const servers = new Map<RuntimeName, Fixture>();

beforeAll(async () => {
  for (const rt of runtimes) servers.set(rt, await startFixture(rt, "test/fixtures/echo-server.ts"));
});

afterAll(async () => {
  await Promise.all([...servers.values()].map((s) => s.stop()));
});

describe("interop between runtimes", () => {
  for (const client of runtimes) {
    it(`${client} client ↔ node, deno and bun servers`, async () => {
      const ports = runtimes.map((rt) => servers.get(rt)!.firstLine);
      const fixture = await startFixture(client, "test/fixtures/echo-client.ts", ports, 90_000);
      await fixture.exited;
      const report = JSON.parse(fixture.firstLine) as { client: string; results: Record<string, { raw: boolean; frames: boolean; error?: string }> };
      expect(report.client).toBe(client);
      for (const [i, server] of runtimes.entries()) {
        expect(report.results[ports[i]!], `${client} → ${server}`).toEqual({ raw: true, frames: true });
      }
    });
  }
});
