/**
 * One connect attempt to one address, through a transport: the lifecycle that
 * every adapter used to write for itself. The adapter starts its runtime's
 * connect and reports to a {@link Dial} (its {@link ConnectSink}); the dial
 * settles once, destroys a socket that opens after it was cancelled, waits
 * for the handshake of a TLS socket reported at its TCP connect, and cancels
 * through the hook the adapter returned. No AbortController or
 * promise per attempt: a connect's timeout and AbortSignal are the caller's
 * (`src/connect/connect.ts`), which cancels the dial when either fires.
 *
 * @module
 */

import { formatAddress, type Address, type SocketAddress } from "../address.ts";
import { NetError, toNetError } from "../errors.ts";
import type { RawTlsClientOptions } from "../tls.ts";
import type { CancelConnect, ConnectSink, RawConnectOptions, RawSocket, Transport } from "../transport.ts";

/**
 * The error a connect rejects with when its AbortSignal aborts, whenever that
 * happens and whatever the transport: `reason` is the signal's.
 *
 * @example
 * ```ts
 * import { connectAborted } from "./dial.ts";
 * connectAborted("127.0.0.1:80", "shutting down").message; // "ABORT_ERR: connect aborted (127.0.0.1:80)"
 * ```
 */
export function connectAborted(label: string, reason: unknown): NetError {
  return new NetError("ABORT_ERR", "connect aborted", { address: label, cause: reason });
}

/**
 * The error a connect rejects with when its timeout (`ms`) passes first,
 * whatever the transport.
 *
 * @example
 * ```ts
 * import { connectTimedOut } from "./dial.ts";
 * connectTimedOut("127.0.0.1:80", 300).message; // "ETIMEDOUT: connect timed out after 300 ms (127.0.0.1:80)"
 * ```
 */
export function connectTimedOut(label: string, ms: number): NetError {
  return new NetError("ETIMEDOUT", `connect timed out after ${ms} ms`, { address: label });
}

/** Where a {@link Dial} delivers its one outcome. */
export interface DialOutcome {
  dialled(socket: RawSocket): void;
  dialFailed(error: NetError): void;
}

/** A PROXY protocol header to send first, and TLS to start after it on the same socket. */
export interface DialPreamble {
  readonly header: Uint8Array;
  readonly tls: RawTlsClientOptions | undefined;
}

/** Where a {@link Dial} connects: what its {@link ConnectSink} tells the adapter. */
export interface DialTarget {
  readonly address: Address;
  readonly label: string;
  readonly peer: SocketAddress | undefined;
}

/**
 * One connect attempt in flight.
 *
 * @example
 * ```ts
 * import { Dial } from "./dial.ts";
 * import { memoryTransport } from "../../adapters/memory.ts";
 * const target = { address: { transport: "tcp", hostname: "127.0.0.1", port: 7000 }, label: "127.0.0.1:7000", peer: undefined } as const;
 * const dial = new Dial(target, {
 *   dialled: (socket) => socket.destroy(),
 *   dialFailed: (error) => console.log(error.code),
 * });
 * dial.start(memoryTransport, {});
 * dial.cancel(); // gave up: nothing is reported, and a socket that opens is destroyed
 * ```
 */
export class Dial implements ConnectSink {
  readonly address: Address;
  readonly label: string;
  readonly peer: SocketAddress | undefined;
  /** Undefined once settled: reported, failed or cancelled. */
  #outcome: DialOutcome | undefined;
  #cancel: CancelConnect | undefined;
  readonly #preamble: DialPreamble | undefined;
  /** The socket while its TLS handshake runs (after the header, or reported pending): a cancel destroys it. */
  #plain: RawSocket | undefined;

  constructor(target: DialTarget, outcome: DialOutcome, preamble?: DialPreamble) {
    this.address = target.address;
    this.label = target.label;
    this.peer = target.peer;
    this.#outcome = outcome;
    this.#preamble = preamble;
  }

