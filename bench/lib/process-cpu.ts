/**
 * CPU time this process has used, read from /proc/self/stat so it means the
 * same on Node, Deno and Bun (user + system time of every thread, the I/O
 * threads of Deno and Bun included). Linux only, like the rest of the suite.
 *
 * @module
 */

import { readFileSync } from "node:fs";

/** Clock ticks per second of /proc's counters (USER_HZ, 100 on every Linux build that matters). */
const USER_HZ = 100;

/** User + system CPU time of this process so far, in ms (10 ms resolution). */
export function processCpuMs(): number {
  const stat = readFileSync("/proc/self/stat", "utf8");
  // The command name (field 2) may contain spaces; the fields after its closing parenthesis are fixed.
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  const utime = Number(fields[11]);
  const stime = Number(fields[12]);
  return ((utime + stime) * 1000) / USER_HZ;
}
