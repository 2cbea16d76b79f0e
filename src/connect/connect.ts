/**
 * Opening client connections, with a connect timeout and AbortSignal that work
 * the same on every runtime (Bun and Deno lack one or both natively).
 *
 * @module
 */

import { parseAddress, type Address, type AddressInput, type ResolvedAddress, type TcpAddress } from "../address.ts";
import { checkConnectCapabilities, checkLocalAddressCapability, checkStartTlsCapabilities } from "../capabilities.ts";
import { realClock } from "../timers/clock.ts";
import { SharedTimeouts, type SharedTimeout } from "../timers/shared-timeouts.ts";
import { Connection, type ConnectionOptions } from "../connection.ts";
import { connectObserved, observeConnect } from "./connect-diagnostics.ts";
import { invalidOption, NetError, toNetError } from "../errors.ts";
import { connectAborted, connectTimedOut, Dial, dialRaw, type DialOutcome, type DialPreamble } from "../socket/dial.ts";
import { RECENT_TARGETS, TargetMemo, type Target } from "./target-memo.ts";
import { checkResolved, DEFAULT_ATTEMPT_DELAY, ipFamily, MIN_ATTEMPT_DELAY, orderAddresses, raceConnections, type Lookup } from "./happy-eyeballs.ts";
import { applySocketOptions, checkKnownKeys, checkMillis, checkSocketOptions, type SocketOptions } from "../options.ts";
import { encodeProxyHeader } from "../proxy-protocol/encode.ts";
import type { ProxyHeaderOptions } from "../proxy-protocol/types.ts";
import { checkTlsClientOptions, type RawTlsClientOptions, type TlsClientOptions } from "../tls.ts";
import type { RawConnectOptions, RawSocket, Transport } from "../transport.ts";

/**
 * Default connect timeout, in ms (10 s), TLS handshake included.
 *
 * @example
 * ```ts
 * import { DEFAULT_CONNECT_TIMEOUT } from "./connect.ts";
 * console.log(DEFAULT_CONNECT_TIMEOUT); // 10000
 * ```
 */
export const DEFAULT_CONNECT_TIMEOUT: number = 10_000;

/** Options for `connect()`. */
export interface ConnectOptions extends SocketOptions {
  /** Connect timeout in ms; rejects with ETIMEDOUT. Default 10 000; 0 or Infinity disables it. */
  timeout?: number;
  /** Aborts the connect attempt (rejects with ABORT_ERR). */
  signal?: AbortSignal;
  /**
   * Connect over TLS: `true` verifies against the runtime's default roots with
   * the host name dialled, an object customises it. A refused certificate
   * rejects with ERR_TLS_CERT; the connect timeout covers the handshake.
   */
  tls?: true | TlsClientOptions;
  /**
   * Send this PROXY protocol header (v1 or v2) first, before any write and
   * before TLS: for balancers and proxies written with wireline, in front of
   * servers that expect one. Invalid fields fail with ERR_INVALID_OPTION
   * before dialling. With `tls`, the TLS session starts after the header
   * (this needs client `startTls`).
   */
  proxyHeader?: ProxyHeaderOptions;
  /**
   * Only this address family (4 or 6) for a host name; an IP literal of the
   * other family fails with ERR_INVALID_OPTION. Default: both, IPv6 first.
   */
  family?: 4 | 6;
  /**
   * Happy Eyeballs (RFC 8305): ms after which the next of a name's addresses
   * is tried while the previous attempt is still pending (an attempt that
   * fails starts the next at once). Default 250, at least 10; Infinity
   * tries one address at a time.
   */
  attemptDelay?: number;
  /**
   * Resolves host names instead of the runtime's resolver (service
   * discovery, tests): returns `{ address, family }` entries. Errors it
   * throws fail the connect with ENOTFOUND. IP literals are never looked up.
   */
  lookup?: Lookup;
  /** Bind the connection's own end to this local IP before connecting (ERR_UNSUPPORTED where the runtime cannot: Deno). */
  localAddress?: string;
}

