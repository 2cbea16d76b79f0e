/** Running a process that must exit by itself within a bound. */
import { spawn } from "node:child_process";

/** How a bounded process ended. */
export interface BoundedRun {
  /** The exit code; null when it was killed. */
  readonly code: number | null;
  /** It did not exit within the bound and was killed. */
  readonly timedOut: boolean;
  readonly stdout: string;
  /** Standard error, without the start marker. */
  readonly stderr: string;
}

/** Options of {@link runBounded}. */
export interface BoundedRunOptions {
  readonly cwd: string;
  /** Ms the process may run; with `startMarker`, counted from the marker on. */
  readonly timeoutMs: number;
  /**
   * A line the program writes to stderr once the runtime has started and its
   * modules are loaded. The bound then measures the program, not a loaded
   * machine's startup, which gets `startupMs` (default 60 s) of its own.
   */
  readonly startMarker?: string;
  readonly startupMs?: number;
}

/** Runs `cmd` (stdin closed) and kills it if it has not exited within the bound. */
export function runBounded(cmd: string, args: readonly string[], options: BoundedRunOptions): Promise<BoundedRun> {
  return new Promise((resolve) => {
    const child = spawn(cmd, args, { cwd: options.cwd, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    let timedOut = false;
    let started = options.startMarker === undefined;
    const kill = (): void => {
      timedOut = true;
      child.kill("SIGKILL");
    };
    let timer = setTimeout(kill, started ? options.timeoutMs : (options.startupMs ?? 60_000));
    child.stdout!.on("data", (d: Uint8Array) => (stdout += new TextDecoder().decode(d)));
    child.stderr!.on("data", (d: Uint8Array) => {
      stderr += new TextDecoder().decode(d);
      if (!started && stderr.includes(`${options.startMarker}\n`)) {
        started = true;
        stderr = stderr.replace(`${options.startMarker}\n`, "");
        clearTimeout(timer);
        timer = setTimeout(kill, options.timeoutMs);
      }
    });
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
