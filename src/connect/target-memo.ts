/**
 * What the core knows about the targets dialled most recently: a client dials
 * the same few again and again (a pool, a reconnecting client, a load test),
 * and each of its connections shares the target's label and peer address
 * instead of making its own (~80 and ~56 bytes each), while a repeated
 * connect without options reuses the plan checked the first time.
 *
 * Bounded: {@link RECENT_TARGETS} entries, the least recently used dropped.
 * Matched by value, never by object identity: an address object changed
 * between two connects is parsed again.
 *
 * @module
 */

import { formatAddress, type Address, type AddressInput, type SocketAddress } from "../address.ts";
import type { Transport } from "../transport.ts";
import { ipFamily } from "./happy-eyeballs.ts";
import { dialledPeer } from "./known-addresses.ts";

/** One recent target; `Plan` is what its connects check once (connect.ts's plan). */
export interface Target<Plan = unknown> {
  readonly address: Address;
  /** The address as errors and connections name it ("127.0.0.1:6379"). */
  readonly label: string;
  /** The peer of a socket connected here when it is known without asking the runtime (see dialledPeer). */
  readonly peer: SocketAddress | undefined;
  /** The family of its host when that is an IP literal; 0 for a name or a Unix path (checked on every connect with options). */
  readonly literal: 0 | 4 | 6;
  /**
   * The address came from parsing a user's input: an input naming the same
   * address can skip parsing. A target the core dialled for a resolved host
   * name was never parsed, so it is not matched until it is.
   */
  parsed: boolean;
  /** The last string the target was given as (parsed). */
  text: string | undefined;
  /** The checked plan of a connect here without options, and the transport it is for. */
  plain: { readonly transport: Transport; readonly plan: Plan } | undefined;
}

/**
 * How many targets are remembered. Room for a host name and both of its
 * loopback addresses, and a few more; a lookup scans them all when it misses.
 */
export const RECENT_TARGETS = 8;

/**
 * The most recently used targets, newest first. One per process: every
 * transport's connects share it (a plan is kept with the transport it is for).
 *
 * @example
 * ```ts
 * import { TargetMemo } from "./target-memo.ts";
 * const memo = new TargetMemo(2);
 * const target = memo.remember({ transport: "tcp", hostname: "127.0.0.1", port: 80 }, "127.0.0.1:80");
 * memo.recall("127.0.0.1:80") === target; // true
 * target.peer; // { transport: "tcp", hostname: "127.0.0.1", port: 80, family: "IPv4" }
 * ```
 */
export class TargetMemo<Plan = unknown> {
  readonly #targets: Target<Plan>[] = [];
  readonly #bound: number;

  constructor(bound: number) {
    this.#bound = bound;
  }

  /** How many targets are remembered now (at most the bound). */
  get size(): number {
    return this.#targets.length;
  }

  /**
   * The parsed target `input` names, if it is recent: the same string as
   * before, or an object whose fields equal the parsed address's (an input
   * that parses to it unchanged). Undefined: parse the input.
   */
  recall(input: AddressInput): Target<Plan> | undefined {
    const targets = this.#targets;
    for (let i = 0; i < targets.length; i++) {
      const target = targets[i]!;
      if (target.parsed && (typeof input === "string" ? target.text === input : sameAddress(target.address, input))) return this.#used(i);
    }
    return undefined;
  }

  /**
   * The target at `address`, which came from parsing `input`: remembered
   * (the oldest target forgotten past the bound), or the recent one at the
   * same address.
   */
  remember(address: Address, input: AddressInput): Target<Plan> {
    const target = this.target(address);
    target.parsed = true;
    if (typeof input === "string") target.text = input;
    return target;
  }

  /** The target at `address` (an address the core made itself, not parsed from a user's input). */
  target(address: Address): Target<Plan> {
    const targets = this.#targets;
    for (let i = 0; i < targets.length; i++) if (sameAddress(targets[i]!.address, address)) return this.#used(i);
    const frozen = Object.freeze({ ...address });
    const literal = frozen.transport === "tcp" ? ipFamily(frozen.hostname) : 0;
    const target: Target<Plan> = { address: frozen, label: formatAddress(frozen), peer: dialledPeer(frozen), literal, parsed: false, text: undefined, plain: undefined };
    if (targets.unshift(target) > this.#bound) targets.pop();
    return target;
  }

  /** Moves the target at `index` to the front. */
  #used(index: number): Target<Plan> {
    const targets = this.#targets;
    const target = targets[index]!;
    if (index > 0) {
      targets.copyWithin(1, 0, index);
      targets[0] = target;
    }
    return target;
  }
}

/** Whether `input` (an address object) names `address` with the same field values. */
function sameAddress(address: Address, input: unknown): boolean {
  if (typeof input !== "object" || input === null) return false;
  const other = input as { transport?: unknown; hostname?: unknown; port?: unknown; path?: unknown };
  if ("path" in other) return address.transport === "unix" && other.path === address.path;
  return address.transport === "tcp" && other.hostname === address.hostname && other.port === address.port;
}
