/**
 * Owned copies of received payloads, cheaply: small payloads are copied
 * side by side into shared slabs (as Node pools small Buffers), since one
 * small allocation per frame costs more than the copy. A slab is kept alive
 * by the payloads in it, and payloads are read in arrival order, so what the
 * inbox retains stays within its unread bytes plus about two slabs.
 *
 * @module
 */

/** Payloads up to this size share slabs; larger ones get their own copy. */
const POOLED_MAX = 1024;
const SLAB_BYTES = 16 * 1024;

/**
 * Copies payloads out of received chunks, which may be recycled.
 *
 * @example
 * ```ts
 * import { PayloadPool } from "./payload-pool.ts";
 * const pool = new PayloadPool();
 * const kept = pool.copy(chunk.subarray(21, 85)); // shares no memory with chunk
 * ```
 */
export class PayloadPool {
  #slab: Uint8Array | undefined;
  #used = 0;

  copy(bytes: Uint8Array): Uint8Array {
    const length = bytes.length;
    if (length > POOLED_MAX) return new Uint8Array(bytes);
    if (this.#slab === undefined || this.#used + length > SLAB_BYTES) {
      this.#slab = new Uint8Array(SLAB_BYTES);
      this.#used = 0;
    }
    const at = this.#used;
    this.#slab.set(bytes, at);
    this.#used = at + length;
    return this.#slab.subarray(at, at + length);
  }
}
