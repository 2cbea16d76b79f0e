/**
 * A client that keeps one connection alive: it reconnects with jittered
 * backoff, holds writes in a bounded queue while disconnected, detects
 * half-dead peers, and settles every write promise.
 *
 * @module
 */

import { formatAddress, type Address } from "../address.ts";
import { realClock, type Clock } from "../timers/clock.ts";
import type { Codec } from "../framing/codec.ts";
import type { Connection } from "../connection.ts";
import { endpoints, type EndpointSource, type Target } from "../connect/endpoints.ts";
import { invalidOption, NetError, toNetError } from "../errors.ts";
import { Heartbeat } from "../liveness/heartbeat.ts";
import { OfflineQueue } from "./offline-queue.ts";
import { ClientSession } from "../session/client-session.ts";
import { checkMillis } from "../options.ts";
import type { Transport } from "../transport.ts";
import { emitEvent, TypedEventTarget } from "../typed-events.ts";
import { encodeFrame, joinParts } from "../framing/write-coalescer.ts";
import type { ReconnectingEvents, ReconnectingState } from "./events.ts";
import { Inbox } from "./inbox.ts";
import { reconnectingSettings, type ReconnectingOptions, type ReconnectingSettings, type WriteOptions } from "./options.ts";
import { Supervisor } from "./supervisor.ts";
import { ClientObserver, type ReconnectingStats } from "./client-observer.ts";
import { RefClock } from "../timers/event-loop-ref.ts";
import { describeClient, inspectAs } from "../observability/inspect.ts";
import { checkUnrefCapability } from "../timers/unref.ts";
import type { TransportCapabilities } from "../transport.ts";
import { WritePath } from "./write-path.ts";
import { WriteStallWatch } from "./write-stall.ts";

const encoder = new TextEncoder();
const noop = (): void => {};
const RESOLVED: Promise<void> = Promise.resolve();
const DONE: IteratorResult<never> = Object.freeze({ value: undefined, done: true });

function rejected(error: unknown): Promise<never> {
  const promise = Promise.reject(error);
  promise.catch(noop);
  return promise;
}

