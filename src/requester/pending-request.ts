/**
 * One request as the requester tracks it, from `request()` until its promise
 * settles, across the queue, the wire and reconnects.
 *
 * @module
 */

import type { NetError } from "../errors.ts";

/**
 * A request that has not settled yet, or a settled one that still holds a
 * reply slot on the wire (fifo after a timeout or abort).
 *
 * @example
 * ```ts
 * import type { PendingRequest } from "./pending-request.ts";
 * function describe(p: PendingRequest<string>): string {
 *   return `#${p.seq} ${p.settled ? "settled" : "pending"}`;
 * }
 * ```
 */
export interface PendingRequest<T> {
  /** Order of the `request()` call: resends go out in this order. */
  readonly seq: number;
  readonly frame: T;
  /** The correlation id, in id mode; undefined in fifo mode. */
  readonly id: unknown;
  /** True once the promise resolved or rejected; the slot may still wait for its reply. */
  settled: boolean;
  /** True while the frame is on the wire of the current connection (or in its client's queue). */
  onWire: boolean;
  /**
   * True once the channel took the frame (its send promise resolved). A frame
   * given to a reconnecting client but not yet taken waits in the client's own
   * queue, and goes out on the next connection without being resent.
   */
  handed: boolean;
  resolve(reply: T): void;
  reject(error: NetError): void;
}