  start(transport: Transport, options: RawConnectOptions): void {
    let started: CancelConnect | Promise<RawSocket> | void;
    try {
      started = transport.connect(this.address, options, this);
    } catch (error) {
      return this.failed(error);
    }
    if (typeof started === "function") {
      // An adapter may have reported already: there is then nothing to cancel.
      if (this.#outcome !== undefined) this.#cancel = started;
    } else if (started !== undefined) {
      started.then((socket) => this.opened(socket), (error: unknown) => this.failed(error));
    }
  }

  opened(socket: RawSocket): void {
    const outcome = this.#outcome;
    if (outcome === undefined) return socket.destroy();
    const preamble = this.#preamble;
    this.#cancel = undefined;
    const handshake = socket.handshake;
    if (handshake !== undefined) return this.#whenSecure(socket, handshake.then(() => socket));
    // The header's bytes are the first on the wire: nothing else can have been written yet.
    if (preamble !== undefined) socket.write(preamble.header);
    if (preamble?.tls === undefined) {
      this.#outcome = undefined;
      return outcome.dialled(socket);
    }
    this.#startTls(socket, preamble.tls);
  }

  failed(error: unknown): void {
    const outcome = this.#outcome;
    if (outcome === undefined) return;
    this.#settle();
    outcome.dialFailed(toNetError(error, this.label));
  }

  /** Gives the attempt up: the adapter releases what it holds, and nothing is reported. */
  cancel(): void {
    if (this.#outcome === undefined) return;
    const cancel = this.#cancel;
    const plain = this.#plain;
    this.#settle();
    cancel?.();
    plain?.destroy();
  }

  #settle(): void {
    this.#outcome = undefined;
    this.#cancel = undefined;
    this.#plain = undefined;
  }

  #startTls(plain: RawSocket, tls: RawTlsClientOptions): void {
    if (!plain.startTls) {
      plain.destroy();
      return this.failed(new NetError("ERR_UNSUPPORTED", "proxyHeader with tls needs startTls, which this transport's sockets lack"));
    }
    this.#whenSecure(plain, plain.startTls({ isServer: false, client: tls }));
  }

  /** The attempt ends with the handshake: `secure` on success; a failure destroys `plain`. */
  #whenSecure(plain: RawSocket, secure: Promise<RawSocket>): void {
    this.#plain = plain;
    secure.then(
      (socket) => {
        const outcome = this.#outcome;
        if (outcome === undefined) return socket.destroy();
        this.#settle();
        outcome.dialled(socket);
      },
      (error: unknown) => {
        plain.destroy();
        this.failed(error);
      },
    );
  }
}

/**
 * A {@link Dial} as a promise, for callers that race attempts or hold no
 * {@link DialOutcome} (Happy Eyeballs, tests): `signal` cancels it, rejecting
 * with the signal's reason. A bare address is dialled with no known peer
 * (the adapter asks its runtime); the core passes a recent target instead.
 *
 * @example
 * ```ts
 * import { dialRaw } from "./dial.ts";
 * import { memoryTransport } from "../../adapters/memory.ts";
 * const socket = await dialRaw(memoryTransport, { transport: "tcp", hostname: "127.0.0.1", port: 7000 });
 * socket.destroy();
 * ```
 */
export function dialRaw(transport: Transport, to: Address | DialTarget, options: RawConnectOptions = {}, signal?: AbortSignal, preamble?: DialPreamble): Promise<RawSocket> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const onAbort = (): void => {
      dial.cancel();
      reject(signal!.reason);
    };
    const target = "label" in to ? to : { address: to, label: formatAddress(to), peer: undefined };
    const dial = new Dial(target, {
      dialled: (socket) => {
        signal?.removeEventListener("abort", onAbort);
        resolve(socket);
      },
      dialFailed: (error) => {
        signal?.removeEventListener("abort", onAbort);
        reject(error);
      },
    }, preamble);
    signal?.addEventListener("abort", onAbort, { once: true });
    dial.start(transport, options);
  });
}
