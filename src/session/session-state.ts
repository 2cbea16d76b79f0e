/**
 * One side of a session, the same on client and server: sequence numbers,
 * the window, the replay buffer, cumulative coalesced acknowledgements, and
 * the inbox the application reads. It knows nothing of sockets: a connection
 * is attached as a {@link SessionSink} and its messages are fed in, so the
 * whole protocol runs deterministically in tests.
 *
 * @module
 */

import type { Clock, TimerHandle } from "../clock.ts";
import { NetError } from "../errors.ts";
import { encodeAck, encodeClose, encodeDataHeader, MessageType, type SessionMessage, type WindowSize } from "./envelope.ts";
import { ReplayBuffer, type Unacked } from "./replay-buffer.ts";

const noop = (): void => {};
const DONE: IteratorResult<never> = Object.freeze({ value: undefined, done: true });

/**
 * Where a session writes: the connection it is attached to.
 *
 * @example
 * ```ts
 * import type { SessionSink } from "./session-state.ts";
 * const sink: SessionSink = { write: (bytes) => void conn.write(bytes).catch(() => {}) };
 * ```
 */
export interface SessionSink {
  write(bytes: Uint8Array): void;
  /** Writes one DATA message: a header for `seq`, `ack` and `bytes`, then `parts`. Without it, `write` takes the header and each part. */
  writeData?(seq: number, ack: number, parts: Uint8Array | readonly Uint8Array[], bytes: number): void;
  /** Writes at once what the sink may have batched: before the connection closes. */
  flush?(): void;
}

/** The resolving functions of the promise last made with {@link capture}: one executor for every send, no closure per send. */
const captured: { resolve: (() => void) | undefined; reject: ((error: unknown) => void) | undefined } = { resolve: undefined, reject: undefined };
function capture(resolve: () => void, reject: (error: unknown) => void): void {
  captured.resolve = resolve;
  captured.reject = reject;
}


/**
 * What {@link SessionState.lose} and {@link SessionState.end} rejected.
 *
 * @example
 * ```ts
 * import type { Unconfirmed } from "./session-state.ts";
 * const report: Unconfirmed = { count: 2, bytes: 10, firstSeq: 7, lastSeq: 8 };
 * ```
 */
export interface Unconfirmed {
  /** Sends rejected: those sent and never acknowledged, and those still waiting for the window. */
  readonly count: number;
  readonly bytes: number;
  /** Sequence numbers of the sent-but-unacknowledged ones (undefined when none was sent). */
  readonly firstSeq: number | undefined;
  readonly lastSeq: number | undefined;
}

/**
 * The protocol state of one session side.
 *
 * @example
 * ```ts
 * import { SessionState } from "./session-state.ts";
 * import { realClock } from "../clock.ts";
 * const state = new SessionState({ frames: 1024, bytes: 1 << 20 }, realClock);
 * state.attach({ write: (b) => conn.write(b) }, 0, { frames: 1024, bytes: 1 << 20 });
 * await state.send(new TextEncoder().encode("hi")); // resolves when the peer's session holds it
 * ```
 */
export class SessionState {
  /** This side's window: what it sends unacknowledged at most, and what it holds unread at most. */
  readonly window: WindowSize;
  readonly #clock: Clock;
  readonly #buffer = new ReplayBuffer();
  #peerWindow: WindowSize;
  /** The smaller of this side's and the peer's window, kept rather than computed per send. */
  #sendWindow: WindowSize;
  #waiting: Unacked[] = [];
  #waitingBytes = 0;
  #sink: SessionSink | undefined;
  #nextSeq = 1;

  #inbox: Uint8Array[] = [];
  #inboxHead = 0;
  #inboxBytes = 0;
  #lastReceived = 0;
  /** The highest frame this side acknowledges: received, with room in the inbox. */
  #ackable = 0;
  /** Bytes received since the last acknowledgement went out. */
  #unackedBytes = 0;
  #ackedOut = 0;
  #ackTimer: TimerHandle | undefined;
  #consumer: { resolve: (r: IteratorResult<Uint8Array>) => void; reject: (e: unknown) => void } | undefined;
  /** The peer sent CLOSE (done once the inbox is read), or the session ended (with an error, or none). */
  #inboundEnd: { error: NetError | undefined } | undefined;
  #ended: NetError | undefined;
  #drainWaiters: (() => void)[] = [];

  constructor(window: WindowSize, clock: Clock) {
    this.window = window;
    this.#peerWindow = window;
    this.#sendWindow = window;
    this.#clock = clock;
  }

