// Zero-downtime restart (issue #15 part 4): examples/zero-downtime.ts starts a server process, a
// reconnecting client that sends numbered lines and waits for each acknowledgement, then a second
// server process on the same port (reusePort), and sends SIGTERM to the first, which stops
// accepting and drains with close({ timeout }). The run must end with every line acknowledged,
// no failed write and no drop, both processes having served lines. Runs on the runtime running
// this file (Deno with --unstable-net); skipped, with the capability's reason, where reusePort
// is missing (Node before 22.12).
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { runBounded } from "./helpers/bounded-run.ts";
import { runtime, transport } from "./helpers/runtime.ts";
import { sourceCommand } from "./helpers/source-command.ts";
import { root } from "./helpers/spawn.ts";

// The example runs Deno with --unstable-net itself; elsewhere the runtime running the test decides.
const reusePort = runtime === "deno" ? true : transport.capabilities.reusePort;

describe(`zero-downtime restart (${runtime})`, () => {
  it.skipIf(reusePort !== true)(`a new process takes over the port while the old drains; the client sees no failed write${reusePort === true ? "" : ` (skipped: ${reusePort})`}`, async () => {
    const [cmd, args] = sourceCommand(runtime, join(root, "examples/zero-downtime.ts"), [], { deno: ["--unstable-net"] });
    const result = await runBounded(cmd, args, { cwd: root, timeoutMs: 60_000 });
    const detail = `stdout: ${result.stdout}\nstderr: ${result.stderr}`;
    expect(result.timedOut, detail).toBe(false);
    expect(result.code, detail).toBe(0);
    expect(result.stdout).toMatch(/300 lines acknowledged across the restart: 0 failed writes, 0 dropped, [1-9]\d* reconnects/);
    expect(result.stdout).toMatch(/old: drained, [1-9]\d* lines/);
    expect(result.stdout).toMatch(/new: drained, [1-9]\d* lines/);
  }, 90_000);
});
