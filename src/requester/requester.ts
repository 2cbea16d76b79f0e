/**
 * Requests and replies over any framed protocol: pairs each reply with its
 * request, bounds what is in flight and queued, and settles every request,
 * across reconnects too.
 *
 * @module
 */

import { realClock } from "../timers/clock.ts";
import { channels } from "../observability/diagnostics.ts";
import { invalidOption, NetError, toNetError } from "../errors.ts";
import { checkKnownKeys } from "../options.ts";
import { FramingError } from "../framing/framing-error.ts";
import { emitEvent, TypedEventTarget } from "../typed-events.ts";
import { isReconnecting, type ReconnectingChannel, type RequestChannel } from "./channel.ts";
import { Deadlines, type Timed } from "./deadlines.ts";
import { FifoInFlight, IdInFlight, type InFlight, type ReplyMatch } from "./in-flight.ts";
import type { PendingRequest } from "./pending-request.ts";

/**
 * How replies pair with requests: `"fifo"` (replies in request order, as in
 * Redis, memcached's text protocol, SMTP, POP3) or correlation ids read from
 * each frame (JSON-RPC, Kafka-style protocols).
 *
 * @example
 * ```ts
 * import type { RequestMatch } from "wireline";
 * type Rpc = { id: number; method?: string; result?: unknown };
 * const byId: RequestMatch<Rpc> = { requestId: (req) => req.id, replyId: (reply) => reply.id };
 * ```
 */
export type RequestMatch<T> = "fifo" | { readonly requestId: (request: T) => unknown; readonly replyId: (reply: T) => unknown };

/**
 * Options of {@link requester}. Every default is exported as a constant.
 *
 * @example
 * ```ts
 * import { reconnecting, requester, resp } from "wireline";
 * const redis = requester(reconnecting("127.0.0.1:6379", { codec: resp() }), {
 *   match: "fifo",
 *   maxInFlight: 500,
 *   timeout: 5_000,
 *   resend: true,
 *   isPush: (frame) => Array.isArray(frame) && frame[0] === "message",
 * });
 * ```
 */
export interface RequesterOptions<T> {
  /** How replies pair with requests. Default `"fifo"`. */
  readonly match?: RequestMatch<T>;
  /** Requests on the wire at once (in fifo mode, a timed-out request holds its slot until its reply comes). Beyond it, requests wait. Default 1 000. */
  readonly maxInFlight?: number;
  /** Requests waiting to be sent; beyond it `request()` rejects with `ERR_QUEUE_FULL`. Default 10 000. */
  readonly maxQueued?: number;
  /** Ms from `request()` to its reply, waiting included; then `ERR_REPLY_TIMEOUT`. Infinity for none. Default 10 000. */
  readonly timeout?: number;
  /**
   * What happens to requests in flight when a reconnecting client loses its
   * connection: `false` rejects them with `ERR_CONNECTION_LOST`; `true` (or a
   * function returning true for a frame) sends them again, in their original
   * order and before any new request, on the next connection, after its
   * `onConnect`. Default false. Only a reconnecting client can resend.
   */
  readonly resend?: boolean | ((frame: T) => boolean);
  /** Frames the server sends on its own (pub/sub messages, notifications): they take no reply slot and go to `pushes()` and the `push` event. */
  readonly isPush?: (frame: T) => boolean;
  /** Pushes held for a `pushes()` loop that lags; past it the oldest is dropped and counted. Default 1 000. */
  readonly maxQueuedPushes?: number;
}

/**
 * Per-request options.
 *
 * @example
 * ```ts
 * const reply = await redis.request(["GET", "key"], { timeout: 500, signal: AbortSignal.timeout(1_000) });
 * ```
 */
export interface RequestOptions {
  /** Overrides the requester's `timeout` for this request. */
  readonly timeout?: number;
  /** Aborts this request: it rejects with `ABORT_ERR` (its reply, if it comes, is discarded). */
  readonly signal?: AbortSignal;
}

/**
 * Counters since the requester was created, and current sizes.
 *
 * @example
 * ```ts
 * const { inFlight, completed, timedOut, resent } = redis.stats;
 * ```
 */
