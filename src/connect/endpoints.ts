/**
 * Where a reconnecting client connects next: one address, a failover list,
 * or a function that asks service discovery.
 *
 * @module
 */

import { formatAddress, parseAddress, type Address, type AddressInput } from "../address.ts";
import { invalidOption, NetError } from "../errors.ts";

/**
 * What a reconnecting client connects to:
 * - one address (`"db:6379"`, `{ hostname, port }`, `{ path }`);
 * - a non-empty list, tried in turn: each new attempt takes the next one;
 * - a function returning (a promise of) the address for the next attempt.
 *   If it throws, or returns something that is not an address (an empty
 *   answer from discovery), the attempt fails with `ENOTFOUND`, naming the
 *   function, and is retried with backoff. `connectTimeout` covers the call.
 *
 * @example
 * ```ts
 * import { reconnecting } from "wireline";
 * const single = reconnecting("db.internal:5432");
 * const failover = reconnecting(["10.0.0.1:5432", "10.0.0.2:5432"], { shuffle: true });
 * const discovered = reconnecting(async () => (await fetch("http://consul/v1/db")).text());
 * ```
 */
export type Target = AddressInput | readonly AddressInput[] | (() => AddressInput | Promise<AddressInput>);

/**
 * A source of endpoints, one per connection attempt.
 *
 * @example
 * ```ts
 * import { reconnecting } from "wireline";
 * // The client takes the next endpoint for each attempt.
 * const client = reconnecting(["10.0.0.1:5222", "10.0.0.2:5222"], { shuffle: true });
 * ```
 */
export interface EndpointSource {
  /** The endpoint for the next attempt. */
  next(): Promise<Address>;
  /** How the target reads in messages: the address, the list, or the function's name with "()" ("target()" if anonymous). */
  readonly label: string;
}

/**
 * Options of {@link endpoints}.
 *
 * @example
 * ```ts
 * import { reconnecting } from "wireline";
 * const client = reconnecting(["a:1", "b:1", "c:1"], { shuffle: true });
 * ```
 */
export interface EndpointOptions {
  /** Shuffle a list once, so many clients spread over the servers. Default false: list order. */
  readonly shuffle?: boolean;
  /** Injectable for tests; values in [0, 1). Default Math.random. */
  readonly random?: () => number;
}

/**
 * Turns a {@link Target} into an {@link EndpointSource}. Addresses in a fixed
 * target are parsed at once, so a typo throws `ERR_INVALID_ADDRESS` here.
 *
 * @example
 * ```ts
 * import { reconnecting } from "wireline";
 * // endpoints() is internal: a reconnecting client asks the function before each attempt.
 * const client = reconnecting(async () => ({ hostname: "10.0.0.7", port: 4222 }));
 * ```
 */
export function endpoints(target: Target, options: EndpointOptions = {}): EndpointSource {
  const shuffle = options.shuffle ?? false;
  if (typeof shuffle !== "boolean") throw invalidOption("shuffle", shuffle, "a boolean");
  if (typeof target === "function") {
    // Named in errors, so the failing discovery function can be found.
    const label = target.name ? `${target.name}()` : "target()";
    return {
      label,
      async next() {
        let input: AddressInput;
        try {
          input = await target();
        } catch (error) {
          if (error instanceof NetError) throw error;
          const why = error instanceof Error ? error.message : String(error);
          throw new NetError("ENOTFOUND", `the target function ${label} failed: ${why}`, { cause: error, address: label });
        }
        try {
          return parseAddress(input);
        } catch (error) {
          // A discovery glitch (an empty answer during a failover) heals by itself: retried with backoff, not fatal.
          const why = error instanceof Error ? error.message : String(error);
          throw new NetError("ENOTFOUND", `the target function ${label} returned no usable address (${JSON.stringify(input) ?? String(input)}): ${why}`, { cause: error, address: label });
        }
      },
    };
  }
  const list: Address[] = Array.isArray(target) ? target.map((input) => parseAddress(input)) : [parseAddress(target as AddressInput)];
  if (list.length === 0) throw invalidOption("target", "[]", "an address, a non-empty list of addresses, or a function");
  if (shuffle) {
    const random = options.random ?? Math.random;
    for (let i = list.length - 1; i > 0; i--) {
      const j = Math.floor(random() * (i + 1));
      [list[i], list[j]] = [list[j]!, list[i]!];
    }
  }
  let index = 0;
  return {
    label: list.length === 1 ? formatAddress(list[0]!) : `[${list.map(formatAddress).join(", ")}]`,
    next() {
      const address = list[index]!;
      index = (index + 1) % list.length;
      return Promise.resolve(address);
    },
  };
}
