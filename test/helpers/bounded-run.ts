/** Running a process that must exit by itself within a bound. */
import { spawn } from "node:child_process";

/** How a bounded process ended. */
export interface BoundedRun {
  /** The exit code; null when it was killed. */
  readonly code: number | null;
  /** It did not exit within the bound and was killed. */
  readonly timedOut: boolean;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs `cmd` (stdin closed) and kills it if it has not exited after `timeoutMs`. */
export function runBounded(cmd: string, args: readonly string[], options: { cwd: string; timeoutMs: number }): Promise<BoundedRun> {
  return new Promise((resolve) => {
    const child = spawn(cmd, args, { cwd: options.cwd, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill("SIGKILL");
    }, options.timeoutMs);
    child.stdout!.on("data", (d: Uint8Array) => (stdout += new TextDecoder().decode(d)));
    child.stderr!.on("data", (d: Uint8Array) => (stderr += new TextDecoder().decode(d)));
    child.on("error", (error) => {
      clearTimeout(timer);
      resolve({ code: null, timedOut, stdout, stderr: `${stderr}could not start ${cmd}: ${error.message}` });
    });
    child.on("close", (code) => {
      clearTimeout(timer);
      resolve({ code, timedOut, stdout, stderr });
    });
  });
}