export interface RequesterStats {
  /** Requests on the wire, waiting for their reply. */
  readonly inFlight: number;
  /** Requests waiting to be sent (for a slot, or for a connection). */
  readonly queued: number;
  /** Requests resolved with their reply. */
  readonly completed: number;
  /** Requests rejected with `ERR_REPLY_TIMEOUT`. */
  readonly timedOut: number;
  /** Requests rejected with `ABORT_ERR`. */
  readonly aborted: number;
  /** Requests rejected with `ERR_CONNECTION_LOST`, `ERR_SOCKET_CLOSED` or a send error. */
  readonly failed: number;
  /** Frames sent again on a new connection (a request resent twice counts twice). */
  readonly resent: number;
  /** Replies that arrived for requests that had already timed out or been aborted. */
  readonly lateReplies: number;
  /** Frames that matched no request (see the `unmatched` event). */
  readonly unmatched: number;
  /** Frames `isPush` picked. */
  readonly pushes: number;
  /** Pushes dropped because a `pushes()` loop lagged by `maxQueuedPushes`. */
  readonly droppedPushes: number;
}

/**
 * The events of a {@link Requester}.
 *
 * @example
 * ```ts
 * redis.on("unmatched", ({ frame }) => console.warn("reply nobody asked for", frame));
 * redis.on("push", ({ frame }) => console.log("server says", frame));
 * ```
 */
export interface RequesterEvents<T> {
  /** A frame that answers no request: the protocol is out of step, or the server spoke first. */
  unmatched: { readonly frame: T };
  /** A frame `isPush` picked. */
  push: { readonly frame: T };
}

/**
 * Default {@link RequesterOptions.maxInFlight}: 1 000.
 *
 * @example
 * ```ts
 * import { reconnecting, requester, resp } from "wireline";
 * const redis = requester(reconnecting("127.0.0.1:6379", { codec: resp() }), { maxInFlight: 100 }); // default 1000
 * ```
 */
export const DEFAULT_MAX_IN_FLIGHT: number = 1_000;
/**
 * Default {@link RequesterOptions.maxQueued}: 10 000.
 *
 * @example
 * ```ts
 * import { reconnecting, requester, resp } from "wireline";
 * const redis = requester(reconnecting("127.0.0.1:6379", { codec: resp() }), { maxQueued: 1_000 }); // default 10 000
 * ```
 */
export const DEFAULT_MAX_QUEUED_REQUESTS: number = 10_000;
/**
 * Default {@link RequesterOptions.timeout}: 10 s.
 *
 * @example
 * ```ts
 * import { reconnecting, requester, resp } from "wireline";
 * const redis = requester(reconnecting("127.0.0.1:6379", { codec: resp() }), { timeout: 2_000 }); // default 10 000
 * ```
 */
export const DEFAULT_REPLY_TIMEOUT: number = 10_000;
/**
 * Default {@link RequesterOptions.maxQueuedPushes}: 1 000.
 *
 * @example
 * ```ts
 * import { reconnecting, requester, resp } from "wireline";
 * const redis = requester(reconnecting("127.0.0.1:6379", { codec: resp() }), { maxQueuedPushes: 100 }); // default 1000
 * ```
 */
export const DEFAULT_MAX_QUEUED_PUSHES: number = 1_000;

/** setTimeout fires at once past 2^31 - 1 ms; longer timeouts (about 25 days) are treated as none. */
const MAX_TIMER = 2 ** 31 - 1;
const noop = (): void => {};
const REQUESTER_OPTION_KEYS: readonly string[] = ["match", "maxInFlight", "maxQueued", "timeout", "resend", "isPush", "maxQueuedPushes"];
const REQUEST_OPTION_KEYS: readonly string[] = ["timeout", "signal"];
const NO_MATCH: ReplyMatch<never> = Object.freeze({ kind: "none" });

interface Request<T> extends PendingRequest<T>, Timed {
  signal: AbortSignal | undefined;
  onAbort: (() => void) | undefined;
}

/** A `pushes()` loop: what it has not read yet, and its `next()` calls waiting for more. */
interface PushLoop<T> {
  readonly buffer: T[];
  waiting: (() => void)[];
}

function wakeAll<T>(loop: PushLoop<T>): void {
  const waiting = loop.waiting;
  loop.waiting = [];
  for (const wake of waiting) wake();
}

