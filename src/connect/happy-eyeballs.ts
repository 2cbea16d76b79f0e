/**
 * Happy Eyeballs (RFC 8305): a host name's addresses are ordered with the
 * families interleaved, and connection attempts to them are raced, each
 * started one attempt delay after the previous one (or as soon as it fails).
 * The first connection wins; every other attempt is aborted, and a socket
 * that still opens late is destroyed at once.
 *
 * The runtimes disagree on this by themselves (Bun races the addresses of
 * `localhost`, Node 20 and Deno try one address), so the core does it.
 *
 * @module
 */

import type { Clock, TimerHandle } from "../timers/clock.ts";
import type { ResolvedAddress } from "../address.ts";
import { NetError, toNetError, type NetErrorCode } from "../errors.ts";

/**
 * Resolves a host name to its addresses: a transport's `resolve`, or the
 * user's `lookup` option of `connect()`.
 *
 * @example
 * ```ts
 * import type { Lookup } from "./happy-eyeballs.ts";
 * const lookup: Lookup = async (hostname) => hostname === "db" ? [{ address: "10.0.0.7", family: 4 }] : [];
 * ```
 */
export type Lookup = (hostname: string) => Promise<readonly ResolvedAddress[]>;

/**
 * Default delay between two connection attempts, in ms (RFC 8305's
 * recommended Connection Attempt Delay).
 *
 * @example
 * ```ts
 * import { connect } from "wireline";
 * const conn = await connect("db.internal:5432", { attemptDelay: 100 }); // default 250
 * ```
 */
export const DEFAULT_ATTEMPT_DELAY: number = 250;

/** RFC 8305 §5: the attempt delay must not go below 10 ms. */
export const MIN_ATTEMPT_DELAY: number = 10;

/** The longest delay a runtime timer honours. */
const MAX_TIMER_DELAY = 2 ** 31 - 1;

/**
 * The loopback addresses a `localhost` name always includes (RFC 6761 §6.3):
 * /etc/hosts often lists only 127.0.0.1 while a server listens on ::1.
 */
const LOOPBACK: readonly ResolvedAddress[] = [
  { address: "::1", family: 6 },
  { address: "127.0.0.1", family: 4 },
];

/**
 * Whether `hostname` is an IP literal (IPv4 dotted quad, or anything with a
 * colon, which `parseAddress` already checked to be IPv6): 4, 6, or 0 for a name.
 *
 * @example
 * ```ts
 * import { ipFamily } from "./happy-eyeballs.ts";
 * ipFamily("::1"); // 6
 * ipFamily("localhost"); // 0
 * ```
 */
export function ipFamily(hostname: string): 0 | 4 | 6 {
  if (hostname.includes(":")) return 6;
  const parts = hostname.split(".");
  if (parts.length !== 4) return 0;
  return parts.every((p) => /^\d{1,3}$/.test(p) && Number(p) <= 255) ? 4 : 0;
}

/** Whether `hostname` is `localhost` or a name under it (RFC 6761 §6.3). */
export function isLocalhostName(hostname: string): boolean {
  const name = hostname.toLowerCase().replace(/\.$/, "");
  return name === "localhost" || name.endsWith(".localhost");
}

/**
 * Orders resolved addresses for racing (RFC 8305 §4): duplicates dropped,
 * only `family` kept if given, then the families interleaved, IPv6 first,
 * each family keeping the resolver's order. A `localhost` name gets both
 * loopback addresses added when the resolver left them out.
 *
 * @example
 * ```ts
 * import { orderAddresses } from "./happy-eyeballs.ts";
 * orderAddresses("db", [{ address: "10.0.0.1", family: 4 }, { address: "10.0.0.2", family: 4 }, { address: "fd00::1", family: 6 }]);
 * // fd00::1, 10.0.0.1, 10.0.0.2
 * ```
 */
