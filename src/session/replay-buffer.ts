/**
 * The frames a session sent and the peer has not acknowledged yet, oldest
 * first, with the promises of their `send()` calls (the frames of one
 * batch may share one, which settles with the batch's last frame). Frames travel in
 * batches (one DATA message each); a batch is kept whole until its last
 * frame is acknowledged, and cut at a frame boundary when a resumed
 * connection needs only its tail. Per frame it holds no object: its size
 * sits in a ring indexed by sequence number, and its send's promise in a
 * group of frames that share it.
 *
 * @module
 */

/** The frames of one DATA message, encoded back to back from `message[start]` on (a header slot precedes them). */
interface Batch {
  readonly message: Uint8Array;
  readonly start: number;
  readonly end: number;
  readonly first: number;
  readonly count: number;
}

/** Consecutive frames whose sends share one promise (one send's frame, or the frames of one batch): it settles with the last. */
interface Group {
  last: number;
  readonly promise: Promise<void>;
  readonly resolve: () => void;
  readonly reject: (error: unknown) => void;
}

/** What {@link ReplayBuffer.takeAll} removed: frames sent and not acknowledged. */
export interface Unsent {
  readonly count: number;
  readonly bytes: number;
  readonly firstSeq: number | undefined;
  readonly lastSeq: number | undefined;
  /** Rejects each of their sends with `reason`. */
  reject(reason: unknown): void;
}

const noop = (): void => {};
/** The arrays kept for reuse hold at most this many bytes together; a larger one (made for one large frame) is not kept. */
const SPARE_MAX_BYTES = 128 * 1024;
/** Several batches are in flight when a window's worth is acknowledged at once: one array each can be reused. */
const SPARE_MAX_ARRAYS = 16;

/**
 * Unacknowledged frames in sequence order, with their total size.
 *
 * @example
 * ```ts
 * import { ReplayBuffer } from "./replay-buffer.ts";
 * const buffer = new ReplayBuffer();
 * buffer.add(1, 3, promise, resolve, reject);
 * buffer.addBatch(message, 25, 28, 1, 1);
 * buffer.acknowledge(1); // resolves frame 1's send()
 * ```
 */
export class ReplayBuffer {
  #mask = 63;
  #sizes = new Uint32Array(64);
  #groups: Group[] = [];
  #groupHead = 0;
  #lastGroup: Group | undefined;
  /** The oldest frame held, and one past the newest. */
  #first = 1;
  #next = 1;
  #bytes = 0;
  #batches: Batch[] = [];
  #batchHead = 0;
  /** Arrays of the last batches acknowledged whole, oldest first: acknowledged means written and received, so the next batches may reuse them. */
  #spares: Uint8Array[] = [];
  #spareBytes = 0;

  /** Frames held (batched or not yet). */
  get frames(): number {
    return this.#next - this.#first;
  }

  /** Encoded bytes held. */
  get bytes(): number {
    return this.#bytes;
  }

