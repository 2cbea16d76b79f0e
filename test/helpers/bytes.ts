/** Byte helpers for tests: fast comparisons and digests that work on every runtime. */

/** Index of the first differing byte, or -1 when equal (deep-equal matchers are far too slow on MiBs). */
export function firstDifference(a: Uint8Array, b: Uint8Array): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return i;
  return a.length === b.length ? -1 : n;
}

/** Concatenates chunks into one array. */
export function concat(chunks: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(chunks.reduce((n, c) => n + c.length, 0));
  let at = 0;
  for (const c of chunks) {
    out.set(c, at);
    at += c.length;
  }
  return out;
}

/** Deterministic pseudo-random bytes (xorshift), so a mismatch is reproducible. */
export function patternBytes(size: number, seed = 1): Uint8Array {
  const out = new Uint8Array(size);
  let x = seed | 0 || 1;
  for (let i = 0; i < size; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out[i] = x & 0xff;
  }
  return out;
}

/** SHA-256 hex digest via WebCrypto, available on Node, Deno and Bun. */
export async function sha256(data: Uint8Array | readonly Uint8Array[]): Promise<string> {
  const bytes = data instanceof Uint8Array ? data : concat(data);
  const digest = await crypto.subtle.digest("SHA-256", bytes as Uint8Array<ArrayBuffer>);
  return Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, "0")).join("");
}

/** Cuts `bytes` at the given points (taken modulo its length + 1); each chunk gets its own buffer. */
export function cut(bytes: Uint8Array, points: readonly number[]): Uint8Array[] {
  const at = [...new Set(points.map((p) => p % (bytes.length + 1)))].sort((a, b) => a - b);
  const chunks: Uint8Array[] = [];
  let prev = 0;
  for (const p of [...at, bytes.length]) {
    if (p > prev) chunks.push(bytes.slice(prev, p));
    prev = p;
  }
  return chunks;
}

/**
 * Reads a connection (or any byte stream) to its end and returns everything in one array.
 * With `untilReset`, a reset ends the read too: what came before it is the answer.
 */
export async function readAll(source: AsyncIterable<Uint8Array>, options: { untilReset?: boolean } = {}): Promise<Uint8Array> {
  const chunks: Uint8Array[] = [];
  try {
    // A copy, since a connection opened with borrowedChunks reuses its buffers.
    for await (const chunk of source) chunks.push(chunk.slice());
  } catch (error) {
    if (!options.untilReset) throw error;
  }
  return concat(chunks);
}
