/**
 * The server side of the PROXY protocol on one accepted socket: reads the
 * header off the raw socket, bounded in time and size, then stands in for
 * that socket with the header's addresses, handing the bytes that followed
 * the header to whoever starts it, first and intact.
 *
 * @module
 */

import type { Clock, TimerHandle } from "../timers/clock.ts";
import { NetError } from "../errors.ts";
import type { RawStartTlsOptions, RawTlsServerOptions, TlsInfo } from "../tls.ts";
import type { RawHandlers, RawSocket, UnsentWrites } from "../transport.ts";
import type { SocketAddress } from "../address.ts";
import { ProxyHeaderParser } from "./parse.ts";
import type { ProxyHeader, ProxyInfo } from "./types.ts";

/** How one socket's header is awaited. */
export interface HeaderWait {
  /** A peer without a header is served as it is. */
  readonly optional: boolean;
  /** False for an untrusted peer: a header from it is refused. */
  readonly headerAllowed: boolean;
  /** ms; 0 waits forever. */
  readonly timeout: number;
  readonly clock: Clock;
  /** The peer, for error messages. */
  readonly label: string;
}

/** How the wait for a header ended. */
export type HeaderOutcome =
  /** Ready to be started: with a header (`socket.proxy` set) or, when optional, without. */
  | { readonly kind: "ready"; readonly socket: ProxiedSocket }
  /** Missing, malformed, oversize, untrusted or late: the socket was destroyed. */
  | { readonly kind: "failed"; readonly error: NetError }
  /** The peer left before sending a byte (a TCP health check): nothing to report. */
  | { readonly kind: "gone" };

type Event = Uint8Array | "end" | { readonly close: NetError | undefined };

/**
 * A {@link RawSocket} behind a PROXY header. Created at accept;
 * {@link ProxiedSocket.readHeader} starts the raw socket to read the header,
 * and `onOutcome` is called exactly once, unless
 * {@link ProxiedSocket.abort} comes first.
 *
 * @example
 * ```ts
 * import { ProxiedSocket } from "./proxied-socket.ts";
 * import { realClock } from "../timers/clock.ts";
 * import type { RawSocket } from "../transport.ts";
 * declare const raw: RawSocket;
 * const socket = new ProxiedSocket(raw, { optional: false, headerAllowed: true, timeout: 5000, clock: realClock, label: "peer" }, (outcome) => {
 *   if (outcome.kind === "ready") console.log(outcome.socket.remoteAddress, outcome.socket.proxy?.via);
 * });
 * socket.readHeader();
 * ```
 */
export class ProxiedSocket implements RawSocket {
  /** The plain socket; after {@link ProxiedSocket.startTlsAfterHeader}, its TLS successor. */
  #raw: RawSocket;
  /** Set when `#raw` was handed over unstarted (after TLS): start() starts it. */
  #startRawOnStart = false;
  readonly #wait: HeaderWait;
  #onOutcome: ((outcome: HeaderOutcome) => void) | undefined;
  readonly #parser = new ProxyHeaderParser();
  #timer: TimerHandle | undefined;
  #header: ProxyHeader | undefined;
  #proxy: ProxyInfo | undefined;
  #handlers: RawHandlers | undefined;
  #queue: Event[] = [];
  #paused = false;
  #pumpScheduled = false;
  #detached = false;
  #destroyed = false;
  /** Chunks made here (the bytes after the header): the adapter never lent them, so they are not recycled. */
  readonly #own = new WeakSet<Uint8Array>();
  readonly recycle?: (chunk: Uint8Array) => void;
  readonly startTls?: (options: RawStartTlsOptions) => Promise<RawSocket>;