/** Mutable counters behind {@link RequesterStats}. */
interface Counters {
  completed: number;
  timedOut: number;
  aborted: number;
  failed: number;
  resent: number;
  lateReplies: number;
  unmatched: number;
  pushes: number;
  droppedPushes: number;
}

/**
 * Sends requests over a framed channel and pairs each reply with its request.
 * Create it with {@link requester}; it takes over the channel's reading.
 *
 * Guarantees:
 * - Every `request()` settles: with its reply, or with `ERR_REPLY_TIMEOUT`,
 *   `ABORT_ERR`, `ERR_QUEUE_FULL`, `ERR_CONNECTION_LOST`,
 *   `ERR_SOCKET_CLOSED` (after `close()`), or the codec's error for a frame
 *   that cannot be encoded.
 * - At most `maxInFlight` requests are on the wire and `maxQueued` wait.
 * - With `resend: false`, a request that resolved was answered; one that
 *   rejected with `ERR_CONNECTION_LOST` may or may not have been applied.
 * - With `resend`, requests in flight at a disconnect are sent again on the
 *   next connection, before any new request and in their original order:
 *   at-least-once. A request the server applied just before the connection
 *   died is applied twice.
 *
 * @example
 * ```ts
 * import { reconnecting, requester, resp } from "wireline";
 * const redis = requester(reconnecting("127.0.0.1:6379", { codec: resp() }), { resend: true });
 * const replies = await Promise.all([redis.request(["SET", "a", "1"]), redis.request(["GET", "a"])]);
 * await redis.close();
 * ```
 */
