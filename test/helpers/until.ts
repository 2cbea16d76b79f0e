import { delay } from "./runtime.ts";

/** Waits until `condition` holds, polling every 5 ms; fails naming `what` after `timeoutMs`. */
export async function until(condition: () => boolean, what: string | (() => string), timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${typeof what === "string" ? what : what()}`);
    await delay(5);
  }
}
