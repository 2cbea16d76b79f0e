/**
 * IP address literals as bytes, for PROXY protocol headers and trusted-peer
 * ranges: strict parsing (no zone ids, no shorthand like `127.1`) and the
 * canonical text form (RFC 5952), so that addresses read from a binary header
 * look like the ones the runtimes report.
 *
 * @module
 */

/**
 * Parses a dotted-quad IPv4 literal; undefined if it is not one.
 *
 * @example
 * ```ts
 * import { parseIPv4 } from "./ip.ts";
 * console.log(parseIPv4("10.0.0.1")); // Uint8Array [10, 0, 0, 1]
 * ```
 */
export function parseIPv4(text: string): Uint8Array | undefined {
  const parts = text.split(".");
  if (parts.length !== 4) return undefined;
  const out = new Uint8Array(4);
  for (let i = 0; i < 4; i++) {
    const part = parts[i]!;
    if (!/^\d{1,3}$/.test(part)) return undefined;
    const n = Number(part);
    if (n > 255) return undefined;
    out[i] = n;
  }
  return out;
}

/**
 * Parses an IPv6 literal (with `::` and an optional trailing dotted quad);
 * undefined if it is not one. Zone ids are refused.
 *
 * @example
 * ```ts
 * import { parseIPv6 } from "./ip.ts";
 * console.log(parseIPv6("::1")?.[15]); // 1
 * ```
 */
export function parseIPv6(text: string): Uint8Array | undefined {
  if (text.length === 0 || text.length > 45) return undefined;
  const halves = text.split("::");
  if (halves.length > 2) return undefined;
  const head = halves[0] === "" ? [] : halves[0]!.split(":");
  const tail = halves.length === 2 ? (halves[1] === "" ? [] : halves[1]!.split(":")) : [];
  const words: number[] = [];
  // A dotted quad, last in the text, stands for the last two words.
  const lastGroups = halves.length === 2 ? tail : head;
  let v4: Uint8Array | undefined;
  const last = lastGroups[lastGroups.length - 1];
  if (last !== undefined && last.includes(".")) {
    v4 = parseIPv4(last);
    if (!v4) return undefined;
    lastGroups.pop();
  }
  const parseGroups = (groups: string[]): boolean => {
    for (const g of groups) {
      if (!/^[0-9a-fA-F]{1,4}$/.test(g)) return false;
      words.push(parseInt(g, 16));
    }
    return true;
  };
  const limit = v4 ? 6 : 8;
  if (!parseGroups(head)) return undefined;
  const headCount = words.length;
  if (!parseGroups(tail)) return undefined;
  const tailWords = words.splice(headCount);
  if (halves.length === 2) {
    if (headCount + tailWords.length > limit - 1) return undefined;
    while (words.length < limit - tailWords.length) words.push(0);
  } else if (words.length !== limit) {
    return undefined;
  }
  words.push(...tailWords);
  const out = new Uint8Array(16);
  for (let i = 0; i < limit; i++) {
    out[i * 2] = words[i]! >> 8;
    out[i * 2 + 1] = words[i]! & 0xff;
  }
  if (v4) out.set(v4, 12);
  return out;
}

/**
 * Parses an IPv4 or IPv6 literal into 4 or 16 bytes; undefined otherwise.
 *
 * @example
 * ```ts
 * import { parseIP } from "./ip.ts";
 * console.log(parseIP("::ffff:10.0.0.1")?.length); // 16
 * ```
 */
export function parseIP(text: string): Uint8Array | undefined {
  return text.includes(":") ? parseIPv6(text) : parseIPv4(text);
}

/**
 * The dotted-quad text of 4 bytes.
 *
 * @example
 * ```ts
 * import { formatIPv4 } from "./ip.ts";
 * console.log(formatIPv4(new Uint8Array([127, 0, 0, 1]))); // "127.0.0.1"
 * ```
 */
export function formatIPv4(bytes: Uint8Array): string {
  return `${bytes[0]}.${bytes[1]}.${bytes[2]}.${bytes[3]}`;
}

/**
 * The canonical RFC 5952 text of 16 bytes: lower case, the longest run of two
 * or more zero words shortened to `::`, IPv4-mapped addresses as `::ffff:a.b.c.d`
 * (as Node and Bun report them).
 *
 * @example
 * ```ts
 * import { formatIPv6 } from "./ip.ts";
 * console.log(formatIPv6(new Uint8Array(16))); // "::"
 * ```
 */
export function formatIPv6(bytes: Uint8Array): string {
  if (isV4Mapped(bytes)) return `::ffff:${formatIPv4(bytes.subarray(12))}`;
  const words: number[] = [];
  for (let i = 0; i < 16; i += 2) words.push((bytes[i]! << 8) | bytes[i + 1]!);
  let bestAt = -1;
  let bestLen = 1;
  for (let i = 0; i < 8; ) {
    if (words[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && words[j] === 0) j++;
    if (j - i > bestLen) {
      bestAt = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = (ws: number[]) => ws.map((w) => w.toString(16)).join(":");
  if (bestAt < 0) return hex(words);
  return `${hex(words.slice(0, bestAt))}::${hex(words.slice(bestAt + bestLen))}`;
}

/** True for `::ffff:a.b.c.d`. */
export function isV4Mapped(bytes: Uint8Array): boolean {
  if (bytes.length !== 16) return false;
  for (let i = 0; i < 10; i++) if (bytes[i] !== 0) return false;
  return bytes[10] === 0xff && bytes[11] === 0xff;
}