// `satisfies` makes the compiler flag a key added to the options types but not here.
const CONNECT_OPTION_KEYS: readonly string[] = Object.keys({
  noDelay: true,
  keepAlive: true,
  allowHalfOpen: true,
  borrowedChunks: true,
  maxBufferedBytes: true,
  timeout: true,
  signal: true,
  tls: true,
  proxyHeader: true,
  family: true,
  attemptDelay: true,
  lookup: true,
  localAddress: true,
} satisfies Record<keyof ConnectOptions, true>);

const TLS_CLIENT_OPTION_KEYS: readonly string[] = Object.keys({
  serverName: true,
  ca: true,
  cert: true,
  key: true,
  alpn: true,
  rejectUnauthorized: true,
} satisfies Record<keyof TlsClientOptions, true>);

/**
 * Opens a connection through `transport`. Users call `connect()` from
 * `wireline` (or `createNet(transport).connect` for a custom transport).
 * Options are checked once, before any socket exists: unknown keys and values
 * out of range fail with ERR_INVALID_OPTION, options the transport cannot
 * honour with ERR_UNSUPPORTED.
 *
 * @example
 * ```ts
 * import { connectWith } from "./connect.ts";
 * import { memoryTransport } from "../../adapters/memory.ts";
 * const conn = await connectWith(memoryTransport, "localhost:7000", { timeout: 1000 });
 * ```
 */
export function connectWith(transport: Transport, input: AddressInput, options: ConnectOptions = NO_OPTIONS): Promise<Connection> {
  // Unobserved (nearly always): no closure for observeConnect to call.
  return connectObserved() ? observeConnect(transport.name, input, () => openConnection(transport, input, options)) : openConnection(transport, input, options);
}

/** The options of a connect without any: nothing to check. */
const NO_OPTIONS: ConnectOptions = Object.freeze({});

/** connectWith without the diagnostics channels. */
function openConnection(transport: Transport, input: AddressInput, options: ConnectOptions): Promise<Connection> {
  let plan: ConnectPlan;
  try {
    plan = planConnect(transport, input, options);
  } catch (error) {
    return Promise.reject(error);
  }
  return new Promise<Connection>((resolve, reject) => new ConnectAttempt(transport, plan, resolve, reject).start());
}

/** A connect's validated options: everything checked before any socket exists. */
export interface ConnectPlan {
  /** The target's address, label and peer, shared by every connect to it. */
  readonly target: Target<ConnectPlan>;
  readonly options: ConnectOptions;
  /** ms; 0 when there is none. */
  readonly timeout: number;
  readonly signal: AbortSignal | undefined;
  readonly dialling: Dialling;
  /** What the transport's connect receives (TLS included unless it starts after a PROXY header). */
  readonly raw: RawConnectOptions;
  readonly preamble: DialPreamble | undefined;
  /** The options of its Connection: frozen, so that connections sharing the plan share their settings at once. */
  readonly connection: ConnectionOptions;
}

/** The transport options of a connect without any: shared. */
const NO_RAW_OPTIONS: RawConnectOptions = Object.freeze({});

/** The targets of every connect in this process (bounded; see target-memo.ts). */
const recentTargets: TargetMemo<ConnectPlan> = new TargetMemo(RECENT_TARGETS);

