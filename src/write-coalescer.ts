/**
 * Gathers the small writes of one tick into one socket write, shared by
 * {@link framed} and the reconnecting client: one syscall per tick instead of
 * one per message, flushed on a microtask, never on a timer.
 *
 * @module
 */

import type { Codec } from "./codec.ts";

/**
 * Encodes one frame into its parts (a header and the payload, say), without copying.
 *
 * @example
 * ```ts
 * import { encodeFrame } from "./write-coalescer.ts";
 * import { lengthPrefixed } from "./length-prefixed.ts";
 * const parts = encodeFrame(lengthPrefixed(), new Uint8Array([1, 2])); // [header, payload]
 * ```
 */
export function encodeFrame<T>(codec: Codec<T>, frame: T): readonly Uint8Array[] {
  const encoded = codec.encode(frame);
  return encoded instanceof Uint8Array ? [encoded] : encoded;
}

/**
 * One array holding `parts` back to back; the part itself when there is only one.
 *
 * @example
 * ```ts
 * import { joinParts } from "./write-coalescer.ts";
 * joinParts([Uint8Array.of(1), Uint8Array.of(2, 3)]); // Uint8Array [1, 2, 3]
 * ```
 */
export function joinParts(parts: readonly Uint8Array[]): Uint8Array {
  if (parts.length === 1) return parts[0]!;
  let length = 0;
  for (const part of parts) length += part.length;
  const out = new Uint8Array(length);
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.length;
  }
  return out;
}

/**
 * Where a {@link WriteCoalescer} sends its bytes.
 *
 * @example
 * ```ts
 * import type { CoalescerSink } from "./write-coalescer.ts";
 * const sink: CoalescerSink = { write: (data) => console.log(data.length), flushed: () => {} };
 * ```
 */
export interface CoalescerSink {
  /** One write: a batch of small parts, or one large part on its own. */
  write(data: Uint8Array): void;
  /** Every part added before this call has now been passed to `write`. */
  flushed(): void;
}

/**
 * Batches parts smaller than `maxBatchBytes` until the end of the tick, or
 * until the batch reaches that size; a larger part is written on its own,
 * without copying, after the batch before it.
 *
 * @example
 * ```ts
 * import { WriteCoalescer } from "./write-coalescer.ts";
 * const coalescer = new WriteCoalescer(64 * 1024, { write: (d) => conn.write(d), flushed: () => {} });
 * coalescer.add([Uint8Array.of(1)]);
 * coalescer.add([Uint8Array.of(2)]); // one write of [1, 2] on the next microtask
 * ```
 */
export class WriteCoalescer {
  readonly #maxBatchBytes: number;
  readonly #sink: CoalescerSink;
  #parts: Uint8Array[] = [];
  #bytes = 0;
  #flushScheduled = false;

  constructor(maxBatchBytes: number, sink: CoalescerSink) {
    this.#maxBatchBytes = maxBatchBytes;
    this.#sink = sink;
  }

  /**
   * Adds one message's parts. Returns true if its last bytes were written
   * before returning (a large last part), false if they wait in the batch,
   * to be written and reported by `flushed()` within this tick.
   */
  add(parts: readonly Uint8Array[]): boolean {
    const max = this.#maxBatchBytes;
    let direct = false;
    for (const part of parts) {
      if (part.length === 0) continue;
      if (part.length >= max) {
        // Copying a large part into a batch costs more than one extra write.
        this.flush();
        this.#sink.write(part);
        direct = true;
        continue;
      }
      if (this.#bytes + part.length > max) this.flush();
      this.#parts.push(part);
      this.#bytes += part.length;
      direct = false;
    }
    if (direct) return true;
    if (!this.#flushScheduled) {
      this.#flushScheduled = true;
      queueMicrotask(() => {
        this.#flushScheduled = false;
        this.flush();
      });
    }
    if (this.#bytes >= max) this.flush();
    return false;
  }

  /** Writes the batch now (if any), then calls `flushed()`. */
  flush(): void {
    const parts = this.#parts;
    if (parts.length > 0) {
      const data = joinParts(parts);
      this.#parts = [];
      this.#bytes = 0;
      this.#sink.write(data);
    }
    this.#sink.flushed();
  }
}
