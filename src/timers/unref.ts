/**
 * The `unref` capability check shared by connections, servers and
 * reconnecting clients: an `unref()` the transport cannot honour fails with
 * ERR_UNSUPPORTED rather than quietly keeping the process alive.
 *
 * @module
 */

import { unsupported } from "../errors.ts";
import type { TransportCapabilities } from "../transport.ts";

/**
 * Throws ERR_UNSUPPORTED unless the transport declared `unref`. Without
 * capabilities (a connection over a hand-made RawSocket) it checks nothing:
 * such a socket's `unref` is simply called if present.
 *
 * @example
 * ```ts
 * import { checkUnrefCapability } from "./unref.ts";
 * import type { TransportCapabilities } from "../transport.ts";
 * declare const caps: TransportCapabilities;
 * checkUnrefCapability(caps); // ERR_UNSUPPORTED where caps.unref is a reason
 * ```
 */
export function checkUnrefCapability(capabilities: TransportCapabilities | undefined): void {
  if (capabilities === undefined) return;
  const capability = capabilities.unref;
  if (capability === true) return;
  throw unsupported("unref()", typeof capability === "string" ? capability : "the transport does not declare this capability");
}
