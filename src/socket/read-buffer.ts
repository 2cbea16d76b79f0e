/**
 * The read-buffer policy: where a driver's next read goes, and which chunk it
 * hands on for the bytes a read brought. One policy for every driver that
 * reads into memory it chooses (a pull driver's `read(into)`, a push runtime
 * that lets the driver pick the buffer).
 *
 * - Reads go into a {@link READ_BUFFER_SIZE} buffer; large enough that bulk
 *   transfers need few reads.
 * - A read of at least {@link COPY_BELOW} bytes is handed on as a view (no
 *   copy), and the next read goes on behind it while the buffer has room for
 *   another such read: a TLS read brings one 16 KiB record, so four share one
 *   buffer (a fresh, zero-filled 64 KiB per record cost TLS bulk ~2,300 ms CPU
 *   per GB instead of ~1,700). A kept chunk pins its whole buffer, 64 KiB at most.
 * - A smaller read is copied out, so the buffer is read into again: up to
 *   {@link SMALL_READ_MAX} bytes into the shared slab, otherwise a copy of its own.
 * - A read that filled its buffer says more is queued: the next read gets a fresh buffer.
 *
 * @module
 */

import { copySmallRead, SMALL_READ_MAX } from "./small-read-slab.ts";

export { SMALL_READ_MAX };

/**
 * The size of a read buffer.
 *
 * @example
 * ```ts
 * import { READ_BUFFER_SIZE } from "./read-buffer.ts";
 * const buffer = new Uint8Array(READ_BUFFER_SIZE);
 * ```
 */
export const READ_BUFFER_SIZE: number = 64 * 1024;

/**
 * Reads smaller than this are copied out, so that their buffer is read into
 * again; a buffer's rest smaller than this is not read into.
 *
 * @example
 * ```ts
 * import { COPY_BELOW } from "./read-buffer.ts";
 * const lent = (n: number) => n >= COPY_BELOW;
 * ```
 */
export const COPY_BELOW: number = 16 * 1024;

/** Copies `n` bytes of `buffer` into memory of their own. */
export type CopyRead = (buffer: Uint8Array, n: number) => Uint8Array;

const sliceCopy: CopyRead = (buffer, n) => Uint8Array.prototype.slice.call(buffer, 0, n);

/**
 * The chunk to hand on for the `n` bytes a read put at the start of `buffer`:
 * a view when `lend` allows it and the read is large, otherwise a copy.
 * `lend` is false for a buffer other sockets read into too. `copy` makes a
 * copy larger than the slab takes (default: `slice`).
 *
 * @example
 * ```ts
 * import { chunkOfRead } from "./read-buffer.ts";
 * const buffer = new Uint8Array(64 * 1024);
 * const chunk = chunkOfRead(buffer, 5, true); // a copy: `buffer` may be read into again
 * ```
 */
export function chunkOfRead(buffer: Uint8Array, n: number, lend: boolean, copy: CopyRead = sliceCopy): Uint8Array {
  if (n <= SMALL_READ_MAX) return copySmallRead(buffer, n);
  return lend && n >= COPY_BELOW ? buffer.subarray(0, n) : copy(buffer, n);
}

/**
 * Where the read after `n` bytes went into `buffer` (and {@link chunkOfRead}
 * handed them on) goes: `undefined` after a read that filled its buffer (the
 * caller takes a fresh one); otherwise `home` if given (a driver whose idle
 * sockets should hold no buffer of their own), the same buffer after a copied
 * read, or the rest behind a lent chunk while it has room for a lent read.
 *
 * @example
 * ```ts
 * import { nextReadBuffer, READ_BUFFER_SIZE } from "./read-buffer.ts";
 * let buffer = new Uint8Array(READ_BUFFER_SIZE);
 * buffer = nextReadBuffer(buffer, 20_000) ?? new Uint8Array(READ_BUFFER_SIZE); // the 45 KiB behind the chunk
 * ```
 */
export function nextReadBuffer<B extends Uint8Array>(buffer: B, n: number, home?: B): B | undefined {
  if (n === buffer.length) return undefined;
  if (home !== undefined) return home;
  if (n < COPY_BELOW) return buffer;
  const end = buffer.byteOffset + n;
  const rest = buffer.buffer.byteLength - end;
  return rest >= COPY_BELOW ? (new Uint8Array(buffer.buffer, end, rest) as B) : undefined;
}

/**
 * Whether `chunk` (handed on by {@link chunkOfRead}) was the last use of a
 * read buffer, which is then free for reuse once the chunk is given back:
 * chunks of one buffer are lent in order, so the ones before it came back
 * first. A copied read is not a read buffer and is never reused.
 *
 * @example
 * ```ts
 * import { endsReadBuffer } from "./read-buffer.ts";
 * const spare: Uint8Array[] = [];
 * const giveBack = (chunk: Uint8Array) => endsReadBuffer(chunk) && spare.push(new Uint8Array(chunk.buffer));
 * ```
 */
export function endsReadBuffer(chunk: Uint8Array): boolean {
  const { buffer } = chunk;
  return buffer.byteLength === READ_BUFFER_SIZE && buffer.byteLength - (chunk.byteOffset + chunk.length) < COPY_BELOW;
}
