/**
 * CRC32C (Castagnoli), the checksum of the PROXY protocol v2 PP2_TYPE_CRC32C TLV.
 *
 * @module
 */

const TABLE: Uint32Array = (() => {
  const table = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0x82f63b78 : c >>> 1;
    table[n] = c >>> 0;
  }
  return table;
})();

/**
 * The CRC32C of `bytes`, as an unsigned 32-bit integer.
 *
 * @example
 * ```ts
 * import { crc32c } from "./crc32c.ts";
 * console.log(crc32c(new TextEncoder().encode("123456789")).toString(16)); // "e3069283"
 * ```
 */
export function crc32c(bytes: Uint8Array): number {
  let crc = 0xffffffff;
  for (let i = 0; i < bytes.length; i++) crc = TABLE[(crc ^ bytes[i]!) & 0xff]! ^ (crc >>> 8);
  return (crc ^ 0xffffffff) >>> 0;
}