function planConnect(transport: Transport, input: AddressInput, options: ConnectOptions): ConnectPlan {
  const plain = options === NO_OPTIONS || (typeof options === "object" && options !== null && !hasOwnKeys(options));
  // A recent target skips parsing and formatting; without options, checking too (~4 µs per connect on Node in a
  // connect-and-close loop, where this code runs cold). The memo matches the input by value, never by identity.
  const target = recentTargets.recall(input) ?? recentTargets.remember(parseAddress(input), input);
  if (plain) {
    const known = target.plain;
    if (known !== undefined && known.transport === transport) return known.plan;
  }
  if (typeof options !== "object" || options === null) throw invalidOption("options", options, "an object");
  const { address, label } = target;
  if (plain) {
    const dialling = plainDialling(transport, target);
    const plan: ConnectPlan = { target, options: NO_OPTIONS, timeout: DEFAULT_CONNECT_TIMEOUT, signal: undefined, dialling, raw: NO_RAW_OPTIONS, preamble: undefined, connection: connectionOptions(transport, address, NO_OPTIONS) };
    target.plain = { transport, plan };
    return plan;
  }
  checkKnownKeys(options, CONNECT_OPTION_KEYS);
  checkSocketOptions(options, transport);
  const timeout = checkMillis("timeout", options.timeout) ?? DEFAULT_CONNECT_TIMEOUT;
  const { signal } = options;
  if (signal !== undefined && !(signal instanceof AbortSignal)) throw invalidOption("signal", signal, "an AbortSignal");
  let tls: RawTlsClientOptions | undefined;
  if (options.tls !== undefined && (options.tls as unknown) !== false) {
    if (typeof options.tls === "object" && options.tls !== null) checkKnownKeys(options.tls, TLS_CLIENT_OPTION_KEYS, "tls");
    tls = checkTlsClientOptions(options.tls, address.transport === "tcp" ? address.hostname : undefined);
  }
  checkConnectCapabilities(transport.capabilities, address, tls);
  const dialling = checkDialOptions(transport, target, options);
  const header = options.proxyHeader === undefined ? undefined : encodeProxyHeader(options.proxyHeader);
  if (header && tls) checkStartTlsCapabilities(transport.capabilities, { isServer: false, client: tls }, address.transport === "unix");
  if (signal?.aborted) throw connectAborted(label, signal.reason);
  // With a PROXY header, TLS starts after it, on the plain socket (the dial's preamble).
  const rawTls = header === undefined ? tls : undefined;
  const raw: RawConnectOptions = dialling.localAddress === undefined && rawTls === undefined ? NO_RAW_OPTIONS : {
    ...(dialling.localAddress === undefined ? {} : { localAddress: dialling.localAddress }),
    ...(rawTls === undefined ? {} : { tls: rawTls }),
  };
  const preamble = header === undefined ? undefined : { header, tls };
  return { target, options, timeout: timeout === Infinity ? 0 : timeout, signal, dialling, raw, preamble, connection: connectionOptions(transport, address, options) };
}

function connectionOptions(transport: Transport, address: Address, options: ConnectOptions): ConnectionOptions {
  return Object.freeze({
    allowHalfOpen: options.allowHalfOpen,
    borrowedChunks: options.borrowedChunks,
    maxBufferedBytes: options.maxBufferedBytes,
    capabilities: transport.capabilities,
    serverName: address.transport === "tcp" ? address.hostname : undefined,
  });
}

function hasOwnKeys(options: object): boolean {
  for (const key in options) if (Object.hasOwn(options, key)) return true;
  // Symbol-keyed internals (the address rotation) count too.
  return Object.getOwnPropertySymbols(options).length > 0;
}

/**
 * One connect in flight. Its timeout is a shared one, its abort listener the
 * attempt itself, and it dials through a {@link Dial} it cancels when giving
 * up: no timer, AbortController, race or closure of its own per connect.
 * Only a host name's race of addresses takes an AbortController.
 */
class ConnectAttempt implements DialOutcome {
  readonly #transport: Transport;
  readonly #plan: ConnectPlan;
  readonly #resolve: (conn: Connection) => void;
  readonly #reject: (error: unknown) => void;
  /** The dial of an IP literal or a Unix path; a host name's addresses are raced under `#race` instead. */
  #dial: Dial | undefined;
  #race: AbortController | undefined;
  #timeout: SharedTimeout | undefined;
  #settled = false;

  constructor(transport: Transport, plan: ConnectPlan, resolve: (conn: Connection) => void, reject: (error: unknown) => void) {
    this.#transport = transport;
    this.#plan = plan;
    this.#resolve = resolve;
    this.#reject = reject;
  }

