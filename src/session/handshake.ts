/**
 * The secrets of the session handshake: session ids and resume tokens, drawn
 * from the runtime's cryptographic random source, and a token comparison
 * whose time does not depend on where the bytes differ.
 *
 * @module
 */

import { ID_BYTES } from "./envelope.ts";

/**
 * A fresh random id or token of {@link ID_BYTES} (128 bits).
 *
 * @example
 * ```ts
 * import { randomSecret } from "./handshake.ts";
 * const token = randomSecret(); // 16 bytes from crypto.getRandomValues
 * ```
 */
export function randomSecret(): Uint8Array {
  return crypto.getRandomValues(new Uint8Array(ID_BYTES));
}

/**
 * Whether two secrets are equal, in time independent of their contents, so
 * a client cannot guess a token byte by byte from response times.
 *
 * @example
 * ```ts
 * import { sameSecret } from "./handshake.ts";
 * sameSecret(Uint8Array.of(1, 2), Uint8Array.of(1, 3)); // false
 * ```
 */
export function sameSecret(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= a[i]! ^ b[i]!;
  return diff === 0;
}

/**
 * A session id as lowercase hex, for maps, logs and events.
 *
 * @example
 * ```ts
 * import { sessionIdText } from "./handshake.ts";
 * sessionIdText(Uint8Array.of(0, 255)); // "00ff"
 * ```
 */
export function sessionIdText(id: Uint8Array): string {
  let text = "";
  for (const byte of id) text += byte.toString(16).padStart(2, "0");
  return text;
}
