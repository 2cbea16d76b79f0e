/**
 * Bridges wireline's diagnostics channels to `node:diagnostics_channel`, the
 * core's timers to the runtime's unref, and inspect output to Deno's symbol. Shared by the Node, Deno and Bun
 * adapters: all three provide `node:diagnostics_channel` with `channel()`,
 * `hasSubscribers`, `subscribe()` (measured on Node 20, Deno 2 and Bun 1).
 * Where it is missing, channels stay silent.
 *
 * With `WIRELINE_DEBUG=1` in the environment, a subscriber prints one line
 * per event to stderr.
 *
 * @module
 */

import * as dc from "node:diagnostics_channel";
import process from "node:process";
import { describeDiagnostic } from "../src/observability/debug-log.ts";
import { DIAGNOSTICS_CHANNELS, useDiagnosticsSink, type DiagnosticsChannelName } from "../src/observability/diagnostics.ts";
import { useTimerRefHooks } from "../src/timers/event-loop-ref.ts";
import { useInspectSymbol } from "../src/observability/inspect.ts";
import type { TimerHandle } from "../src/timers/clock.ts";

interface DenoTimers {
  unrefTimer(id: number): void;
  refTimer(id: number): void;
  permissions?: { querySync?(descriptor: { name: "env"; variable: string }): { state: string } };
  env: { get(name: string): string | undefined };
}

let installed = false;

/**
 * Plugs wireline into this runtime's diagnostics channels and timers, and
 * starts the debug log when `WIRELINE_DEBUG` is set. Idempotent; each
 * runtime entry point calls it at import.
 *
 * @example
 * ```ts
 * import { installDiagnostics } from "./diagnostics-node.ts";
 * installDiagnostics();
 * ```
 */
export function installDiagnostics(): void {
  if (installed) return;
  installed = true;
  useTimerRefHooks({ unref: (handle) => setTimerRef(handle, false), ref: (handle) => setTimerRef(handle, true) });
  // Deno's EventTarget defines Deno.customInspect, which Deno's inspect prefers to nodejs.util.inspect.custom:
  // servers and clients (EventTargets) need it too. Elsewhere the symbol is never looked at.
  useInspectSymbol(Symbol.for("Deno.customInspect"));
  if (typeof dc.channel !== "function") return;
  useDiagnosticsSink({ channel: (name) => dc.channel(name) });
  if (debugRequested()) startDebugLog();
}

/** Node and Bun timers are objects with unref(); Deno's global timers are numbers, unref'd through Deno. */
function setTimerRef(handle: TimerHandle, referenced: boolean): void {
  if (typeof handle === "number") {
    const deno = (globalThis as { Deno?: DenoTimers }).Deno;
    if (deno) referenced ? deno.refTimer(handle) : deno.unrefTimer(handle);
    return;
  }
  const timer = handle as { ref?(): void; unref?(): void } | undefined;
  if (referenced) timer?.ref?.();
  else timer?.unref?.();
}

/** Reads WIRELINE_DEBUG; on Deno only when env access is already granted, so importing wireline never prompts. */
function debugRequested(): boolean {
  let value: string | undefined;
  try {
    const deno = (globalThis as { Deno?: DenoTimers }).Deno;
    if (deno) {
      const state = deno.permissions?.querySync?.({ name: "env", variable: "WIRELINE_DEBUG" }).state;
      value = state === "granted" ? deno.env.get("WIRELINE_DEBUG") : undefined;
    } else {
      value = process.env.WIRELINE_DEBUG;
    }
  } catch {
    return false;
  }
  return value !== undefined && value !== "" && value !== "0" && value.toLowerCase() !== "false";
}

function startDebugLog(): void {
  for (const name of Object.values(DIAGNOSTICS_CHANNELS) as DiagnosticsChannelName[]) {
    dc.subscribe(name, (message) => {
      let line: string;
      try {
        line = describeDiagnostic(name, message as never);
      } catch (error) {
        line = `wireline: ${name} (could not describe: ${String(error)})`;
      }
      process.stderr.write(`${line}\n`);
    });
  }
}