  start(): void {
    const { timeout, signal, target, dialling, raw, preamble } = this.#plan;
    const { address, label } = target;
    if (timeout > 0) this.#timeout = SharedTimeouts.of(realClock).set(timeout, ConnectAttempt.#timedOut, this);
    // The attempt is its own listener (handleEvent): no closure per connect.
    signal?.addEventListener("abort", this, { once: true });
    if (dialling.resolve === undefined || address.transport !== "tcp") {
      this.#dial = new Dial(target, this, preamble);
      this.#dial.start(this.#transport, raw);
      return;
    }
    const race = (this.#race = new AbortController());
    dialResolved(this.#transport, address, dialling.resolve, dialling, label, race.signal, raw, preamble).then(
      (socket) => this.dialled(socket),
      (error: unknown) => this.dialFailed(toNetError(error, label)),
    );
  }

  /** The user's signal aborted (an EventListener object: see start()). */
  handleEvent(): void {
    const { signal, target } = this.#plan;
    this.#giveUp(connectAborted(target.label, signal!.reason));
  }

  static #timedOut(attempt: ConnectAttempt): void {
    attempt.#timeout = undefined;
    attempt.#giveUp(connectTimedOut(attempt.#plan.target.label, attempt.#plan.timeout));
  }

  /** Timed out or aborted: the dial (or race) is cancelled, and the caller gets `error`. */
  #giveUp(error: NetError): void {
    if (this.#settled) return;
    this.#finish();
    this.#dial?.cancel();
    this.#race?.abort(error);
    this.#reject(error);
  }

  #finish(): void {
    this.#settled = true;
    if (this.#timeout !== undefined) SharedTimeouts.of(realClock).clear(this.#timeout);
    this.#timeout = undefined;
    this.#plan.signal?.removeEventListener("abort", this);
  }

