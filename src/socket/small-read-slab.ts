/**
 * Copies of small reads, handed out as views into a shared slab (a buffer
 * pool), for reads that land in a buffer the driver reuses. Where a runtime
 * allocates every typed array's memory outside the JavaScript heap, a fresh
 * `new Uint8Array(64)` or `slice()` costs 0.6–1.6 µs where a view costs
 * ~70 ns; a ping-pong read pays that on every round trip. Sharing is safe because nothing reads into the
 * slab: it is only written here, synchronously, and each view covers bytes no
 * other view covers. A kept small chunk pins its slab (8 KiB at most).
 *
 * @module
 */

/** A common buffer-pool size. It must differ from any read-buffer size that a driver's `recycle()` takes back by its length. */
const SLAB_SIZE = 8 * 1024;
/**
 * Only reads up to half a slab: larger ones would waste most of it.
 *
 * @example
 * ```ts
 * import { SMALL_READ_MAX } from "./small-read-slab.ts";
 * const fitsTheSlab = (n: number) => n <= SMALL_READ_MAX;
 * ```
 */
export const SMALL_READ_MAX: number = SLAB_SIZE / 2;

let slab = new Uint8Array(SLAB_SIZE);
let used = 0;

/**
 * A copy of `source[0..n)` (n ≤ SMALL_READ_MAX) as a view into the shared slab.
 *
 * @example
 * ```ts
 * import { copySmallRead } from "./small-read-slab.ts";
 * const readBuffer = new Uint8Array(4096);
 * const chunk = copySmallRead(readBuffer, 5); // readBuffer may be read into again
 * ```
 */
export function copySmallRead(source: Uint8Array, n: number): Uint8Array {
  if (used + n > SLAB_SIZE) {
    slab = new Uint8Array(SLAB_SIZE);
    used = 0;
  }
  // Views made by the constructor, not subarray(): subarray() looks up a species constructor, and a
  // copy of one small read made two of them (~70 ns of a ~125 ns copy on Deno and Node).
  const at = used;
  slab.set(new Uint8Array(source.buffer, source.byteOffset, n), at);
  used += n;
  return new Uint8Array(slab.buffer, at, n);
}