  constructor(raw: RawSocket, wait: HeaderWait, onOutcome: (outcome: HeaderOutcome) => void) {
    this.#raw = raw;
    this.#wait = wait;
    this.#onOutcome = onOutcome;
    if (raw.recycle) {
      this.recycle = (chunk) => {
        if (!this.#own.has(chunk)) this.#raw.recycle?.(chunk);
      };
    }
    if (raw.startTls) this.startTls = (options) => this.#startTls(options);
  }

  /** Starts the raw socket and the header's timeout; `onOutcome` follows, once. */
  readHeader(): void {
    const wait = this.#wait;
    if (wait.timeout > 0) this.#timer = wait.clock.setTimeout(() => this.#timedOut(), wait.timeout);
    this.#attach();
  }

  /**
   * Runs the server side of a TLS handshake on this socket once its header
   * is read (the header came in plain text, before the ClientHello): the
   * bytes that followed the header go to the TLS layer first. Resolves once
   * the handshake has succeeded; the socket then reads and writes through
   * TLS and keeps the header's addresses. A rejection leaves it destroyed.
   */
  async startTlsAfterHeader(server: RawTlsServerOptions): Promise<void> {
    const plain = this.#raw;
    if (this.#onOutcome || this.#handlers || !plain.startTls) throw new Error("ProxiedSocket.startTlsAfterHeader() needs a read header, an unstarted socket and TLS");
    const early = this.#queue.filter((event): event is Uint8Array => event instanceof Uint8Array);
    if (early.length !== this.#queue.length) throw new NetError("ERR_SOCKET_CLOSED", "the connection ended before its TLS handshake", { address: this.#wait.label });
    this.#queue = [];
    const received = early.length === 0 ? undefined : early.length === 1 ? early[0] : concatBytes(early);
    const secure = await plain.startTls({ isServer: true, server, received });
    if (this.#destroyed) {
      // Destroyed while handshaking (handshakeTimeout, server stopping): the new socket is nobody's.
      secure.destroy();
      throw new NetError("ERR_SOCKET_CLOSED", "the connection was destroyed during its TLS handshake", { address: this.#wait.label });
    }
    this.#raw = secure;
    this.#startRawOnStart = true;
  }

  #attach(): void {
    this.#raw.start({
      onData: (chunk) => (this.#onOutcome ? this.#headerData(chunk) : this.#enqueue(chunk)),
      onEnd: () => (this.#onOutcome ? this.#headerEnded() : this.#enqueue("end")),
      onDrain: () => this.#handlers?.onDrain(),
      onClose: (error) => (this.#onOutcome ? this.#headerClosed(error) : this.#enqueue({ close: error })),
    });
  }

  /** STARTTLS on a proxied connection: the upgraded socket keeps the header's addresses and `proxy`. */
  async #startTls(options: RawStartTlsOptions): Promise<RawSocket> {
    const next = await this.#raw.startTls!(options);
    const upgraded = new ProxiedSocket(next, this.#wait, () => {});
    upgraded.#onOutcome = undefined;
    upgraded.#header = this.#header;
    upgraded.#proxy = this.#proxy;
    upgraded.#startRawOnStart = true;
    return upgraded;
  }

  /** The parsed header, with the real peer as `via`; undefined when an optional header was not sent. */
  get proxy(): ProxyInfo | undefined {
    return this.#proxy;
  }

  /** The header's source for a relayed connection; the socket's own peer otherwise (LOCAL, UNKNOWN, no header). */
  get remoteAddress(): SocketAddress | undefined {
    return this.#header?.source ?? this.#raw.remoteAddress;
  }

  /** The header's destination for a relayed connection; the socket's own address otherwise. */
  get localAddress(): SocketAddress | undefined {
    return this.#header?.destination ?? this.#raw.localAddress;
  }

  get bufferedAmount(): number {
    return this.#raw.bufferedAmount;
  }

  get unsent(): UnsentWrites | undefined {
    return this.#raw.unsent;
  }

  get tls(): TlsInfo | undefined {
    return this.#raw.tls;
  }

  /** Stops waiting for the header (the server is stopping): destroys the socket; no outcome is reported. */
  abort(error: NetError): void {
    if (!this.#onOutcome) return;
    this.#onOutcome = undefined;
    this.#clearTimer();
    this.#raw.destroy(error);
  }

  start(handlers: RawHandlers): void {
    if (this.#handlers || this.#onOutcome) throw new Error("ProxiedSocket.start() called twice, or before its header");
    this.#handlers = handlers;
    if (this.#startRawOnStart) {
      this.#attach();
      if (this.#paused) this.#raw.pause();
    } else if (!this.#paused) {
      this.#raw.resume();
    }
    this.#schedulePump();
  }

  write(chunk: Uint8Array): boolean {
    return this.#raw.write(chunk);
  }

  end(): void {
    this.#raw.end();
  }

  close(timeout?: number): void {
    this.#raw.close(timeout);
  }

  destroy(error?: NetError): void {
    this.#destroyed = true;
    this.#raw.destroy(error);
  }

  pause(): void {
    this.#paused = true;
    this.#raw.pause();
  }

  resume(): void {
    this.#paused = false;
    if (!this.#handlers) return;
    this.#raw.resume();
    this.#schedulePump();
  }

  setNoDelay(enabled: boolean): void {
    this.#raw.setNoDelay(enabled);
  }

  setKeepAlive(enabled: boolean, initialDelay?: number): void {
    this.#raw.setKeepAlive(enabled, initialDelay);
  }

  #headerData(chunk: Uint8Array): void {
    const result = this.#parser.push(chunk);
    this.#raw.recycle?.(chunk); // the parser copied what it keeps
    switch (result.status) {
      case "more":
        return;
      case "header":
        if (!this.#wait.headerAllowed) return this.#fail("a PROXY header from a peer not in proxyProtocol.trusted");
        this.#header = result.header.command === "PROXY" ? result.header : undefined;
        this.#proxy = { ...result.header, via: this.#raw.remoteAddress };
        return this.#ready(result.rest);
      case "absent":
        if (this.#wait.optional) return this.#ready(result.data);
        return this.#fail("no PROXY header: the connection did not start with one");
      case "invalid":
        return this.#fail(`malformed PROXY header: ${result.reason}`);
    }
  }

  #headerEnded(): void {
    if (this.#wait.optional) {
      this.#ready(this.#parser.held());
      this.#enqueue("end");
    } else if (this.#parser.received === 0) {
      this.#gone();
    } else {
      this.#fail("the peer ended the connection before its PROXY header was complete");
    }
  }

  #headerClosed(error: NetError | undefined): void {
    const partial = this.#parser.received > 0 && !this.#wait.optional;
    const report = this.#onOutcome!;
    this.#onOutcome = undefined;
    this.#clearTimer();
    const reason = "the connection closed before its PROXY header was complete";
    report(partial ? { kind: "failed", error: new NetError("ERR_PROXY_PROTOCOL", reason, { address: this.#wait.label, cause: error }) } : { kind: "gone" });
  }

  #timedOut(): void {
    this.#timer = undefined;
    if (!this.#onOutcome) return;
    if (this.#wait.optional) this.#ready(this.#parser.held());
    else this.#fail(`no complete PROXY header within proxyProtocol.timeout (${this.#wait.timeout} ms)`);
  }

  #ready(rest: Uint8Array): void {
    const report = this.#onOutcome!;
    this.#onOutcome = undefined;
    this.#clearTimer();
    // Held until start(): the server may take a moment (an asynchronous filter) before it reads.
    this.#raw.pause();
    if (rest.length > 0) {
      this.#own.add(rest);
      this.#queue.push(rest);
    }
    report({ kind: "ready", socket: this });
  }

  #fail(reason: string): void {
    const report = this.#onOutcome!;
    this.#onOutcome = undefined;
    this.#clearTimer();
    const error = new NetError("ERR_PROXY_PROTOCOL", reason, { address: this.#wait.label });
    this.#raw.destroy();
    report({ kind: "failed", error });
  }

  #gone(): void {
    const report = this.#onOutcome!;
    this.#onOutcome = undefined;
    this.#clearTimer();
    this.#raw.destroy();
    report({ kind: "gone" });
  }

  #clearTimer(): void {
    if (this.#timer !== undefined) this.#wait.clock.clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  #enqueue(event: Event): void {
    if (this.#detached) return;
    if (typeof event === "object" && !(event instanceof Uint8Array) && event.close !== undefined && this.#paused) {
      // A failure reaches a paused receiver at once; what it had not read is lost with the socket.
      this.#queue = [];
      return this.#deliver(event);
    }
    this.#queue.push(event);
    if (this.#queue.length === 1 && this.#handlers && !this.#pumpScheduled) this.#pump();
  }

  #schedulePump(): void {
    if (this.#pumpScheduled || this.#queue.length === 0) return;
    this.#pumpScheduled = true;
    // Never inside start() or resume(): the caller is still setting up.
    queueMicrotask(() => {
      this.#pumpScheduled = false;
      this.#pump();
    });
  }

  #pump(): void {
    while (this.#queue.length > 0 && this.#handlers && !this.#detached) {
      const event = this.#queue[0]!;
      const isClose = typeof event === "object" && !(event instanceof Uint8Array);
      if (this.#paused && !isClose) return;
      this.#queue.shift();
      this.#deliver(event);
    }
  }

  #deliver(event: Event): void {
    const handlers = this.#handlers;
    if (!handlers) return;
    if (event instanceof Uint8Array) handlers.onData(event);
    else if (event === "end") handlers.onEnd();
    else {
      this.#detached = true;
      this.#queue = [];
      handlers.onClose(event.close);
    }
  }
}

function concatBytes(parts: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const part of parts) {
    out.set(part, at);
    at += part.length;
  }
  return out;
}
