// Backoff and endpoint policies: pure units, the same on every runtime.
import { describe, expect, it } from "vitest";
import { createBackoff, type BackoffPolicy } from "../src/reconnecting/backoff.ts";
import { endpoints } from "../src/connect/endpoints.ts";
import { NetError } from "../src/errors.ts";

const refused = new NetError("ECONNREFUSED", "connection refused");

/** The delay for `attempt`, for policies that never stop. */
function at(backoff: BackoffPolicy, attempt: number): number {
  const delay = backoff.next(attempt, refused, undefined);
  if (delay === "stop") throw new Error("unexpected stop");
  return delay;
}

/** A deterministic "random" cycling through the given values. */
function sequence(...values: number[]): () => number {
  let i = 0;
  return () => values[i++ % values.length]!;
}

describe("createBackoff", () => {
  it("defaults to full jitter: random(0, min(30 s, 100 ms * 2^(attempt-1)))", () => {
    const top = createBackoff({}, () => 0.999999);
    const ceilings = [1, 2, 3, 4, 8, 9, 20].map((n) => Math.round(at(top, n)));
    expect(ceilings).toEqual([100, 200, 400, 800, 12_800, 25_600, 30_000]);
    const bottom = createBackoff({}, () => 0);
    expect(at(bottom, 5)).toBe(0);
    const half = createBackoff({}, () => 0.5);
    expect(at(half, 3)).toBe(200);
  });

  it("spreads delays with Math.random across the whole range", () => {
    const backoff = createBackoff({ initial: 100, max: 1000 });
    const delays = Array.from({ length: 2000 }, () => at(backoff, 4));
    expect(Math.min(...delays)).toBeGreaterThanOrEqual(0);
    expect(Math.max(...delays)).toBeLessThanOrEqual(800);
    // 2000 uniform draws over [0, 800): each quarter holds 500 on average; 350 is > 7 sigma away.
    for (let q = 0; q < 4; q++) {
      const inQuarter = delays.filter((d) => d >= q * 200 && d < (q + 1) * 200).length;
      expect(inQuarter).toBeGreaterThan(350);
    }
  });

  it('jitter "none" is plain capped exponential', () => {
    const backoff = createBackoff({ initial: 50, max: 300, jitter: "none" });
    expect([1, 2, 3, 4, 5].map((n) => at(backoff, n))).toEqual([50, 100, 200, 300, 300]);
  });

  it('jitter "decorrelated" stays within [initial, max], grows from its previous delay, and resets', () => {
    const backoff = createBackoff({ initial: 100, max: 1000, jitter: "decorrelated" }, sequence(1 - 1e-9));
    // Each delay is at most 3x the previous one, capped at max.
    expect(Math.round(at(backoff, 1))).toBe(300);
    expect(Math.round(at(backoff, 2))).toBe(900);
    expect(Math.round(at(backoff, 3))).toBe(1000);
    backoff.reset();
    expect(Math.round(at(backoff, 1))).toBe(300);
    const low = createBackoff({ initial: 100, max: 1000, jitter: "decorrelated" }, () => 0);
    expect(at(low, 7)).toBe(100);
  });

  it("a custom function gets attempt, error and endpoint, and may stop", () => {
    const seen: unknown[] = [];
    const endpoint = { transport: "tcp", hostname: "a", port: 1 } as const;
    const backoff = createBackoff((attempt, error, where) => {
      seen.push([attempt, error.code, where]);
      return attempt > 2 ? "stop" : attempt * 10;
    });
    expect(backoff.next(1, refused, endpoint)).toBe(10);
    expect(backoff.next(3, refused, endpoint)).toBe("stop");
    expect(seen).toEqual([
      [1, "ECONNREFUSED", endpoint],
      [3, "ECONNREFUSED", endpoint],
    ]);
    expect(() => createBackoff(() => -1).next(1, refused, undefined)).toThrow(/ERR_INVALID_OPTION/);
  });

  it("rejects bad settings with ERR_INVALID_OPTION", () => {
    expect(() => createBackoff({ initial: 0 })).toThrow(/backoff.initial/);
    expect(() => createBackoff({ initial: 500, max: 100 })).toThrow(/backoff.max/);
    expect(() => createBackoff({ jitter: "some" as "full" })).toThrow(/backoff.jitter/);
    expect(() => createBackoff({ initial: Number.NaN })).toThrow(/ERR_INVALID_OPTION/);
  });
});

describe("endpoints", () => {
  it("rotates through a list", async () => {
    const source = endpoints(["a:1", "b:2", { path: "/tmp/c.sock" }]);
    const seen = [];
    for (let i = 0; i < 4; i++) seen.push(await source.next());
    expect(seen.map((a) => (a.transport === "tcp" ? a.hostname : a.path))).toEqual(["a", "b", "/tmp/c.sock", "a"]);
    expect(source.label).toBe("[a:1, b:2, /tmp/c.sock]");
  });

  it("shuffles a list once when asked", async () => {
    const source = endpoints(["a:1", "b:2", "c:3"], { shuffle: true, random: () => 0 });
    const seen = [];
    for (let i = 0; i < 6; i++) seen.push(((await source.next()) as { hostname: string }).hostname);
    expect(seen).toEqual(["b", "c", "a", "b", "c", "a"]);
  });

  it("asks a function for each attempt; a throw or a bad address becomes a retryable ENOTFOUND naming the function", async () => {
    let n = 0;
    const source = endpoints(async () => `host${++n}:80`);
    expect(await source.next()).toEqual({ transport: "tcp", hostname: "host1", port: 80 });
    expect(await source.next()).toEqual({ transport: "tcp", hostname: "host2", port: 80 });
    const failing = endpoints(() => {
      throw new Error("consul is down");
    });
    await expect(failing.next()).rejects.toMatchObject({ code: "ENOTFOUND", message: expect.stringContaining("consul is down") });
    // A discovery glitch (an empty answer) must be retried, not fatal: ENOTFOUND, with the function's name.
    async function discoverBroker(): Promise<string> {
      return "";
    }
    const empty = endpoints(discoverBroker);
    expect(empty.label).toBe("discoverBroker()");
    await expect(empty.next()).rejects.toMatchObject({ code: "ENOTFOUND", message: expect.stringContaining("discoverBroker()") });
    await expect(endpoints(() => "nope").next()).rejects.toMatchObject({ code: "ENOTFOUND", cause: expect.objectContaining({ code: "ERR_INVALID_ADDRESS" }) });
  });

  it("validates fixed targets at once", () => {
    expect(() => endpoints("no-port")).toThrow(/ERR_INVALID_ADDRESS/);
    expect(() => endpoints(["a:1", "b"])).toThrow(/ERR_INVALID_ADDRESS/);
    expect(() => endpoints([])).toThrow(/ERR_INVALID_OPTION/);
  });
});
