/**
 * The bytes of one frame that arrive over several chunks, held in memory
 * proportional to the bytes: the decoders' accumulator.
 *
 * @module
 */

/** Pieces at least this long are kept as views and copied once, at the end: bulk frames cost one copy. */
const LARGE_PIECE = 4096;
/**
 * The first pieces are kept as views whatever their size, as a frame split
 * over a few reads usually is; only a frame cut finer than this pays for
 * copying its small pieces into segments.
 */
const MAX_VIEWS = 16;
/** Small pieces are copied into owned segments that double up to this size, then a new one starts. */
const MAX_SEGMENT = 64 * 1024;
/** First segment size: a line split across two reads fits without growing. */
const MIN_SEGMENT = 256;

/**
 * Accumulates a frame split across chunks. The first few pieces and large
 * ones are kept as views (one copy when the frame completes); further small
 * ones are copied into segments that grow by doubling, so a frame trickling
 * in one byte per chunk costs at most about twice its size, never an object
 * per byte. When the frame's length is known and small, its own buffer is
 * filled instead, and handed out without a copy.
 *
 * @example
 * ```ts
 * import { PartialFrame } from "./partial-frame.ts";
 * const partial = new PartialFrame();
 * for (const byte of [1, 2, 3]) partial.append(Uint8Array.of(byte));
 * const frame = partial.take(4, Uint8Array.of(4)); // Uint8Array [1, 2, 3, 4]
 * ```
 */
export class PartialFrame {
  /** Completed parts, in order: views of large pieces and full segments. */
  readonly #parts: Uint8Array[] = [];
  /** The segment small pieces are copied into, after `#parts`. */
  #open: Uint8Array | undefined;
  #openFill = 0;
  #length = 0;

  /** Bytes held. */
  get length(): number {
    return this.#length;
  }

  /** Arrays held (views and segments): stays small however the frame was cut. */
  get partCount(): number {
    return this.#parts.length + (this.#open === undefined ? 0 : 1);
  }

  /**
   * Adds the next piece. `expected` is the frame's whole length when known: a
   * first segment of that size (up to 64 KiB) then becomes the frame itself.
   */
  append(piece: Uint8Array, expected = 0): void {
    const n = piece.length;
    if (n === 0) return;
    this.#length += n;
    let open = this.#open;
    if (open !== undefined && this.#openFill + n <= open.length) {
      open.set(piece, this.#openFill);
      this.#openFill += n;
      return;
    }
    if (n >= LARGE_PIECE || (open === undefined && this.#parts.length < MAX_VIEWS && expected === 0)) {
      this.#seal();
      this.#parts.push(piece);
      return;
    }
    if (open === undefined) {
      const first = this.#parts.length === 0 && expected > 0 && expected <= MAX_SEGMENT;
      open = new Uint8Array(first ? expected : Math.min(MAX_SEGMENT, Math.max(MIN_SEGMENT, 2 * n)));
    } else if (open.length < MAX_SEGMENT) {
      const grown = new Uint8Array(Math.min(MAX_SEGMENT, Math.max(2 * open.length, this.#openFill + n)));
      grown.set(open.subarray(0, this.#openFill));
      open = grown;
    } else {
      // Already 64 KiB received in small pieces: the next segment may be as large at once.
      this.#seal();
      open = new Uint8Array(MAX_SEGMENT);
    }
    this.#open = open;
    open.set(piece, this.#openFill);
    this.#openFill += n;
  }

  /**
   * Returns the first `length` bytes held followed by `last`, in one array of
   * exactly `length` bytes, and empties the accumulator.
   */
  take(length: number, last?: Uint8Array): Uint8Array {
    const open = this.#open;
    const lastLength = last?.length ?? 0;
    // The frame was sized when its length was known: fill it and hand it over, no copy.
    if (this.#parts.length === 0 && open !== undefined && open.length === length && this.#openFill + lastLength === length) {
      if (last) open.set(last, this.#openFill);
      this.clear();
      return open;
    }
    const frame = new Uint8Array(length);
    let offset = 0;
    const parts = this.#parts;
    for (let i = 0; i < parts.length && offset < length; i++) offset = copyInto(frame, parts[i]!, offset);
    if (offset < length && open !== undefined) offset = copyInto(frame, open.subarray(0, this.#openFill), offset);
    if (offset < length && last !== undefined) copyInto(frame, last, offset);
    this.clear();
    return frame;
  }

  /** Drops everything held. */
  clear(): void {
    if (this.#parts.length > 0) this.#parts.length = 0;
    this.#open = undefined;
    this.#openFill = 0;
    this.#length = 0;
  }

  #seal(): void {
    if (this.#open === undefined) return;
    this.#parts.push(this.#open.subarray(0, this.#openFill));
    this.#open = undefined;
    this.#openFill = 0;
  }
}

/** Copies as much of `part` as fits into `frame` at `offset`; returns the new offset. */
function copyInto(frame: Uint8Array, part: Uint8Array, offset: number): number {
  const room = frame.length - offset;
  frame.set(part.length > room ? part.subarray(0, room) : part, offset);
  return offset + Math.min(room, part.length);
}
