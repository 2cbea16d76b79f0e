/**
 * Optional import of `it-length-prefixed` (libp2p's length-prefixed framing),
 * so the small-messages framing peer skips cleanly when it is not installed.
 *
 * @module
 */

/** What the benchmark reads from a Uint8ArrayList: its bytes. */
export interface ByteList {
  readonly byteLength: number;
  subarray(): Uint8Array;
}

/** The part of the package the benchmark uses. */
export interface ItLengthPrefixed {
  encode: { single(chunk: Uint8Array): ByteList };
  decode(source: AsyncIterable<Uint8Array>): AsyncIterable<ByteList>;
}

let loaded: Promise<ItLengthPrefixed | undefined> | undefined;

/** The package, or undefined if it is not installed. */
export function loadItLengthPrefixed(): Promise<ItLengthPrefixed | undefined> {
  // A variable specifier: the package is optional, so neither tsc nor the runtimes may resolve it eagerly.
  const name = "it-length-prefixed";
  return (loaded ??= import(name).then((mod: ItLengthPrefixed) => (typeof mod.decode === "function" ? mod : undefined), () => undefined));
}