  /** Holds frame `seq` (the next one) of `bytes` bytes, until acknowledged. */
  add(seq: number, bytes: number, promise: Promise<void>, resolve: () => void, reject: (error: unknown) => void): void {
    if (this.#next - this.#first > this.#mask) this.#grow();
    this.#sizes[seq & this.#mask] = bytes;
    const group = this.#lastGroup;
    if (group !== undefined && group.promise === promise) group.last = seq;
    else this.#groups.push((this.#lastGroup = { last: seq, promise, resolve, reject }));
    this.#next = seq + 1;
    this.#bytes += bytes;
  }

  /** The frames `first` to `first + count - 1`, already added, went out as `message[start, end)`. */
  addBatch(message: Uint8Array, start: number, end: number, first: number, count: number): void {
    this.#batches.push({ message, start, end, first, count });
  }

  #grow(): void {
    const size = (this.#mask + 1) * 2;
    const mask = size - 1;
    const sizes = new Uint32Array(size);
    for (let seq = this.#first; seq < this.#next; seq++) sizes[seq & mask] = this.#sizes[seq & this.#mask]!;
    this.#mask = mask;
    this.#sizes = sizes;
  }

  /** Drops and resolves every frame up to and including `seq`; returns how many. */
  acknowledge(seq: number): number {
    const first = this.#first;
    if (seq < first) return 0;
    const mask = this.#mask;
    const sizes = this.#sizes;
    let bytes = 0;
    for (let s = first; s <= seq; s++) bytes += sizes[s & mask]!;
    this.#bytes -= bytes;
    // A group settles with its last frame: an acknowledgement inside it leaves it pending.
    const groups = this.#groups;
    let g = this.#groupHead;
    while (g < groups.length && groups[g]!.last <= seq) {
      groups[g]!.resolve();
      (groups as (Group | undefined)[])[g++] = undefined;
    }
    if (g === groups.length) {
      this.#groups = [];
      this.#lastGroup = undefined;
      g = 0;
    } else if (g > 64 && g * 2 > groups.length) {
      this.#groups = groups.slice(g);
      g = 0;
    }
    this.#groupHead = g;
    this.#first = seq + 1;
    const batches = this.#batches;
    let head = this.#batchHead;
    while (head < batches.length && batches[head]!.first + batches[head]!.count <= this.#first) {
      const message = batches[head]!.message;
      if (message.length <= SPARE_MAX_BYTES) this.#keepSpare(message);
      (batches as (Batch | undefined)[])[head++] = undefined;
    }
    if (head === batches.length) {
      this.#batches = [];
      head = 0;
    } else if (head > 64 && head * 2 > batches.length) {
      this.#batches = batches.slice(head);
      head = 0;
    }
    this.#batchHead = head;
    return seq + 1 - first;
  }

  /**
   * Calls `write` for the frames after `seq`, oldest first, batch by batch,
   * the first batch cut to start at frame `seq + 1`, and any batch cut into
   * pieces of at most `maxFrames` and `maxBytes` (a frame larger goes
   * alone): what a resumed connection must resend, within the peer's window.
   */
  replay(seq: number, maxFrames: number, maxBytes: number, write: (first: number, count: number, frames: Uint8Array) => void): void {
    const mask = this.#mask;
    for (let b = this.#batchHead; b < this.#batches.length; b++) {
      const batch = this.#batches[b]!;
      const last = batch.first + batch.count - 1;
      if (last <= seq) continue;
      let at = batch.start;
      let s = batch.first;
      for (; s <= seq; s++) at += this.#sizes[s & mask]!;
      while (s <= last) {
        const first = s;
        const start = at;
        let bytes = 0;
        while (s <= last && s - first < maxFrames && (s === first || bytes + this.#sizes[s & mask]! <= maxBytes)) {
          bytes += this.#sizes[s & mask]!;
          s++;
        }
        at = start + bytes;
        write(first, s - first, batch.message.subarray(start, at));
      }
    }
  }

  /** An array of at least `bytes` no longer needed (its batch was acknowledged), or undefined. */
  takeSpare(bytes: number): Uint8Array | undefined {
    const spares = this.#spares;
    for (let i = spares.length - 1; i >= 0; i--) {
      const spare = spares[i]!;
      if (spare.length < bytes) continue;
      spares.splice(i, 1);
      this.#spareBytes -= spare.length;
      return spare;
    }
    return undefined;
  }

  /** Keeps `message` for reuse, dropping the oldest kept arrays beyond the bounds. */
  #keepSpare(message: Uint8Array): void {
    const spares = this.#spares;
    while (spares.length > 0 && (spares.length >= SPARE_MAX_ARRAYS || this.#spareBytes + message.length > SPARE_MAX_BYTES)) {
      this.#spareBytes -= spares.shift()!.length;
    }
    spares.push(message);
    this.#spareBytes += message.length;
  }

  /** Empties the buffer; the caller rejects what it held. */
  takeAll(): Unsent {
    const count = this.#next - this.#first;
    const report: Unsent = {
      count,
      bytes: this.#bytes,
      firstSeq: count > 0 ? this.#first : undefined,
      lastSeq: count > 0 ? this.#next - 1 : undefined,
      reject: noop,
    };
    if (count > 0) {
      const groups = this.#groups.slice(this.#groupHead);
      report.reject = (reason: unknown): void => {
        for (const group of groups) {
          // Marked handled only when it rejects: a handler on every send would cost a microtask per acknowledgement.
          group.promise.catch(noop);
          group.reject(reason);
        }
      };
    }
    this.#groups = [];
    this.#groupHead = 0;
    this.#lastGroup = undefined;
    this.#batches = [];
    this.#batchHead = 0;
    this.#bytes = 0;
    this.#first = this.#next;
    return report;
  }

  /** Sequence numbers start again at `seq` (a new session). */
  restart(seq: number): void {
    this.#first = this.#next = seq;
  }
}
