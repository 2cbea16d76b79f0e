/**
 * Socket addresses known without asking the runtime: a system call each on
 * Node and Bun, which also forget them once the socket is closed. The peer of
 * a connected socket is the address it dialled; the local end of an accepted
 * socket is its listener's own address, when that is one specific address.
 *
 * Only forms every runtime reports the same are derived (a canonical IPv4
 * literal, `::1`): for any other the runtime is asked.
 *
 * @module
 */

import type { Address, SocketAddress } from "../address.ts";

/**
 * The peer of a socket connected to `dialled`, or undefined where the runtime
 * must be asked (a name, a non-canonical literal, a Unix path). Frozen: the
 * connections to one target share it (see target-memo.ts).
 *
 * @example
 * ```ts
 * import { dialledPeer } from "./known-addresses.ts";
 * dialledPeer({ transport: "tcp", hostname: "127.0.0.1", port: 80 }); // { transport: "tcp", hostname: "127.0.0.1", port: 80, family: "IPv4" }
 * ```
 */
export function dialledPeer(dialled: Address): SocketAddress | undefined {
  if (dialled.transport !== "tcp") return undefined;
  const { hostname, port } = dialled;
  const family = canonicalFamily(hostname);
  return family === undefined ? undefined : Object.freeze({ transport: "tcp", hostname, port, family } as const);
}

/**
 * The local end of every socket `listener` accepts, or undefined where each
 * one must be asked (a wildcard such as 0.0.0.0 or ::, a Unix path).
 *
 * @example
 * ```ts
 * import { acceptedLocal } from "./known-addresses.ts";
 * acceptedLocal({ transport: "tcp", hostname: "127.0.0.1", port: 7000, family: "IPv4" }); // that same address
 * acceptedLocal({ transport: "tcp", hostname: "0.0.0.0", port: 7000, family: "IPv4" }); // undefined
 * ```
 */
export function acceptedLocal(listener: SocketAddress): SocketAddress | undefined {
  if (listener.transport !== "tcp" || listener.hostname === "0.0.0.0") return undefined;
  const family = canonicalFamily(listener.hostname);
  return family === undefined ? undefined : { transport: "tcp", hostname: listener.hostname, port: listener.port, family };
}

/** "IPv4" for a dotted quad without leading zeros, "IPv6" for ::1, else undefined. */
function canonicalFamily(hostname: string): "IPv4" | "IPv6" | undefined {
  if (hostname === "::1") return "IPv6";
  let parts = 0;
  let start = 0;
  for (let i = 0; i <= hostname.length; i++) {
    if (i < hostname.length && hostname.charCodeAt(i) !== 46 /* . */) continue;
    const length = i - start;
    if (length === 0 || length > 3 || (length > 1 && hostname.charCodeAt(start) === 48 /* 0 */)) return undefined;
    let value = 0;
    for (let j = start; j < i; j++) {
      const digit = hostname.charCodeAt(j) - 48;
      if (digit < 0 || digit > 9) return undefined;
      value = value * 10 + digit;
    }
    if (value > 255) return undefined;
    parts++;
    start = i + 1;
  }
  return parts === 4 ? "IPv4" : undefined;
}
