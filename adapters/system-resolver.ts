/**
 * The system resolver as Node, Deno and Bun all expose it: `node:dns`'s
 * `lookup`, i.e. getaddrinfo, which reads /etc/hosts. (Deno's own
 * `Deno.resolveDns` asks DNS servers only and skips /etc/hosts.)
 *
 * @module
 */

import { toNetError } from "../src/errors.ts";
import type { ResolvedAddress } from "../src/address.ts";

/**
 * Every IPv4 and IPv6 address of `hostname`, in the resolver's order; rejects
 * with ENOTFOUND when the name does not resolve.
 *
 * @example
 * ```ts
 * import { systemResolve } from "./system-resolver.ts";
 * console.log(await systemResolve("localhost")); // [{ address: "127.0.0.1", family: 4 }] with a typical /etc/hosts
 * ```
 */
export async function systemResolve(hostname: string): Promise<readonly ResolvedAddress[]> {
  // Loaded on first use: a process that only dials IP literals never pays for it.
  const { lookup } = await import("node:dns/promises");
  try {
    const found = await lookup(hostname, { all: true, verbatim: true });
    return found.map(({ address, family }) => ({ address, family: family === 6 ? 6 : 4 }));
  } catch (error) {
    throw toNetError(error, undefined, "ENOTFOUND");
  }
}
