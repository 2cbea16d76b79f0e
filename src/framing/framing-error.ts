/**
 * The error a codec throws when the bytes on the wire are not a valid frame.
 *
 * @module
 */

import { hasBrand, NetError } from "../errors.ts";

/** Registered (`Symbol.for`), so every copy of wireline in a process shares it. */
const FRAMING_ERROR_BRAND: unique symbol = Symbol.for("wireline.FramingError");

/** The two ways framing fails; both are also members of {@link NetErrorCode}. */
export type FramingErrorCode = "ERR_FRAME_TOO_LARGE" | "ERR_FRAME_MALFORMED";

/**
 * A frame that is too large (announced, buffered or to be encoded) or that
 * cannot be decoded. It extends {@link NetError}, so one `catch` handles both
 * connection and framing failures.
 *
 * - `ERR_FRAME_TOO_LARGE`: over the codec's limit, or more than its length
 *   field can hold. Decoders raise it as soon as the size is known, before
 *   buffering the frame.
 * - `ERR_FRAME_MALFORMED`: invalid bytes (a negative length, invalid UTF-8), a
 *   frame that cannot be encoded as given, or a frame cut off by end of stream.
 *
 * @example
 * ```ts
 * import { FramingError, lengthPrefixed } from "wireline";
 * const decoder = lengthPrefixed({ maxFrameLength: 1024 }).createDecoder();
 * try {
 *   decoder.decode(new Uint8Array([0, 1, 0, 0]), () => {});
 * } catch (err) {
 *   if (err instanceof FramingError) console.log(err.code); // "ERR_FRAME_TOO_LARGE"
 * }
 * ```
 */
export class FramingError extends NetError {
  static {
    Object.defineProperty(this.prototype, FRAMING_ERROR_BRAND, { value: true });
  }

  /** True for a FramingError from any copy of wireline (ESM and CommonJS builds alike), as for {@link NetError}. */
  static override [Symbol.hasInstance]<T>(this: abstract new (...args: never[]) => T, value: unknown): value is T {
    return this === (FramingError as unknown) ? hasBrand(value, FRAMING_ERROR_BRAND) : Function.prototype[Symbol.hasInstance].call(this, value);
  }

  // Narrows the inherited field's type; `declare` emits nothing, so NetError's value stays.
  declare readonly code: FramingErrorCode;

  constructor(code: FramingErrorCode, message: string, options?: { cause?: unknown }) {
    super(code, message, options);
    this.name = "FramingError";
  }
}