export function orderAddresses(hostname: string, resolved: readonly ResolvedAddress[], family?: 4 | 6): ResolvedAddress[] {
  const all = isLocalhostName(hostname) ? [...resolved, ...LOOPBACK] : resolved;
  const seen = new Set<string>();
  const v6: ResolvedAddress[] = [];
  const v4: ResolvedAddress[] = [];
  for (const entry of all) {
    if (seen.has(entry.address)) continue;
    seen.add(entry.address);
    if (family !== undefined && entry.family !== family) continue;
    (entry.family === 6 ? v6 : v4).push(entry);
  }
  const ordered: ResolvedAddress[] = [];
  for (let i = 0; i < Math.max(v6.length, v4.length); i++) {
    if (i < v6.length) ordered.push(v6[i]!);
    if (i < v4.length) ordered.push(v4[i]!);
  }
  return ordered;
}

/**
 * Checks what a resolver or `lookup` hook returned: an array of
 * `{ address, family }` with IP literals of the family they claim.
 *
 * @example
 * ```ts
 * import { checkResolved } from "./happy-eyeballs.ts";
 * checkResolved([{ address: "::1", family: 6 }], "lookup"); // ok
 * ```
 */
export function checkResolved(value: unknown, source: string): readonly ResolvedAddress[] {
  if (!Array.isArray(value)) throw new NetError("ERR_INVALID_ADDRESS", `${source} must return an array of { address, family }, got ${String(value)}`);
  for (const entry of value as unknown[]) {
    const { address, family } = (entry ?? {}) as { address?: unknown; family?: unknown };
    if (typeof address !== "string" || (family !== 4 && family !== 6) || ipFamily(address) !== family) {
      throw new NetError("ERR_INVALID_ADDRESS", `${source} returned ${JSON.stringify(entry)}: expected { address: an IP literal, family: 4 or 6, matching it }`);
    }
  }
  return value as readonly ResolvedAddress[];
}

/**
 * Formats an address with its port the way errors show it.
 *
 * @example
 * ```ts
 * import { formatResolved } from "./happy-eyeballs.ts";
 * formatResolved({ address: "::1", family: 6 }, 80); // "[::1]:80"
 * ```
 */
export function formatResolved(entry: ResolvedAddress, port: number): string {
  return entry.family === 6 ? `[${entry.address}]:${port}` : `${entry.address}:${port}`;
}

/**
 * What {@link raceConnections} needs.
 *
 * @example
 * ```ts
 * import type { RaceOptions } from "./happy-eyeballs.ts";
 * declare const options: RaceOptions<string>;
 * ```
 */
export interface RaceOptions<T> {
  /** In the order to try them ({@link orderAddresses}); at least one. */
  readonly addresses: readonly ResolvedAddress[];
  /** Opens one connection; `signal` aborts it when another attempt won or the race was given up. */
  readonly dial: (address: ResolvedAddress, signal: AbortSignal) => Promise<T>;
  /** Releases a connection that opened after the race was decided. */
  readonly discard: (connection: T) => void;
  /** ms between the start of one attempt and the next (unless the previous one fails sooner). */
  readonly attemptDelay: number;
  readonly clock: Clock;
  /** Gives the race up: every attempt is aborted and the race rejects with the signal's reason. */
  readonly signal: AbortSignal;
  /** How the target reads in the aggregated error, e.g. "localhost:6379". */
  readonly label: string;
  /** The port, for naming each address in the aggregated error. */
  readonly port: number;
}

/**
 * Races connection attempts to `addresses` (RFC 8305 §5). Resolves with the
 * first connection to open; rejects with the signal's reason if it aborts
 * first, or, once every attempt failed, with one NetError: the attempt's own
 * error if there was one address, else an error listing each address's
 * failure, whose code is theirs if they all failed the same way.
 *
 * @example
 * ```ts
 * import { raceConnections } from "./happy-eyeballs.ts";
 * import { realClock } from "../timers/clock.ts";
 * const winner = await raceConnections({
 *   addresses: [{ address: "::1", family: 6 }, { address: "127.0.0.1", family: 4 }],
 *   dial: async (a) => a.address,
 *   discard: () => {},
 *   attemptDelay: 250,
 *   clock: realClock,
 *   signal: new AbortController().signal,
 *   label: "localhost:80",
 *   port: 80,
 * });
 * ```
 */
