/**
 * Per-client admission for a server: at most so many connections open per
 * client (an IP address, or its /24 or /64 network), and at most so many new
 * connections per client per period, so that no single client can take
 * every slot. Memory stays bounded: a client with no open connection and a
 * full allowance is forgotten, and the tables have a hard size cap.
 *
 * @module
 */

import type { Clock } from "../timers/clock.ts";
import { invalidOption } from "../errors.ts";
import type { SocketAddress } from "../address.ts";

/**
 * `maxConnectionsPerClient` of `listen()`: a number (per remote IP), or the
 * limit with the prefix lengths that group addresses into one client, e.g.
 * `{ limit: 50, prefix4: 24, prefix6: 64 }` for one /24 or /64 network.
 *
 * @example
 * ```ts
 * import type { PerClientLimit } from "./client-admission.ts";
 * const perNetwork: PerClientLimit = { limit: 50, prefix4: 24, prefix6: 64 };
 * ```
 */
export type PerClientLimit = number | { readonly limit: number; readonly prefix4?: number; readonly prefix6?: number };

/**
 * `clientRate` of `listen()`: at most `connections` new connections per
 * client in any `per` ms (a token bucket: the allowance refills steadily),
 * the client grouped by `prefix4`/`prefix6` as for `maxConnectionsPerClient`.
 *
 * @example
 * ```ts
 * import type { ClientRate } from "./client-admission.ts";
 * const rate: ClientRate = { connections: 20, per: 1000 }; // 20 a second per IP, bursts of 20
 * ```
 */
export interface ClientRate {
  readonly connections: number;
  readonly per: number;
  readonly prefix4?: number;
  readonly prefix6?: number;
}

/** Why a client was turned away. */
export type ClientRefusal = "per-client" | "client-rate";

/**
 * Most clients each table remembers. Past it, the client seen least recently
 * is forgotten first (for the rate table: it gets a fresh allowance).
 *
 * @example
 * ```ts
 * import { MAX_TRACKED_CLIENTS } from "./client-admission.ts";
 * console.log(MAX_TRACKED_CLIENTS); // 65536
 * ```
 */
export const MAX_TRACKED_CLIENTS: number = 65_536;

interface Grouping {
  readonly prefix4: number;
  readonly prefix6: number;
}

interface Bucket {
  tokens: number;
  at: number;
}

/**
 * The validated per-client settings of a server.
 *
 * @example
 * ```ts
 * import { checkClientAdmission } from "./client-admission.ts";
 * const settings = checkClientAdmission(10, { connections: 5, per: 1000 });
 * ```
 */
export interface ClientAdmissionSettings {
  readonly limit: (Grouping & { readonly max: number }) | undefined;
  readonly rate: (Grouping & { readonly connections: number; readonly per: number }) | undefined;
}

function checkPrefix(name: string, value: unknown, max: number): number {
  if (value === undefined) return max;
  if (typeof value !== "number" || !Number.isInteger(value) || value < 0 || value > max) throw invalidOption(name, value, `an integer prefix length 0..${max}`);
  return value;
}

function checkCount(name: string, value: unknown): number {
  if (typeof value !== "number" || !Number.isInteger(value) || value < 1) throw invalidOption(name, value, "an integer ≥ 1");
  return value;
}

function checkObject(name: string, value: unknown, keys: readonly string[]): Record<string, unknown> {
  if (typeof value !== "object" || value === null) throw invalidOption(name, value, `a number or an object { ${keys.join(", ")} }`);
  for (const key of Object.keys(value)) if (!keys.includes(key)) throw invalidOption(`${name}.${key}`, (value as Record<string, unknown>)[key], `absent (known: ${keys.join(", ")})`);
  return value as Record<string, unknown>;
}

/**
 * Validates `maxConnectionsPerClient` and `clientRate`.
 *
 * @example
 * ```ts
 * import { checkClientAdmission } from "./client-admission.ts";
 * checkClientAdmission({ limit: 50, prefix4: 24, prefix6: 64 }, undefined);
 * ```
 */