  /** The last sequence number received from the peer in this session (0: none). */
  get lastReceived(): number {
    return this.#lastReceived;
  }

  /** Frames sent (or queued for the window) and not yet acknowledged. */
  get unacknowledged(): number {
    return this.#buffer.frames + this.#waiting.length;
  }

  /** Bytes held: the replay buffer, sends waiting for the window, and unread received frames. */
  get heldBytes(): number {
    return this.#buffer.bytes + this.#waitingBytes + this.#inboxBytes;
  }

  /** Received frames the application has not read. */
  get unread(): number {
    return this.#inbox.length - this.#inboxHead;
  }

  get attached(): boolean {
    return this.#sink !== undefined;
  }

  /** The window in force: the smaller of this side's and the peer's. */
  get sendWindow(): WindowSize {
    return this.#sendWindow;
  }

  #setPeerWindow(peer: WindowSize): void {
    this.#peerWindow = peer;
    this.#sendWindow = { frames: Math.min(this.window.frames, peer.frames), bytes: Math.min(this.window.bytes, peer.bytes) };
  }

  /**
   * Sends one frame's bytes. Resolves once the peer's session holds it for
   * its application (the peer acknowledged it); waits while the window is
   * full. Rejects with `ERR_FRAME_TOO_LARGE` for a payload larger than the
   * window, `ERR_QUEUE_FULL` when a window's worth of sends already waits,
   * `ERR_SESSION_LOST` if the session is lost first, or the error it ended with.
   */
  send(payload: Uint8Array): Promise<void> {
    return this.sendParts(payload, payload.length);
  }

  /**
   * {@link SessionState.send} for a frame in `parts` (of `bytes` in all),
   * which go out one after another; none may change until the send settles.
   */
  sendParts(parts: Uint8Array | readonly Uint8Array[], bytes: number): Promise<void> {
    if (this.#ended) return rejectedWith(this.#ended);
    const window = this.#sendWindow;
    if (bytes > window.bytes) {
      return rejectedWith(new NetError("ERR_FRAME_TOO_LARGE", `a frame of ${bytes} bytes does not fit the session window (${window.bytes} bytes)`));
    }
    const direct = this.#waiting.length === 0 && this.#fits(bytes);
    if (!direct && (this.#waiting.length >= this.window.frames || this.#waitingBytes + bytes > this.window.bytes)) {
      return rejectedWith(
        new NetError("ERR_QUEUE_FULL", `the session window is full and ${this.#waiting.length} sends (${this.#waitingBytes} bytes) already wait for it; await send() before sending more`),
      );
    }
    const promise = new Promise<void>(capture);
    const send: Unacked = { seq: 0, parts, bytes, promise, resolve: captured.resolve!, reject: captured.reject! };
    if (direct) {
      this.#transmit(send);
      return promise;
    }
    this.#waiting.push(send);
    this.#waitingBytes += bytes;
    return promise;
  }

  /**
   * Starts using `sink`: resends every frame after `peerLastReceived` (the
   * peer has the rest), and acknowledges what the application already read.
   * Throws `ERR_SESSION_PROTOCOL` if the peer claims a frame never sent.
   */
  attach(sink: SessionSink, peerLastReceived: number, peerWindow: WindowSize): void {
    if (peerLastReceived >= this.#nextSeq) {
      throw new NetError("ERR_SESSION_PROTOCOL", `the peer says it received frame ${peerLastReceived}, but the last frame sent was ${this.#nextSeq - 1}`);
    }
    this.#sink = sink;
    this.#setPeerWindow(peerWindow);
    this.#ackedOut = 0;
    for (const item of this.#buffer.after(peerLastReceived)) this.#writeData(sink, item);
    if (this.#ackable > 0) this.#flushAck();
    this.#pump();
  }

  /** The connection is gone: frames wait in the buffer for the next one. */
  detach(): void {
    this.#sink = undefined;
    this.#cancelAckTimer();
  }

  /**
   * Handles a DATA, ACK or CLOSE message from the peer. A DATA payload is
   * kept as it is: the caller passes memory nobody else reuses. Throws
   * `ERR_SESSION_PROTOCOL` on a violation.
   */
  receive(message: SessionMessage): void {
    switch (message.type) {
      case MessageType.Data:
        this.receiveData(message.seq, message.ack, message.payload);
        return;
      case MessageType.Ack:
        this.#acknowledged(message.ack);
        return;
      case MessageType.Close:
        this.#endInbound(undefined);
        return;
      default:
        throw new NetError("ERR_SESSION_PROTOCOL", `a handshake message (type ${message.type}) inside a session`);
    }
  }

  /** Handles a DATA message (see {@link SessionState.receive}), without a message object: this runs once per frame. */
  receiveData(seq: number, ack: number, payload: Uint8Array): void {
    this.#acknowledged(ack);
    if (seq <= this.#lastReceived) return; // a replayed frame we already hold
    if (seq !== this.#lastReceived + 1) {
      throw new NetError("ERR_SESSION_PROTOCOL", `frame ${seq} arrived after frame ${this.#lastReceived}: frames are missing`);
    }
    // At most a window acknowledged and unread, plus a window in flight.
    if (this.unread >= 2 * this.window.frames || this.#inboxBytes + payload.length > 2 * this.window.bytes) {
      throw new NetError("ERR_SESSION_PROTOCOL", `the peer sent beyond the window (${this.window.frames} frames, ${this.window.bytes} bytes)`);
    }
    this.#lastReceived = seq;
    if (!this.#inboundEnd) this.#deliver(payload);
    this.#offerAck(payload.length);
  }

  /** The next received frame if one is unread, without waiting; taking it makes room, as {@link SessionState.next} does. */
  poll(): Uint8Array | undefined {
    return this.#take();
  }

  /** The next frame the peer sent; one reader at a time. Taking it makes room, so a held-back acknowledgement can go. */
  next(): Promise<IteratorResult<Uint8Array>> {
    const item = this.#take();
    if (item) return Promise.resolve({ value: item, done: false });
    if (this.#inboundEnd) return this.#inboundEnd.error ? Promise.reject(this.#inboundEnd.error) : Promise.resolve(DONE);
    if (this.#consumer) return Promise.reject(new TypeError("the session is already being read by another loop"));
    return new Promise((resolve, reject) => (this.#consumer = { resolve, reject }));
  }

  /** Resolves once every frame sent so far was acknowledged (at once if none waits), or the session ended. */
  drained(): Promise<void> {
    if (this.unacknowledged === 0 || this.#ended) return Promise.resolve();
    return new Promise((resolve) => this.#drainWaiters.push(resolve));
  }

  /** Tells the peer, over the attached connection, that this side ends the session, acknowledging first all it received. */
  sendClose(): void {
    this.#ackable = this.#lastReceived;
    this.#flushAck();
    this.#sink?.write(encodeClose(this.#nextSeq - 1));
    this.#sink?.flush?.();
  }

  /**
   * The peer no longer holds the session: rejects every unacknowledged and
   * waiting send with `error(unconfirmed)`, and starts afresh at sequence 1.
   * Frames received and not read yet stay readable.
   */
  lose(error: (unconfirmed: Unconfirmed) => NetError): Unconfirmed {
    const report = this.#rejectAll(error);
    this.#nextSeq = 1;
    this.#lastReceived = 0;
    this.#ackable = 0;
    this.#unackedBytes = 0;
    this.#ackedOut = 0;
    this.#setPeerWindow(this.window);
    return report;
  }

  /**
   * The session is over: rejects every pending send with `error`, and ends
   * the inbox: with `inboundError` after the unread frames, or done.
   */
  end(error: NetError, inboundError?: NetError): Unconfirmed {
    if (!this.#ended) this.#ended = error;
    this.detach();
    this.#endInbound(inboundError);
    return this.#rejectAll(() => error);
  }

  #rejectAll(error: (unconfirmed: Unconfirmed) => NetError): Unconfirmed {
    const sent = this.#buffer.takeAll();
    const waiting = this.#waiting;
    this.#waiting = [];
    const bytes = sent.reduce((n, item) => n + item.bytes, 0) + this.#waitingBytes;
    this.#waitingBytes = 0;
    const report: Unconfirmed = { count: sent.length + waiting.length, bytes, firstSeq: sent[0]?.seq, lastSeq: sent[sent.length - 1]?.seq };
    if (report.count > 0) {
      const reason = error(report);
      for (const item of sent) rejectSend(item, reason);
      for (const item of waiting) rejectSend(item, reason);
    }
    this.#wakeDrained();
    return report;
  }

  #endInbound(error: NetError | undefined): void {
    if (this.#inboundEnd) return;
    this.#inboundEnd = { error };
    if (this.unread > 0) return;
    const consumer = this.#consumer;
    this.#consumer = undefined;
    if (consumer && error) consumer.reject(error);
    else consumer?.resolve(DONE);
  }

  #fits(bytes: number): boolean {
    const window = this.#sendWindow;
    return this.#buffer.frames < window.frames && (this.#buffer.frames === 0 || this.#buffer.bytes + bytes <= window.bytes);
  }

  #transmit(item: Unacked): void {
    item.seq = this.#nextSeq++;
    this.#buffer.push(item);
    if (this.#sink) this.#writeData(this.#sink, item);
  }

  /** Moves sends waiting for the window into it, in order. */
  #pump(): void {
    while (this.#waiting.length > 0 && this.#fits(this.#waiting[0]!.bytes)) {
      const send = this.#waiting.shift()!;
      this.#waitingBytes -= send.bytes;
      this.#transmit(send);
    }
  }

  #writeData(sink: SessionSink, item: Unacked): void {
    // The cumulative ack rides on every data frame, so a busy link needs no ACK messages.
    const ack = this.#ackable;
    this.#ackedOut = ack;
    this.#unackedBytes = 0;
    this.#cancelAckTimer();
    if (sink.writeData !== undefined) return sink.writeData(item.seq, ack, item.parts, item.bytes);
    sink.write(encodeDataHeader(item.seq, ack, item.bytes));
    const parts = item.parts;
    if (parts instanceof Uint8Array) sink.write(parts);
    else for (const part of parts) if (part.length > 0) sink.write(part);
  }

  #acknowledged(ack: number): void {
    if (ack >= this.#nextSeq) throw new NetError("ERR_SESSION_PROTOCOL", `the peer acknowledged frame ${ack}, but the last frame sent was ${this.#nextSeq - 1}`);
    if (this.#buffer.acknowledge(ack) === 0) return;
    this.#pump();
    if (this.unacknowledged === 0) this.#wakeDrained();
  }

  #wakeDrained(): void {
    const waiters = this.#drainWaiters;
    this.#drainWaiters = [];
    for (const wake of waiters) wake();
  }

  #deliver(payload: Uint8Array): void {
    const consumer = this.#consumer;
    if (consumer && this.unread === 0) {
      this.#consumer = undefined;
      consumer.resolve({ value: payload, done: false });
      return;
    }
    this.#inbox.push(payload);
    this.#inboxBytes += payload.length;
  }

  #take(): Uint8Array | undefined {
    if (this.#inboxHead === this.#inbox.length) return undefined;
    const payload = this.#inbox[this.#inboxHead]!;
    (this.#inbox as (Uint8Array | undefined)[])[this.#inboxHead] = undefined;
    this.#inboxHead++;
    this.#inboxBytes -= payload.length;
    if (this.#inboxHead === this.#inbox.length) {
      this.#inbox = [];
      this.#inboxHead = 0;
    } else if (this.#inboxHead > 1024 && this.#inboxHead * 2 > this.#inbox.length) {
      this.#inbox = this.#inbox.slice(this.#inboxHead);
      this.#inboxHead = 0;
    }
    this.#offerAck(0);
    if (this.unread === 0 && this.#inboundEnd) this.#endInbound(this.#inboundEnd.error);
    return payload;
  }

  /**
   * Acknowledges what was received while the inbox has room (a window's
   * worth unread): at once when a quarter of the window is due, else within
   * the tick, so a stream of frames costs few ACKs. A full inbox holds the
   * acknowledgements back, and the peer's window stops it.
   */
  #offerAck(receivedBytes: number): void {
    this.#unackedBytes += receivedBytes;
    if (this.unread > this.window.frames || this.#inboxBytes > this.window.bytes) return;
    if (this.#lastReceived <= this.#ackable) return;
    this.#ackable = this.#lastReceived;
    if (!this.#sink) return;
    const due = this.#ackable - this.#ackedOut >= Math.max(1, this.window.frames >> 2) || this.#unackedBytes >= this.window.bytes >> 2;
    if (due) this.#flushAck();
    else this.#ackTimer ??= this.#clock.setTimeout(() => {
      this.#ackTimer = undefined;
      this.#flushAck();
    }, 0);
  }

  #flushAck(): void {
    this.#cancelAckTimer();
    if (!this.#sink || this.#ackable <= this.#ackedOut) return;
    this.#ackedOut = this.#ackable;
    this.#unackedBytes = 0;
    this.#sink.write(encodeAck(this.#ackable));
  }

  #cancelAckTimer(): void {
    if (this.#ackTimer === undefined) return;
    this.#clock.clearTimeout(this.#ackTimer);
    this.#ackTimer = undefined;
  }
}

/** Marked handled only when it rejects: a handler on every send would cost a microtask per acknowledgement. */
function rejectSend(send: Unacked | Unacked, reason: NetError): void {
  send.promise.catch(noop);
  send.reject(reason);
}

function rejectedWith(error: unknown): Promise<never> {
  const promise = Promise.reject(error);
  promise.catch(noop);
  return promise;
}