function deferred<T>(): { promise: Promise<T>; resolve: (value: T) => void; reject: (error: unknown) => void } {
  let resolve!: (value: T) => void;
  let reject!: (error: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  // `opened` may be ignored; its rejection must never crash the process.
  promise.catch(noop);
  return { promise, resolve, reject };
}

/**
 * Test seams of a {@link ReconnectingClient}; not part of the options.
 *
 * @example
 * ```ts
 * import { ReconnectingClient } from "./client.ts";
 * const client = new ReconnectingClient(transport, "127.0.0.1:7000", {}, { clock: manualClock });
 * ```
 */
export interface ReconnectingInternals {
  /** Time and timers for every timeout, sleep and deadline. Default: the runtime's. */
  readonly clock?: Clock;
}

/** What the client tracks about the connection it is serving. */
interface Link {
  readonly conn: Connection;
  readonly endpoint: Address;
  readonly label: string;
  /** Its reader waits for an earlier connection's reader, or for the consumer to make room. */
  readBlocked: boolean;
  heartbeat: Heartbeat | undefined;
  stall: WriteStallWatch | undefined;
}

/**
 * A connection that stays up. Create it with `reconnecting(target, options)`.
 *
 * Writes:
 * - `write(bytes)` / `send(frame)` return a promise that always settles. It
 *   resolves once the whole message was written to an open connection (that
 *   connection's `write()` took it; messages of one tick go out in one
 *   write); it rejects with a {@link NetError} if that never happens:
 *   `ERR_QUEUE_FULL`, `ERR_WRITE_DROPPED`, `ERR_WRITE_DEADLINE`,
 *   `ERR_NOT_CONNECTED` (with `offlineQueue: false`), `ERR_SOCKET_CLOSED`
 *   after `close()`, or the error the client gave up with.
 * - A message is never split: it goes whole to one connection, or stays queued.
 * - Resolved is not delivered: bytes written to a connection that then dies
 *   may be lost, as with any TCP socket; they are never resent, which would
 *   risk duplicates. The part of that loss still in wireline's own buffer
 *   (never handed to the kernel) is reported by a `drop` event with
 *   `resolved: true`. Where at-least-once matters, have the server
 *   acknowledge and resend what was not acknowledged.
 * - While disconnected, or while the connection's send buffer is full,
 *   writes wait in a queue bounded by `maxQueuedBytes` and `maxQueuedWrites`;
 *   `overflow` says what happens when it is full.
 *
 * Reading: `for await (const item of client)` yields raw chunks, or frames
 * with a `codec`, from each connection in turn. Each connection gets a fresh
 * decoder, and no chunk or frame ever mixes bytes of two connections: a frame
 * cut short by a disconnect is discarded (and reported as an `error` event).
 * A consumer that does not read holds back at most `maxUnreadBytes` before
 * reading pauses. The loop ends after `close()`, or throws the error the
 * client gave up with.
 *
 * Liveness: a connection is declared stale (`stale` event, destroyed with
 * `ERR_STALE_CONNECTION`, replaced) when its unsent bytes make no progress
 * for `writeStallTimeout`, and, with a `heartbeat`, when nothing arrives for
 * its interval plus timeout.
 *
 * @example
 * ```ts
 * import { reconnecting, lines } from "wireline";
 * const client = reconnecting(["10.0.0.1:7000", "10.0.0.2:7000"], {
 *   codec: lines(),
 *   heartbeat: { interval: 10_000, timeout: 5_000, ping: (conn) => conn.write("PING\n") },
 * });
 * client.on("reconnecting", ({ attempt, delay, error }) => console.log(`retry #${attempt} in ${delay} ms: ${error.code}`));
 * await client.send("HELLO");
 * for await (const line of client) console.log(line);
 * ```
 */
export class ReconnectingClient<T = Uint8Array> extends TypedEventTarget<ReconnectingEvents> implements AsyncIterable<T>, AsyncDisposable {
  static {
    // `console.log(client)`: its target, state, endpoint and counters.
    inspectAs(ReconnectingClient, (client) => describeClient({ target: client.#source.label, endpoint: client.endpoint, stats: client.stats }));
  }

  readonly #settings: ReconnectingSettings<T>;
  readonly #source: EndpointSource;
  readonly #clock: Clock;
  readonly #queue: OfflineQueue;
  readonly #writes: WritePath;
  readonly #inbox: Inbox<T>;
  readonly #supervisor: Supervisor;
  readonly #session: ClientSession<T> | undefined;
  readonly #observer: ClientObserver;
  /** The clock of every timer of this client, so that unref() reaches the backoff sleep too. */
  readonly #refClock: RefClock;
  readonly #capabilities: TransportCapabilities;

  #state: ReconnectingState = "connecting";
  #link: Link | undefined;
  #opened = deferred<void>();
  #closeError: NetError | undefined;
  readonly #closed = deferred<NetError | undefined>();

  /** Prefer `reconnecting()` from `wireline`, which binds the runtime's transport. */
  constructor(transport: Transport, target: Target, options: ReconnectingOptions<T> = {}, internals: ReconnectingInternals = {}) {
    super();
    const settings = reconnectingSettings(options, transport);
    this.#settings = settings;
    this.#clock = this.#refClock = new RefClock(internals.clock ?? realClock);
    this.#capabilities = transport.capabilities;
    this.#source = endpoints(target, { shuffle: settings.shuffle });
    this.#queue = new OfflineQueue({
      maxBytes: settings.maxQueuedBytes,
      maxWrites: settings.maxQueuedWrites,
      overflow: settings.overflow,
      onDrop: (count, bytes, reason) => this.#emit("drop", { count, bytes, reason, resolved: false }),
      clock: this.#clock,
    });
    this.#writes = new WritePath(this.#queue, this.#clock);
    this.#inbox = new Inbox(settings.codec, settings.maxUnreadBytes);
    this.#session = settings.session
      ? new ClientSession(settings.session, settings.codec, this.#clock, {
          session: (event) => this.#emit("session", event),
          lost: (event) => this.#emit("session-lost", event),
        })
      : undefined;
    this.#observer = new ClientObserver(this as TypedEventTarget<ReconnectingEvents>, this.#source.label);
    this.#supervisor = new Supervisor(settings as ReconnectingSettings<unknown>, this.#source, transport, this.#clock, {
      isClosed: () => this.#isClosed(),
      closeReason: () => this.#closeReason(),
      serve: (conn, endpoint) => this.#observer.serving(conn, this.#serve(conn, endpoint), this),
      attempting: (endpoint) => this.#observer.attempting(endpoint),
      failed: (error) => this.#emit("error", error),
      retrying: (attempt, delay, error, endpoint) => {
        this.#state = "reconnecting";
        this.#emit("reconnecting", { attempt, delay, error, endpoint });
      },
      giveUp: (error) => this.#shutdown(error),
    });
    // Started after the constructor returns, so listeners added right away see every event.
    queueMicrotask(() => {
      this.#supervisor.run().catch((error) => this.#shutdown(toNetError(error, this.#source.label)));
    });
  }

  /** The current state. */
  get state(): ReconnectingState {
    return this.#state;
  }

  /**
   * Resolves when the client is open: at once if it is, else at the next
   * open. Rejects if the client closes first. Never crashes the process if
   * ignored.
   */
  get opened(): Promise<void> {
    if (this.#state === "open") return RESOLVED;
    return this.#opened.promise;
  }

  /** Resolves (never rejects) once the client is closed and its socket released, with the error it gave up with, if any. */
  get closed(): Promise<NetError | undefined> {
    return this.#closed.promise;
  }

  /** The endpoint of the open connection, or undefined. */
  get endpoint(): Address | undefined {
    return this.#link?.endpoint;
  }

  /** Writes waiting in the offline queue. */
  get queuedWrites(): number {
    return this.#queue.size;
  }

  /** Bytes waiting in the offline queue. */
  get queuedBytes(): number {
    return this.#queue.bytes;
  }

  /** Counters since the client was created: attempts, connects, disconnects, bytes, queued and dropped writes. */
  get stats(): ReconnectingStats {
    return this.#observer.stats(this);
  }

  /**
   * Lets the process exit while this client is open, reconnecting or waiting
   * to retry: its connections and timers stop keeping it alive (a connect
   * attempt in flight still does, until it ends). ERR_UNSUPPORTED where the
   * transport cannot.
   */
  unref(): void {
    checkUnrefCapability(this.#capabilities);
    this.#refClock.unref();
    this.#observer.setReferenced(false);
  }

  /** Undoes {@link ReconnectingClient.unref}. */
  ref(): void {
    checkUnrefCapability(this.#capabilities);
    this.#refClock.ref();
    this.#observer.setReferenced(true);
  }

  /**
   * Sends raw bytes (strings as UTF-8) as one message; see the class
   * documentation for when the promise settles. Do not modify `data` until it
   * settles.
   */
  write(data: Uint8Array | string, options?: WriteOptions): Promise<void> {
    if (typeof data === "string") data = encoder.encode(data);
    if (!(data instanceof Uint8Array)) return rejected(invalidOption("data", data, "a Uint8Array or a string"));
    if (this.#session) return this.#sessionSend(options) ?? this.#session.frames.sendEncoded(data);
    return this.#submit(data, options);
  }

  /**
   * Encodes `frame` with the codec and sends it as one message, like
   * {@link ReconnectingClient.write}. Without a codec, `frame` must be bytes.
   * Rejects with the codec's error if the frame cannot be encoded.
   */
  send(frame: T, options?: WriteOptions): Promise<void> {
    if (this.#session) return this.#sessionSend(options) ?? this.#session.frames.send(frame);
    const codec = this.#settings.codec;
    if (!codec) return this.write(frame as Uint8Array, options);
    let data: Uint8Array;
    try {
      // One array per message: the offline queue and a reconnect move messages whole.
      data = joinParts(encodeFrame(codec, frame));
    } catch (error) {
      return rejected(error);
    }
    return this.#submit(data, options);
  }

  /**
   * Closes for good: rejects every queued write with `ERR_SOCKET_CLOSED`,
   * aborts a connect attempt in progress, stops retrying, and closes the
   * connection, letting it flush what it already took for up to
   * `closeTimeout` ms. Resolves once the socket is released; no timer or
   * socket is left behind.
   */
  close(): Promise<void> {
    if (!this.#isClosed()) this.#shutdown(undefined);
    return this.#closed.promise.then(noop);
  }

  /** `await using client = reconnecting(...)` closes it at the end of the scope. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  /** Yields received chunks (or frames) across reconnects. One loop at a time; leaving it early keeps the client open. */
  [Symbol.asyncIterator](): AsyncIterator<T> {
    return {
      next: () => (this.#session ? this.#session.frames.next() : this.#inbox.next()),
      return: () => Promise.resolve(DONE),
    };
  }

  #emit<K extends keyof ReconnectingEvents & string>(type: K, detail: ReconnectingEvents[K]): void {
    emitEvent(this, type, detail);
  }

  /** A method, not a comparison, so TypeScript does not narrow the state across awaits. */
  #isClosed(): boolean {
    return this.#state === "closed";
  }

  #closeReason(): NetError {
    return this.#closeError ?? new NetError("ERR_SOCKET_CLOSED", "the client was closed", { address: this.#source.label });
  }

  /** Runs one open connection until it closes; returns why it closed. */
  async #serve(conn: Connection, endpoint: Address): Promise<NetError> {
    const label = formatAddress(endpoint);
    const settings = this.#settings;
    const link: Link = { conn, endpoint, label, readBlocked: true, heartbeat: undefined, stall: undefined };
    this.#link = link;
    const heartbeat = settings.heartbeat;
    if (heartbeat) {
      link.heartbeat = new Heartbeat(
        conn,
        heartbeat,
        {
          readBlocked: () => link.readBlocked,
          onStale: (silentFor) => {
            this.#emit("stale", { endpoint, silentFor, reason: "silent" });
            conn.destroy(
              new NetError("ERR_STALE_CONNECTION", `nothing received for ${silentFor} ms (heartbeat interval ${heartbeat.interval} ms + timeout ${heartbeat.timeout} ms)`, { address: label }),
            );
          },
          onPingError: (error) => conn.destroy(toNetError(error, label)),
        },
        this.#clock,
      );
    }
    if (settings.writeStallTimeout !== Infinity) {
      link.stall = new WriteStallWatch(conn, settings.writeStallTimeout, this.#clock, (stalledFor) => {
        this.#emit("stale", { endpoint, silentFor: stalledFor, reason: "write-stall" });
        conn.destroy(
          new NetError(
            "ERR_STALE_CONNECTION",
            `${conn.bufferedAmount} bytes waited to be sent and the peer took none of them for ${stalledFor} ms (writeStallTimeout ${settings.writeStallTimeout} ms)`,
            { address: label },
          ),
        );
      }, () => link.readBlocked);
    }
    if (this.#session) return this.#serveSession(link);
    this.#inbox.read(conn, {
      blocked: (blocked) => (link.readBlocked = blocked),
      received: () => link.heartbeat?.touch(),
      cutFrame: (error) => this.#emit("error", error),
    });
    this.#state = "open";
    this.#opened.resolve();
    this.#emit("open", { endpoint });
    this.#writes.attach(conn);
    const error = await conn.closed;
    this.#unlink(link);
    if (this.#isClosed()) return error ?? this.#closeReason();
    this.#state = "reconnecting";
    this.#opened = deferred<void>();
    const cause = error ?? new NetError("ERR_SOCKET_CLOSED", "the server closed the connection", { address: label });
    this.#reportUnsent(conn, cause);
    if (!settings.offlineQueue) this.#rejectQueued(new NetError("ERR_NOT_CONNECTED", `the connection was lost (${cause.code}) and offlineQueue is false`, { cause, address: label }));
    return cause;
  }

  /** A session's handshake, then its frames, on one connection until it closes; returns why it closed. */
  async #serveSession(link: Link): Promise<NetError> {
    const { conn, endpoint, label } = link;
    link.readBlocked = false;
    let failure: NetError | undefined;
    try {
      await this.#session!.open(conn, this.#settings.handshakeTimeout);
    } catch (error) {
      failure = toNetError(error, label);
      conn.destroy(failure);
      if (failure.code === "ERR_SESSION_PROTOCOL") {
        // The peer does not speak the session protocol: a retry would fail the same way, forever.
        await conn.closed;
        this.#unlink(link);
        if (!this.#isClosed()) {
          this.#emit("error", failure);
          this.#shutdown(failure);
        }
        return failure;
      }
    }
    if (!failure && !this.#isClosed()) {
      this.#state = "open";
      this.#opened.resolve();
      this.#emit("open", { endpoint });
    }
    const error = (await conn.closed) ?? failure;
    this.#unlink(link);
    if (this.#isClosed()) return error ?? this.#closeReason();
    this.#state = "reconnecting";
    this.#opened = deferred<void>();
    return error ?? new NetError("ERR_SOCKET_CLOSED", "the server closed the connection", { address: label });
  }

  /** Checks a session send's options: the session has no per-write deadline. Returns a rejection, or undefined to go on. */
  #sessionSend(options: WriteOptions | undefined): Promise<never> | undefined {
    if (this.#isClosed()) return rejected(this.#closeReason());
    if (options?.deadline !== undefined) return rejected(new NetError("ERR_UNSUPPORTED", "a write deadline is not supported with session: send() waits for the window, then for the acknowledgement"));
    return undefined;
  }

  /** Stops serving the link: its timers stop and its batched writes go back to the queue. */
  #unlink(link: Link): void {
    link.heartbeat?.stop();
    link.stall?.stop();
    if (this.#link !== link) return;
    this.#link = undefined;
    this.#writes.detach();
  }

  /** Reports writes that resolved but never reached the kernel, once the connection is gone. */
  #reportUnsent(conn: Connection, reason: NetError): void {
    const unsent = conn.unsent;
    if (!unsent || unsent.bytes === 0) return;
    const count = Math.max(1, this.#writes.lostMessages(conn, unsent.bytes));
    this.#emit("drop", { count, bytes: unsent.bytes, reason, resolved: true });
  }

  #shutdown(error: NetError | undefined): void {
    if (this.#isClosed()) return;
    this.#state = "closed";
    this.#closeError = error;
    const reason = this.#closeReason();
    this.#supervisor.stop(reason);
    const link = this.#link;
    // Messages batched this tick were accepted before close(): they are written, then flushed below.
    if (link) this.#unlink(link);
    this.#rejectQueued(reason);
    this.#session?.close(reason, error);
    this.#opened.reject(reason);
    this.#inbox.end(error);
    this.#emit("close", { error });
    this.#release(link?.conn).then(() => {
      if (link) this.#reportUnsent(link.conn, error ?? new NetError("ERR_SOCKET_CLOSED", `the client was closed and closeTimeout (${this.#settings.closeTimeout} ms) passed before its bytes were sent`, { address: link.label }));
      this.#closed.resolve(error);
    });
  }

  /** Lets the connection flush for up to closeTimeout, then destroys it; resolves once it is gone. */
  async #release(conn: Connection | undefined): Promise<void> {
    if (!conn) return;
    const closeTimeout = this.#settings.closeTimeout;
    const flushed = conn.close({ timeout: closeTimeout === Infinity ? undefined : closeTimeout });
    const timer = closeTimeout === Infinity ? undefined : this.#clock.setTimeout(() => conn.destroy(), closeTimeout);
    await flushed;
    if (timer !== undefined) this.#clock.clearTimeout(timer);
  }

  #rejectQueued(reason: NetError): void {
    const count = this.#queue.size + this.#queue.waiting;
    const bytes = this.#queue.bytes;
    this.#queue.rejectAll(reason);
    if (count > 0) this.#emit("drop", { count, bytes, reason, resolved: false });
  }

  #submit(data: Uint8Array, options: WriteOptions | undefined): Promise<void> {
    if (this.#isClosed()) return rejected(this.#closeReason());
    let deadline: number;
    try {
      deadline = checkMillis("deadline", options?.deadline) ?? this.#settings.writeDeadline;
    } catch (error) {
      return rejected(error);
    }
    if (data.length === 0) return RESOLVED;
    if (!this.#settings.offlineQueue && !this.#writes.attached) {
      return rejected(new NetError("ERR_NOT_CONNECTED", `the client is ${this.#state} and offlineQueue is false`, { address: this.#source.label }));
    }
    return this.#writes.submit(data, deadline);
  }
}

/**
 * Creates a {@link ReconnectingClient} on `transport`. Most users call the
 * bound `reconnecting()` from `wireline`; this form is for custom transports.
 * A target or option that can never work throws at once
 * (`ERR_INVALID_ADDRESS`, `ERR_INVALID_OPTION`, also for a key that is not
 * an option).
 *
 * @example
 * ```ts
 * import { createNet, lengthPrefixed } from "wireline";
 * import { memoryTransport } from "wireline/memory";
 * const client = createNet(memoryTransport).reconnecting("localhost:7000", { codec: lengthPrefixed() });
 * await client.send(new Uint8Array([1, 2, 3]));
 * ```
 */
export function reconnectingWith<T>(transport: Transport, target: Target, options: ReconnectingOptions<T> & { readonly codec: Codec<T> }): ReconnectingClient<T>;
export function reconnectingWith(transport: Transport, target: Target, options?: ReconnectingOptions<Uint8Array>): ReconnectingClient<Uint8Array>;
export function reconnectingWith<T>(transport: Transport, target: Target, options?: ReconnectingOptions<T>): ReconnectingClient<T> {
  return new ReconnectingClient<T>(transport, target, options);
}