export function checkClientAdmission(perClient: unknown, clientRate: unknown): ClientAdmissionSettings {
  let limit: ClientAdmissionSettings["limit"];
  if (typeof perClient === "number") {
    limit = { max: checkCount("maxConnectionsPerClient", perClient), prefix4: 32, prefix6: 128 };
  } else if (perClient !== undefined) {
    const o = checkObject("maxConnectionsPerClient", perClient, ["limit", "prefix4", "prefix6"]);
    limit = {
      max: checkCount("maxConnectionsPerClient.limit", o.limit),
      prefix4: checkPrefix("maxConnectionsPerClient.prefix4", o.prefix4, 32),
      prefix6: checkPrefix("maxConnectionsPerClient.prefix6", o.prefix6, 128),
    };
  }
  let rate: ClientAdmissionSettings["rate"];
  if (clientRate !== undefined) {
    const o = checkObject("clientRate", clientRate, ["connections", "per", "prefix4", "prefix6"]);
    const per = o.per;
    if (typeof per !== "number" || !Number.isFinite(per) || per <= 0) throw invalidOption("clientRate.per", per, "a number of milliseconds > 0");
    rate = {
      connections: checkCount("clientRate.connections", o.connections),
      per,
      prefix4: checkPrefix("clientRate.prefix4", o.prefix4, 32),
      prefix6: checkPrefix("clientRate.prefix6", o.prefix6, 128),
    };
  }
  return { limit, rate };
}

/**
 * The client an address belongs to: its IP, or its network when a prefix is
 * shorter than the address. IPv4-mapped IPv6 addresses (`::ffff:10.0.0.1`,
 * what a dual-stack listener reports for IPv4 peers) count as IPv4. Unix
 * peers have no address: undefined (not limited).
 *
 * @example
 * ```ts
 * import { clientKey } from "./client-admission.ts";
 * clientKey({ transport: "tcp", hostname: "10.1.2.3", port: 5000, family: "IPv4" }, 24, 64); // "10.1.2.0/24"
 * ```
 */
export function clientKey(address: SocketAddress | undefined, prefix4: number, prefix6: number): string | undefined {
  if (address?.transport !== "tcp") return undefined;
  const host = address.hostname.toLowerCase();
  const words = host.includes(":") ? ipv6Words(host) : undefined;
  const mapped = words && words.slice(0, 5).every((w) => w === 0) && words[5] === 0xffff;
  if (!words || mapped) {
    const v4 = mapped ? [words[6]! >> 8, words[6]! & 0xff, words[7]! >> 8, words[7]! & 0xff] : host.split(".").map(Number);
    if (v4.length !== 4 || v4.some((n) => !Number.isInteger(n))) return host;
    if (prefix4 === 32) return v4.join(".");
    return `${maskBits(v4, 8, prefix4).join(".")}/${prefix4}`;
  }
  const masked = maskBits(words, 16, prefix6).map((w) => w.toString(16)).join(":");
  return prefix6 === 128 ? masked : `${masked}/${prefix6}`;
}

/** Keeps the first `prefix` bits of `parts` (each `width` bits wide), zeroing the rest. */
function maskBits(parts: readonly number[], width: number, prefix: number): number[] {
  return parts.map((part, i) => {
    const keep = Math.max(0, Math.min(width, prefix - i * width));
    return keep === 0 ? 0 : part & ~((1 << (width - keep)) - 1) & ((1 << width) - 1);
  });
}

/** The eight 16-bit words of an IPv6 literal (with `::` and an IPv4 tail); undefined if it is not one. */
function ipv6Words(host: string): number[] | undefined {
  let text = host;
  const lastColon = text.lastIndexOf(":");
  if (text.slice(lastColon + 1).includes(".")) {
    // An IPv4 tail is the last two words, written in decimal.
    const v4 = text.slice(lastColon + 1).split(".").map(Number);
    if (v4.length !== 4 || v4.some((n) => !Number.isInteger(n) || n < 0 || n > 255)) return undefined;
    text = `${text.slice(0, lastColon + 1)}${((v4[0]! << 8) | v4[1]!).toString(16)}:${((v4[2]! << 8) | v4[3]!).toString(16)}`;
  }
  const halves = text.split("::");
  if (halves.length > 2) return undefined;
  const parse = (part: string): number[] => (part === "" ? [] : part.split(":").map((w) => (/^[0-9a-f]{1,4}$/.test(w) ? parseInt(w, 16) : NaN)));
  const head = parse(halves[0]!);
  const rest = halves.length === 2 ? parse(halves[1]!) : [];
  const fill = 8 - head.length - rest.length;
  if (fill < 0 || (halves.length === 1 && fill !== 0)) return undefined;
  const words = [...head, ...new Array<number>(fill).fill(0), ...rest];
  return words.every((w) => !Number.isNaN(w)) ? words : undefined;
}

