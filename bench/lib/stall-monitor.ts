/**
 * Event-loop stalls of this process, split by cause, so that a latency tail
 * can be pinned on the server's own work or on the machine: a timer ticks
 * every {@link TICK_MS}, and a tick that comes more than {@link STALL_MS}
 * late is a stall. If the process used the CPU for most of the stall, it was
 * busy (a GC pause, a long synchronous run): the server's own doing. If not,
 * it was waiting to be scheduled: on a 2-core machine that also runs the
 * load clients, the machine's doing, which hits every variant alike.
 *
 * @module
 */

import process from "node:process";

const TICK_MS = 5;
/** Lateness that counts as a stall: about the p99 a loaded server reaches without one. */
const STALL_MS = 5;
/** A stall is busy when the process's CPU time (all its threads) grew by at least this share of it. */
const BUSY_SHARE = 0.7;

/** Stalls seen between start and stop. */
export interface Stalls {
  /** Total lateness of the stalls the process spent on the CPU, in ms. */
  readonly busyMs: number;
  /** Total lateness of the stalls the process spent waiting for a CPU, in ms. */
  readonly preemptedMs: number;
  /** The longest busy stall, in ms. */
  readonly busyMaxMs: number;
}

const cpuMs = (): number => {
  const { user, system } = process.cpuUsage();
  return (user + system) / 1000;
};

/** Starts watching; the returned function stops and reports. */
export function watchStalls(): () => Stalls {
  let busyMs = 0;
  let preemptedMs = 0;
  let busyMaxMs = 0;
  let last = performance.now();
  let lastCpu = cpuMs();
  const timer = setInterval(() => {
    const now = performance.now();
    const cpu = cpuMs();
    const late = now - last - TICK_MS;
    if (late > STALL_MS) {
      if (cpu - lastCpu >= BUSY_SHARE * late) {
        busyMs += late;
        busyMaxMs = Math.max(busyMaxMs, late);
      } else {
        preemptedMs += late;
      }
    }
    last = now;
    lastCpu = cpu;
  }, TICK_MS);
  return () => {
    clearInterval(timer);
    return { busyMs, preemptedMs, busyMaxMs };
  };
}