export class Requester<T> extends TypedEventTarget<RequesterEvents<T>> implements AsyncDisposable {
  readonly #channel: RequestChannel<T>;
  readonly #reconnecting: ReconnectingChannel<T> | undefined;
  readonly #inFlight: InFlight<T>;
  readonly #requestId: ((frame: T) => unknown) | undefined;
  readonly #maxInFlight: number;
  /** Replies refill the wire only once slots fall to this, so that refills go out together in one write. */
  readonly #refillAt: number;
  readonly #maxQueued: number;
  readonly #timeout: number;
  readonly #resend: false | ((frame: T) => boolean);
  readonly #isPush: ((frame: T) => boolean) | undefined;
  readonly #maxQueuedPushes: number;
  readonly #deadlines: Deadlines<Request<T>> = new Deadlines<Request<T>>(realClock, (request) => {
    this.#counters.timedOut++;
    if (channels.requestTimeout.hasSubscribers) channels.requestTimeout.publish({ timeout: request.timeout, sent: request.onWire });
    this.#drop(request, new NetError("ERR_REPLY_TIMEOUT", `no reply within ${request.timeout} ms${request.onWire ? "" : " (it was waiting to be sent)"}`));
  });
  readonly #counters: Counters = { completed: 0, timedOut: 0, aborted: 0, failed: 0, resent: 0, lateReplies: 0, unmatched: 0, pushes: 0, droppedPushes: 0 };

  /** Requests to send again, in request order, before anything in `#queue`. */
  #resendQueue: Request<T>[] = [];
  /** Requests waiting for a slot or a connection; settled ones are skipped and swept. */
  #queue: Request<T>[] = [];
  #queueHead = 0;
  #queued = 0;
  /** Ids of unsettled requests, in id mode: a second request with the same id could not be told apart. */
  readonly #ids = new Set<unknown>();
  #seq = 0;
  /** The channel has a connection that takes requests. */
  #up: boolean;
  /** A disconnect whose in-flight requests are not sorted out yet (see #noticeDrop). */
  #dropTimer: ReturnType<typeof setTimeout> | undefined;
  /** A refill for slots freed above `#refillAt`, one timer tick later, so that free slots never stay unused. */
  #refillTimer: ReturnType<typeof setTimeout> | undefined;
  #dropCause: NetError | undefined;
  /** Set once no request can be sent any more: every later request rejects with it. */
  #ended: NetError | undefined;
  readonly #unsubscribe: (() => void)[] = [];
  readonly #reading: Promise<void>;
  #pushes: PushLoop<T> | undefined;

  /** Prefer {@link requester}. */
  constructor(channel: RequestChannel<T>, options: RequesterOptions<T> = {}) {
    super();
    if (options === null || typeof options !== "object") throw invalidOption("options", options, "an object");
    checkKnownKeys(options, REQUESTER_OPTION_KEYS);
    if (channel === null || typeof channel !== "object" || typeof channel.send !== "function" || typeof channel[Symbol.asyncIterator] !== "function") {
      throw invalidOption("channel", channel, "a framed() channel or a reconnecting client");
    }
    const match = options.match ?? "fifo";
    if (match === "fifo") {
      this.#inFlight = new FifoInFlight<T>();
    } else if (match !== null && typeof match === "object" && typeof match.requestId === "function" && typeof match.replyId === "function") {
      this.#inFlight = new IdInFlight<T>(match.replyId);
      this.#requestId = match.requestId;
    } else {
      throw invalidOption("match", match, '"fifo" or { requestId(frame), replyId(frame) }');
    }
    this.#maxInFlight = positiveCount("maxInFlight", options.maxInFlight, DEFAULT_MAX_IN_FLIGHT);
    this.#refillAt = this.#maxInFlight === Infinity ? Infinity : this.#maxInFlight - Math.ceil(this.#maxInFlight / 4);
    this.#maxQueued = positiveCount("maxQueued", options.maxQueued, DEFAULT_MAX_QUEUED_REQUESTS, 0);
    this.#maxQueuedPushes = positiveCount("maxQueuedPushes", options.maxQueuedPushes, DEFAULT_MAX_QUEUED_PUSHES);
    this.#timeout = timeoutOption("timeout", options.timeout) ?? DEFAULT_REPLY_TIMEOUT;
    const resend = options.resend ?? false;
    if (resend === true) this.#resend = () => true;
    else if (resend === false || typeof resend === "function") this.#resend = resend;
    else throw invalidOption("resend", resend, "a boolean or a function (frame) => boolean");
    if (options.isPush !== undefined && typeof options.isPush !== "function") throw invalidOption("isPush", options.isPush, "a function (frame) => boolean");
    this.#isPush = options.isPush;
    this.#channel = channel;
    if (isReconnecting(channel)) {
      this.#reconnecting = channel;
      this.#up = channel.state === "open";
      this.#unsubscribe.push(
        channel.on("open", () => this.#connected()),
        channel.on("error", (error) => this.#noticeDrop(error)),
        channel.on("close", ({ error }) => this.#end(lost(error ?? new NetError("ERR_SOCKET_CLOSED", "the reconnecting client was closed"), "the reconnecting client closed"))),
      );
      if (channel.state === "closed") this.#end(new NetError("ERR_SOCKET_CLOSED", "the reconnecting client is closed"));
    } else {
      if (this.#resend !== false) {
        throw new NetError("ERR_UNSUPPORTED", "resend needs a reconnecting client: a framed() channel has one connection, so nothing can be sent again after it drops");
      }
      this.#up = true;
    }
    this.#reading = this.#read();
  }

  /** A snapshot of the counters. */
  get stats(): RequesterStats {
    return { inFlight: this.#inFlight.live, queued: this.#queued + this.#resendQueue.length, ...this.#counters };
  }

  /**
   * Sends `frame` and resolves with its reply. See the class documentation
   * for every way it settles.
   */
  request(frame: T, options?: RequestOptions): Promise<T> {
    if (this.#ended) return Promise.reject(this.#ended);
    let timeout = this.#timeout;
    let id: unknown;
    try {
      if (options !== undefined) {
        if (options === null || typeof options !== "object") throw invalidOption("options", options, "an object");
        checkKnownKeys(options, REQUEST_OPTION_KEYS);
        timeout = timeoutOption("timeout", options.timeout) ?? timeout;
        if (options.signal !== undefined && !(options.signal instanceof AbortSignal)) throw invalidOption("signal", options.signal, "an AbortSignal");
      }
      if (this.#requestId) {
        id = this.#requestId(frame);
        if (this.#ids.has(id)) throw invalidOption("requestId", id, "unique among the requests not yet settled");
      }
    } catch (error) {
      return Promise.reject(toNetError(error));
    }
    const signal = options?.signal;
    if (signal?.aborted) return Promise.reject(abortError(signal));
    const canSend = this.#up && this.#resendQueue.length === 0 && this.#queued === 0 && this.#inFlight.slots < this.#maxInFlight;
    if (!canSend && this.#queued >= this.#maxQueued) {
      return Promise.reject(new NetError("ERR_QUEUE_FULL", `${this.#queued} requests already wait to be sent (maxQueued ${this.#maxQueued})`));
    }
    return new Promise<T>((resolve, reject) => {
      const request: Request<T> = {
        seq: this.#seq++,
        frame,
        id,
        settled: false,
        onWire: false,
        handed: false,
        timeout,
        deadline: timeout <= MAX_TIMER ? realClock.now() + timeout : Infinity,
        timing: false,
        signal,
        onAbort: undefined,
        resolve: (reply) => {
          if (this.#settle(request)) resolve(reply);
        },
        reject: (error) => {
          if (this.#settle(request)) reject(error);
        },
      };
      if (this.#requestId) this.#ids.add(id);
      if (request.deadline !== Infinity) this.#deadlines.add(request);
      if (signal) {
        request.onAbort = () => {
          this.#counters.aborted++;
          this.#drop(request, abortError(signal));
        };
        signal.addEventListener("abort", request.onAbort, { once: true });
      }
      if (canSend) this.#send(request);
      else {
        this.#queue.push(request);
        this.#queued++;
      }
    });
  }

  /**
   * Frames `isPush` picked, from now on. One loop at a time; a loop that lags
   * by `maxQueuedPushes` loses the oldest. Ends when the requester closes.
   */
  pushes(): AsyncIterableIterator<T> {
    if (this.#pushes) throw new TypeError("pushes() is already being read by another loop");
    const state: PushLoop<T> = { buffer: [], waiting: [] };
    this.#pushes = state;
    const iterator: AsyncIterableIterator<T> = {
      next: async (): Promise<IteratorResult<T>> => {
        while (state.buffer.length === 0 && this.#pushes === state && !this.#ended) {
          await new Promise<void>((resolve) => state.waiting.push(resolve));
        }
        if (state.buffer.length > 0) return { value: state.buffer.shift()!, done: false };
        return { value: undefined, done: true };
      },
      return: (): Promise<IteratorResult<T>> => {
        if (this.#pushes === state) this.#pushes = undefined;
        state.buffer.length = 0;
        wakeAll(state);
        return Promise.resolve({ value: undefined, done: true });
      },
      [Symbol.asyncIterator]: () => iterator,
    };
    return iterator;
  }

  /**
   * Rejects every request not yet settled with `ERR_SOCKET_CLOSED`, then
   * closes the channel. Resolves once the channel is closed; never rejects.
   */
  async close(): Promise<void> {
    this.#end(new NetError("ERR_SOCKET_CLOSED", "the requester was closed"));
    await this.#channel.close().catch(noop);
    await this.#reading;
  }

  /** `await using redis = requester(...)` closes it at the end of the scope. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  // ---- sending ----

  #send(request: Request<T>): void {
    request.onWire = true;
    request.handed = false;
    this.#inFlight.add(request);
    let sent: Promise<void>;
    try {
      sent = this.#channel.send(request.frame);
    } catch (error) {
      sent = Promise.reject(error);
    }
    sent.then(
      () => {
        request.handed = true;
      },
      (error: unknown) => this.#sendFailed(request, error),
    );
  }

  /** Sends what waits, resends first, while there are slots and a connection. */
  #pump(): void {
    while (this.#up && this.#inFlight.slots < this.#maxInFlight) {
      const resend = this.#resendQueue.shift();
      if (resend) {
        this.#counters.resent++;
        this.#send(resend);
        continue;
      }
      const next = this.#nextQueued();
      if (!next) return;
      this.#send(next);
    }
  }

  #nextQueued(): Request<T> | undefined {
    const queue = this.#queue;
    while (this.#queueHead < queue.length) {
      const request = queue[this.#queueHead]!;
      queue[this.#queueHead++] = undefined!;
      if (request.settled) continue;
      this.#queued--;
      if (this.#queueHead === queue.length) {
        queue.length = 0;
        this.#queueHead = 0;
      }
      return request;
    }
    queue.length = 0;
    this.#queueHead = 0;
    return undefined;
  }

  /** The frame never reached the wire. */
  #sendFailed(request: Request<T>, error: unknown): void {
    if (!request.onWire) return;
    request.onWire = false;
    this.#inFlight.remove(request);
    const netError = toNetError(error);
    if (this.#reconnecting || netError instanceof FramingError) {
      // The client refused it (queue full, deadline, closed) or the codec could not encode it: nothing of it was sent.
      this.#counters.failed++;
      request.reject(netError);
    } else {
      // A single connection failed: everything in flight on it is lost.
      this.#end(lost(netError, "the connection failed"));
    }
    this.#pump();
  }

  // ---- receiving ----

  async #read(): Promise<void> {
    let failure: NetError | undefined;
    try {
      for await (const frame of this.#channel) {
        this.#received(frame);
        if (this.#ended) break;
      }
    } catch (error) {
      failure = toNetError(error);
    }
    // A reconnecting client ends its iteration only when it closes, which its close event reports.
    if (!this.#reconnecting || failure) {
      this.#end(lost(failure ?? new NetError("ERR_SOCKET_CLOSED", "the server closed the connection"), "the connection ended"));
    }
  }

  #received(frame: T): void {
    if (this.#ended) return;
    if (this.#isPush && this.#calls(this.#isPush, frame)) {
      this.#counters.pushes++;
      const pushes = this.#pushes;
      if (pushes) {
        if (pushes.buffer.length >= this.#maxQueuedPushes) {
          pushes.buffer.shift();
          this.#counters.droppedPushes++;
        }
        pushes.buffer.push(frame);
        wakeAll(pushes);
      }
      emitEvent<RequesterEvents<T>, "push">(this, "push", { frame });
      return;
    }
    let match: ReplyMatch<T>;
    try {
      match = this.#inFlight.match(frame);
    } catch {
      // replyId threw: the frame cannot be paired with anything.
      match = NO_MATCH;
    }
    if (match.kind === "request") {
      match.request.onWire = false;
      this.#counters.completed++;
      match.request.resolve(frame);
    } else if (match.kind === "late") {
      this.#counters.lateReplies++;
    } else {
      this.#counters.unmatched++;
      emitEvent<RequesterEvents<T>, "unmatched">(this, "unmatched", { frame });
    }
    // Refilling one slot per reply would cost one write per request: replies are handled one microtask apart.
    if (this.#inFlight.slots <= this.#refillAt) this.#pump();
    else if (this.#refillTimer === undefined && this.#up && (this.#queued > 0 || this.#resendQueue.length > 0)) {
      this.#refillTimer = setTimeout(() => {
        this.#refillTimer = undefined;
        this.#pump();
      }, 0);
    }
  }

  /** A user predicate that throws counts as false: one bad frame must not stop the requester. */
  #calls(predicate: (frame: T) => boolean, frame: T): boolean {
    try {
      return predicate(frame) === true;
    } catch {
      return false;
    }
  }

  // ---- settling ----

  /** Marks `request` settled and releases its timer, signal listener and id; false if it already was. */
  #settle(request: Request<T>): boolean {
    if (request.settled) return false;
    request.settled = true;
    if (request.timing) this.#deadlines.settled(request);
    if (request.onAbort) request.signal!.removeEventListener("abort", request.onAbort);
    if (this.#requestId) this.#ids.delete(request.id);
    return true;
  }

  /** Settles `request` early (timeout, abort), wherever it is. */
  #drop(request: Request<T>, error: NetError): void {
    if (request.settled) return;
    const wasOnWire = request.onWire;
    if (!wasOnWire) {
      const at = this.#resendQueue.indexOf(request);
      if (at >= 0) this.#resendQueue.splice(at, 1);
      else this.#queued--;
    }
    request.reject(error);
    if (wasOnWire) this.#inFlight.settledEarly(request);
    else this.#sweepQueue();
    this.#pump();
  }

  /** Settled requests are skipped lazily; this keeps them from piling up while nothing is sent. */
  #sweepQueue(): void {
    const length = this.#queue.length - this.#queueHead;
    if (length > 64 && length > 2 * this.#queued) {
      this.#queue = this.#queue.slice(this.#queueHead).filter((request) => !request.settled);
      this.#queueHead = 0;
    }
  }

  // ---- reconnects ----

  /**
   * The reconnecting client lost its connection (or failed an attempt, when
   * already down). Replies already received may still be on their way through
   * the client's inbox, so the requests in flight are sorted out one timer
   * tick later, or at the next open, whichever comes first.
   */
  #noticeDrop(error: NetError): void {
    // An error while the client is still open is a frame cut short by the disconnect; the connection's own error follows.
    if (!this.#up || this.#ended || this.#reconnecting!.state === "open") return;
    this.#up = false;
    this.#dropCause = error;
    this.#dropTimer = setTimeout(() => this.#sortOutDrop(), 0);
  }

  #sortOutDrop(): void {
    if (this.#dropTimer === undefined) return;
    clearTimeout(this.#dropTimer);
    this.#dropTimer = undefined;
    const cause = this.#dropCause!;
    this.#dropCause = undefined;
    const resend: Request<T>[] = [];
    for (const request of this.#inFlight.takeAll() as Request<T>[]) {
      if (!request.handed) {
        // Still in the client's own queue: it goes out first on the next connection, once, and its
        // reply takes a slot there, even if the request already settled.
        this.#inFlight.add(request);
        continue;
      }
      if (request.settled) continue;
      request.onWire = false;
      if (this.#shouldResend(request)) resend.push(request);
      else {
        this.#counters.failed++;
        request.reject(lost(cause, "the connection was lost with the request in flight; it may or may not have been applied"));
      }
    }
    if (resend.length > 0) {
      this.#resendQueue = [...this.#resendQueue, ...resend].sort((a, b) => a.seq - b.seq);
    }
  }

  #shouldResend(request: Request<T>): boolean {
    return this.#resend !== false && this.#calls(this.#resend, request.frame);
  }

  #connected(): void {
    if (this.#ended) return;
    this.#sortOutDrop();
    this.#up = true;
    this.#pump();
  }

  /** No request can be sent any more: rejects everything not settled with `error`. */
  #end(error: NetError): void {
    if (this.#ended) return;
    this.#ended = error;
    this.#up = false;
    if (this.#dropTimer !== undefined) clearTimeout(this.#dropTimer);
    this.#dropTimer = undefined;
    if (this.#refillTimer !== undefined) clearTimeout(this.#refillTimer);
    this.#refillTimer = undefined;
    for (const unsubscribe of this.#unsubscribe) unsubscribe();
    const pending: Request<T>[] = [...this.#resendQueue, ...(this.#inFlight.takeAll() as Request<T>[])];
    this.#resendQueue = [];
    for (let i = this.#queueHead; i < this.#queue.length; i++) pending.push(this.#queue[i]!);
    this.#queue = [];
    this.#queueHead = 0;
    this.#queued = 0;
    for (const request of pending) {
      if (request.settled) continue;
      request.onWire = false;
      this.#counters.failed++;
      request.reject(error);
    }
    this.#deadlines.clear();
    if (this.#pushes) wakeAll(this.#pushes);
  }
}

/**
 * Puts request/reply matching on `channel`: a `framed()` channel, or a
 * reconnecting client with a codec. The requester reads the channel from now
 * on; frames that answer no request go to the `unmatched` event, and frames
 * `isPush` picks go to `pushes()`.
 *
 * @example
 * ```ts
 * import { reconnecting, requester, resp } from "wireline";
 * const redis = requester(reconnecting("127.0.0.1:6379", { codec: resp() }), { match: "fifo", resend: true, timeout: 2_000 });
 * console.log(await redis.request(["PING"])); // "PONG"
 * ```
 */
export function requester<T>(channel: RequestChannel<T>, options?: RequesterOptions<T>): Requester<T> {
  return new Requester(channel, options);
}

function lost(cause: NetError, what: string): NetError {
  if (cause.code === "ERR_CONNECTION_LOST") return cause;
  return new NetError("ERR_CONNECTION_LOST", `${what} (${cause.code}: ${cause.message})`, { cause, address: cause.address });
}

function abortError(signal: AbortSignal): NetError {
  return new NetError("ABORT_ERR", "the request was aborted", { cause: signal.reason });
}

function positiveCount(name: string, value: unknown, fallback: number, min = 1): number {
  if (value === undefined) return fallback;
  if (value === Infinity) return Infinity;
  if (typeof value !== "number" || !Number.isSafeInteger(value) || value < min) throw invalidOption(name, value, `an integer ≥ ${min}, or Infinity`);
  return value;
}

function timeoutOption(name: string, value: unknown): number | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== "number" || Number.isNaN(value) || value <= 0) throw invalidOption(name, value, "a positive number of milliseconds, or Infinity");
  return value;
}