  dialFailed(error: NetError): void {
    if (this.#settled) return;
    this.#finish();
    this.#reject(error);
  }

  dialled(raw: RawSocket): void {
    // A socket that opens after we gave up must not leak.
    if (this.#settled) return raw.destroy();
    this.#finish();
    const { options, target, connection } = this.#plan;
    const { address, label } = target;
    try {
      applySocketOptions(raw, options, address.transport === "tcp");
    } catch (error) {
      raw.destroy();
      this.#reject(toNetError(error, label));
      return;
    }
    this.#resolve(new Connection(raw, label, connection));
  }
}

/** Where `withAddressRotation` keeps its count: a symbol, so it is no option a user could pass or misspell. */
const ADDRESS_ROTATION: unique symbol = Symbol("wireline.addressRotation");

/**
 * `options` for a connect that starts its race `rotation` addresses further
 * down a name's list (wrapping around): the reconnecting client passes its
 * attempt count, so successive attempts start on successive addresses, and
 * a server that accepts but then fails does not get every attempt.
 *
 * @example
 * ```ts
 * import { connectWith, withAddressRotation } from "./connect.ts";
 * import { memoryTransport } from "../../adapters/memory.ts";
 * const conn = await connectWith(memoryTransport, "db:5432", withAddressRotation({ timeout: 1000 }, 3));
 * ```
 */
export function withAddressRotation(options: ConnectOptions, rotation: number): ConnectOptions {
  return Object.assign({ ...options }, { [ADDRESS_ROTATION]: rotation });
}

/** The validated dialling options: how a host name is resolved and raced. */
interface Dialling {
  /** Set when the host is a name and there is a resolver: the addresses get raced. */
  readonly resolve: Lookup | undefined;
  readonly family: 4 | 6 | undefined;
  readonly attemptDelay: number;
  readonly localAddress: string | undefined;
  readonly rotation: number;
}

function checkDialOptions(transport: Transport, { address, literal }: Target<ConnectPlan>, options: ConnectOptions): Dialling {
  const { family, lookup, localAddress } = options;
  if (family !== undefined && family !== 4 && family !== 6) throw invalidOption("family", family, "4 or 6");
  const attemptDelay = checkMillis("attemptDelay", options.attemptDelay, MIN_ATTEMPT_DELAY) ?? DEFAULT_ATTEMPT_DELAY;
  if (lookup !== undefined && typeof lookup !== "function") throw invalidOption("lookup", lookup, "a function (hostname) => Promise<{ address, family }[]>");
  let localFamily: 4 | 6 | undefined;
  if (localAddress !== undefined) {
    if (typeof localAddress !== "string" || (localFamily = nonZero(ipFamily(localAddress))) === undefined) throw invalidOption("localAddress", localAddress, "an IP address literal");
  }
  if (localFamily !== undefined && family !== undefined && localFamily !== family) {
    throw invalidOption("family", family, `the family of localAddress ${localAddress} (${localFamily})`);
  }
  const wanted = family ?? localFamily;
  const rotation = (options as { [ADDRESS_ROTATION]?: number })[ADDRESS_ROTATION] ?? 0;
  if (literal !== 0 && wanted !== undefined && literal !== wanted) {
    throw invalidOption(family !== undefined ? "family" : "localAddress", family ?? localAddress, `of the family of the IPv${literal} address dialled`);
  }
  if (localAddress !== undefined) checkLocalAddressCapability(transport.capabilities, address);
  if (address.transport !== "tcp" || literal !== 0) return { resolve: undefined, family: wanted, attemptDelay, localAddress, rotation };
  const resolve = lookup ?? (transport.resolve ? (hostname: string) => transport.resolve!(hostname) : undefined);
  if (resolve === undefined && family !== undefined) {
    throw new NetError("ERR_UNSUPPORTED", `family is not supported here: the ${transport.name} transport does not resolve host names; pass a lookup`);
  }
  return { resolve, family: wanted, attemptDelay, localAddress, rotation };
}

/** Dialling an IP literal or a Unix path with default options: nothing to resolve or race. */
const DIRECT: Dialling = Object.freeze({ resolve: undefined, family: undefined, attemptDelay: DEFAULT_ATTEMPT_DELAY, localAddress: undefined, rotation: 0 });

/** checkDialOptions without options: the common connect to an IP literal shares one object. */
function plainDialling(transport: Transport, target: Target<ConnectPlan>): Dialling {
  return target.address.transport !== "tcp" || target.literal !== 0 ? DIRECT : checkDialOptions(transport, target, NO_OPTIONS);
}

function nonZero(family: 0 | 4 | 6): 4 | 6 | undefined {
  return family === 0 ? undefined : family;
}

/** Resolves the host name (within the connect timeout), then races its addresses. */
async function dialResolved(
  transport: Transport,
  address: TcpAddress,
  resolve: Lookup,
  dialling: Dialling,
  label: string,
  signal: AbortSignal,
  raw: RawConnectOptions,
  preamble: DialPreamble | undefined,
): Promise<RawSocket> {
  let answer: unknown;
  try {
    answer = await resolve(address.hostname);
  } catch (error) {
    // Named with the port dialled; a resolver's NetError keeps its code.
    if (!(error instanceof NetError)) throw toNetError(error, label, "ENOTFOUND");
    throw error.address === label ? error : toNetError(error.cause ?? error, label, error.code);
  }
  const resolved = checkResolved(answer, "lookup");
  if (signal.aborted) throw signal.reason;
  const ordered = orderAddresses(address.hostname, resolved, dialling.family);
  const start = ordered.length === 0 ? 0 : dialling.rotation % ordered.length;
  const addresses = [...ordered.slice(start), ...ordered.slice(0, start)];
  if (addresses.length === 0) {
    const which = dialling.family === undefined ? "no address" : `no IPv${dialling.family} address`;
    throw new NetError("ENOTFOUND", `host name resolved to ${which}`, { address: label });
  }
  // Some adapters dial a few connections by name only (see resolvedFrom).
  const options: RawConnectOptions = { ...raw, resolvedFrom: address.hostname };
  return raceConnections<RawSocket>({
    addresses,
    dial: (entry, attemptSignal) => dialRaw(transport, recentTargets.target({ transport: "tcp", hostname: entry.address, port: address.port }), options, attemptSignal, preamble),
    discard: (socket) => socket.destroy(),
    attemptDelay: dialling.attemptDelay,
    clock: realClock,
    signal,
    label,
    port: address.port,
  });
}