/**
 * Counts open connections and recent arrivals per client. `admit()` decides
 * for a connection whose final remote address is known (after the PROXY
 * header, when there is one) and, when it is let in, returns the function
 * that gives its place back when it closes.
 *
 * @example
 * ```ts
 * import { ClientAdmission, checkClientAdmission } from "./client-admission.ts";
 * import { realClock } from "../timers/clock.ts";
 * const clients = new ClientAdmission(checkClientAdmission(2, undefined), realClock);
 * const verdict = clients.admit({ transport: "tcp", hostname: "10.0.0.1", port: 4000, family: "IPv4" });
 * if (typeof verdict === "function") verdict(); // the connection closed
 * ```
 */
export class ClientAdmission {
  readonly #settings: ClientAdmissionSettings;
  readonly #clock: Clock;
  readonly #open = new Map<string, number>();
  /** In least-recently-seen order: a client is moved to the end each time it connects. */
  readonly #buckets = new Map<string, Bucket>();
  readonly #maxTracked: number;

  constructor(settings: ClientAdmissionSettings, clock: Clock, maxTracked: number = MAX_TRACKED_CLIENTS) {
    this.#settings = settings;
    this.#clock = clock;
    this.#maxTracked = maxTracked;
  }

  /** Clients remembered: with open connections, or with a spent allowance still refilling. */
  get tracked(): { readonly open: number; readonly rate: number } {
    return { open: this.#open.size, rate: this.#buckets.size };
  }

  /** Lets a connection in (returning its release function) or says why not. */
  admit(remoteAddress: SocketAddress | undefined): ClientRefusal | (() => void) {
    const { limit, rate } = this.#settings;
    const openKey = limit && clientKey(remoteAddress, limit.prefix4, limit.prefix6);
    if (limit && openKey !== undefined && (this.#open.get(openKey) ?? 0) >= limit.max) return "per-client";
    if (rate) {
      const rateKey = clientKey(remoteAddress, rate.prefix4, rate.prefix6);
      if (rateKey !== undefined && !this.#spend(rateKey, rate.connections, rate.per)) return "client-rate";
    }
    if (openKey === undefined) return noop;
    // The open table cannot outgrow the server's own connection limits: an entry lives only while it counts a connection.
    this.#open.set(openKey, (this.#open.get(openKey) ?? 0) + 1);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const left = this.#open.get(openKey)! - 1;
      if (left === 0) this.#open.delete(openKey);
      else this.#open.set(openKey, left);
    };
  }

  /** Takes one connection from the client's allowance; false if it is spent. */
  #spend(key: string, connections: number, per: number): boolean {
    const now = this.#clock.now();
    this.#forgetRefilled(now, per);
    const found = this.#buckets.get(key);
    const bucket = found ?? { tokens: connections, at: now };
    if (found) {
      bucket.tokens = Math.min(connections, bucket.tokens + ((now - bucket.at) * connections) / per);
      bucket.at = now;
      this.#buckets.delete(key);
    } else if (this.#buckets.size >= this.#maxTracked) {
      // Full of clients all seen within `per`: forget the least recent one.
      this.#buckets.delete(this.#buckets.keys().next().value!);
    }
    this.#buckets.set(key, bucket);
    if (bucket.tokens < 1) return false;
    bucket.tokens -= 1;
    return true;
  }

  /** Drops clients not seen for `per` ms: their allowance is whole again, as for a client never seen. */
  #forgetRefilled(now: number, per: number): void {
    for (const [key, bucket] of this.#buckets) {
      if (now - bucket.at < per) return;
      this.#buckets.delete(key);
    }
  }
}

function noop(): void {}
