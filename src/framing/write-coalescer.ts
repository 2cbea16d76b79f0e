/**
 * Gathers the small writes of one tick into one socket write, shared by
 * {@link framed} and the reconnecting client: one syscall per tick instead of
 * one per message, flushed on a microtask, never on a timer.
 *
 * @module
 */

import type { Codec } from "./codec.ts";

/** First size of a batch buffer; it grows (×4) while ticks overflow it, up to maxBatchBytes, and shrinks when idle. */
const MIN_BUFFER = 1024;
/**
 * A tick may run past maxBatchBytes by up to maxBatchBytes >>> this and still
 * go out as one write, when the tick before it did: a full batch plus a small
 * rest is two system calls for the bytes of one (4-6 % of the CPU of a
 * stream of small messages), with no more bytes held.
 */
const TICK_SLACK_SHIFT = 3;

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
 * without copying, after the batch before it. A tick whose encoded frames
 * ran at most an eighth past `maxBatchBytes` makes the next tick's first
 * batch that large, so a steady sender's tick goes out in one write.
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
  /** The batch that `addInto` encodes into; handed to the sink whole at the flush, then a new one is made. */
  #buffer: Uint8Array | undefined;
  #used = 0;
  #size: number;
  /** The open batch is written early at this size: maxBatchBytes, or the previous tick's bytes (see TICK_SLACK_SHIFT). */
  #limit: number;
  /** Bytes encoded by `addInto` since the last end-of-tick flush: what sizes the next tick's batch. */
  #tickBytes = 0;
  /** `#tickBytes` of the previous tick. */
  #lastTickBytes = 0;

  constructor(maxBatchBytes: number, sink: CoalescerSink) {
    this.#maxBatchBytes = maxBatchBytes;
    this.#sink = sink;
    this.#size = Math.min(maxBatchBytes, MIN_BUFFER);
    this.#limit = maxBatchBytes;
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
      const buffer = this.#buffer;
      if (buffer !== undefined && part.length < max) {
        // An addInto batch is open: a small part joins it if there is room, to keep the order of bytes.
        if (this.#used + part.length <= buffer.length) {
          buffer.set(part, this.#used);
          this.#used += part.length;
          direct = false;
          continue;
        }
        this.#writeBuffer();
      }
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
    this.#schedule();
    if (this.#bytes >= max) this.flush();
    return false;
  }

  /**
   * Encodes `frame` straight into the batch with `codec.encodeInto`: no
   * allocation per frame. Returns false, having written nothing, when the
   * frame does not fit even an empty batch of `maxBatchBytes`: the caller
   * then encodes it and calls {@link WriteCoalescer.add}. Otherwise, as
   * `add` returning false, the frame goes out with the batch, reported by
   * `flushed()` within this tick. Throws what the codec throws.
   */
  addInto<T>(codec: Required<Pick<Codec<T>, "encodeInto">>, frame: T): boolean {
    // The hot path: a batch is open (so no parts wait, and the flush is scheduled) and the frame fits.
    const open = this.#buffer;
    if (open !== undefined) {
      const written = codec.encodeInto(frame, open, this.#used);
      if (written >= 0) {
        if ((this.#used += written) >= this.#limit) this.flush();
        return true;
      }
    }
    return this.#addIntoNewBatch(codec, frame);
  }

  /** {@link WriteCoalescer.addInto} when no batch is open, or the frame does not fit the open one. */
  #addIntoNewBatch<T>(codec: Required<Pick<Codec<T>, "encodeInto">>, frame: T): boolean {
    if (this.#parts.length > 0) this.flush();
    const max = this.#maxBatchBytes;
    let buffer = (this.#buffer ??= this.#newBatch());
    let written = codec.encodeInto(frame, buffer, this.#used);
    // This tick outgrew the batch: a larger one (up to maxBatchBytes) takes over what it holds.
    while (written < 0 && buffer.length < max) {
      const larger = new Uint8Array(Math.min(max, buffer.length * 4));
      if (larger.length > this.#size) this.#size = larger.length;
      larger.set(buffer.subarray(0, this.#used));
      this.#buffer = buffer = larger;
      written = codec.encodeInto(frame, buffer, this.#used);
    }
    if (written < 0) {
      if (this.#used === 0) return false;
      // A full batch: the frame starts the next one, unless it is too large for any (then `add` takes it).
      // Sized for what the previous tick sent past this point: a tick's small remainder gets a small buffer.
      const rest = this.#lastTickBytes - this.#tickBytes - this.#used;
      let next = new Uint8Array(Math.min(max, Math.max(rest, MIN_BUFFER)));
      written = codec.encodeInto(frame, next, 0);
      if (written < 0 && next.length < max) {
        next = new Uint8Array(max);
        written = codec.encodeInto(frame, next, 0);
      }
      if (written < 0) return false;
      this.#writeBuffer();
      this.#buffer = next;
    }
    this.#used += written;
    this.#schedule();
    if (this.#used >= this.#limit) this.flush();
    return true;
  }

  /**
   * The buffer a batch starts in. A tick's first batch holds the whole tick
   * when the tick before it ran only a little past maxBatchBytes: one write
   * where there would be a full batch and a small rest.
   */
  #newBatch(): Uint8Array {
    const max = this.#maxBatchBytes;
    const last = this.#lastTickBytes;
    if (this.#tickBytes === 0 && last > max && last <= max + (max >>> TICK_SLACK_SHIFT)) {
      this.#limit = last;
      return new Uint8Array(last);
    }
    return new Uint8Array(this.#size);
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
    if (this.#used > 0) this.#writeBuffer();
    this.#sink.flushed();
  }

  /** Hands the encoded batch to the sink and lets go of it: the socket may hold the bytes until they are sent. */
  #writeBuffer(): void {
    const used = this.#used;
    const data = this.#buffer!.subarray(0, used);
    this.#buffer = undefined;
    this.#used = 0;
    this.#limit = this.#maxBatchBytes;
    this.#tickBytes += used;
    this.#sink.write(data);
  }

  #schedule(): void {
    if (this.#flushScheduled) return;
    this.#flushScheduled = true;
    queueMicrotask(() => {
      this.#flushScheduled = false;
      this.flush();
      // A quiet connection gets small batches again (an idle one holds no buffer at all). Judged on the
      // whole tick, not its last batch: a busy tick's small remainder must not shrink the next tick's batch.
      if (this.#tickBytes * 4 < this.#size) this.#size = Math.max(Math.min(MIN_BUFFER, this.#maxBatchBytes), this.#size >>> 1);
      this.#lastTickBytes = this.#tickBytes;
      this.#tickBytes = 0;
    });
  }
}