export function raceConnections<T>(options: RaceOptions<T>): Promise<T> {
  const { addresses, dial, discard, attemptDelay, clock, signal } = options;
  return new Promise<T>((resolve, reject) => {
    const attempts: AbortController[] = [];
    const errors: NetError[] = [];
    let next = 0;
    let timer: TimerHandle | undefined;
    let decided = false;

    const finish = (): void => {
      decided = true;
      if (timer !== undefined) clock.clearTimeout(timer);
      timer = undefined;
      signal.removeEventListener("abort", onAbort);
    };
    const abortAll = (reason: unknown, except?: AbortController): void => {
      for (const attempt of attempts) if (attempt !== except) attempt.abort(reason);
    };
    const onAbort = (): void => {
      if (decided) return;
      finish();
      abortAll(signal.reason);
      reject(signal.reason);
    };
    const start = (): void => {
      if (timer !== undefined) clock.clearTimeout(timer);
      timer = undefined;
      const index = next++;
      const entry = addresses[index]!;
      const controller = new AbortController();
      attempts.push(controller);
      // Timers cannot wait longer than 2^31 - 1 ms (runtimes fire them at once); beyond that, one attempt at a time.
      if (next < addresses.length && attemptDelay <= MAX_TIMER_DELAY) timer = clock.setTimeout(start, attemptDelay);
      let dialing: Promise<T>;
      try {
        dialing = dial(entry, controller.signal);
      } catch (error) {
        dialing = Promise.reject(error);
      }
      dialing.then(
        (connection) => {
          if (decided) return discard(connection);
          finish();
          abortAll(new NetError("ABORT_ERR", `another address of ${options.label} connected first`), controller);
          resolve(connection);
        },
        (error: unknown) => {
          if (decided) return;
          errors[index] = toNetError(error, formatResolved(entry, options.port));
          if (next < addresses.length) return start();
          if (errors.filter(Boolean).length < addresses.length) return;
          finish();
          reject(aggregate(errors, options.label, options.port, addresses));
        },
      );
    };

    if (signal.aborted) return reject(signal.reason);
    signal.addEventListener("abort", onAbort, { once: true });
    start();
  });
}

/**
 * How little a failure says about the server, most telling first: a failure
 * past the TCP connect (TLS, a reset) shows the server is there; a refusal
 * that nobody listens; a timeout or an unusable route or family, not much.
 */
const VAGUENESS: Readonly<Partial<Record<NetErrorCode, number>>> = { ECONNREFUSED: 1, ETIMEDOUT: 2, ENETUNREACH: 3, EHOSTUNREACH: 3, EADDRNOTAVAIL: 3, EUNKNOWN: 4 };

function aggregate(errors: readonly NetError[], label: string, port: number, addresses: readonly ResolvedAddress[]): NetError {
  if (errors.length === 1) return errors[0]!;
  const vagueness = (error: NetError): number => VAGUENESS[error.code] ?? 0;
  // The first of the most telling failures, e.g. ECONNREFUSED from 127.0.0.1 over ENETUNREACH from ::1.
  const telling = errors.reduce((best, error) => (vagueness(error) < vagueness(best) ? error : best));
  // A server was reached and refused us past the TCP connect (TLS, a reset): its own error, with its details, says it best.
  if (vagueness(telling) === 0) return telling;
  const each = errors.map((e, i) => `${formatResolved(addresses[i]!, port)} ${e.code}`).join(", ");
  return new NetError(telling.code, `every address failed (${each})`, { address: label, cause: new AggregateError(errors, `connect to ${label} failed on every address`) });
}
