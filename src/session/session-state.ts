/**
 * One side of a session, the same on client and server: sequence numbers,
 * the window, the replay buffer, cumulative coalesced acknowledgements, and
 * the inbox the application reads. Frames are encoded with the
 * application's codec straight into the current batch (one DATA message per
 * tick), and a received batch is decoded in one pass into the inbox. It knows nothing of sockets: a connection
 * is attached as a {@link SessionSink} and its messages are fed in, so the
 * whole protocol runs deterministically in tests.
 *
 * @module
 */

import type { Codec, FrameDecoder } from "../framing/codec.ts";
import { NetError, toNetError } from "../errors.ts";
import { lengthPrefixed } from "../framing/length-prefixed.ts";
import { encodeFrame } from "../framing/write-coalescer.ts";
import { DATA_HEADER_BYTES, encodeAck, encodeClose, encodeDataHeader, MessageType, putDataHeader, type SessionMessage, type WindowSize } from "./envelope.ts";
import { ReplayBuffer } from "./replay-buffer.ts";

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
  /** Writes `message`, a whole DATA message the sink may hold until written but must not change. Without it, `write` takes it. */
  writeMessage?(message: Uint8Array): void;
  /** Writes at once what the sink may have batched: before the connection closes. */
  flush?(): void;
}

/** The codec of a session without one (raw byte messages): a 4-byte big-endian length, then the bytes. */
const RAW_MESSAGES: Codec<Uint8Array> = lengthPrefixed({ maxFrameLength: 0xffffffff });
/** The frames of one batch grow it (×4) up to this size; a full one goes out at once. */
const MAX_BATCH_BYTES = 64 * 1024;
const MIN_BATCH_BYTES = 1024;
/** Microtasks an acknowledgement under a quarter window waits for a reply to carry it: enough for a `for await` loop that reads a frame and sends. */
const MAX_ACK_WAITS = 2;

/** A send waiting for the window: its frame, already encoded. */
interface Waiting {
  readonly bytes: Uint8Array;
  readonly promise: Promise<void>;
  readonly resolve: () => void;
  readonly reject: (error: unknown) => void;
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
 * const state = new SessionState({ frames: 1024, bytes: 1 << 20 });
 * state.attach({ write: (b) => conn.write(b) }, 0, { frames: 1024, bytes: 1 << 20 });
 * await state.send(new TextEncoder().encode("hi")); // resolves when the peer's session holds it
 * ```
 */
export class SessionState<T = Uint8Array> {
  /** This side's window: what it sends unacknowledged at most, and what it holds unread at most. */
  readonly window: WindowSize;
  readonly #codec: Codec<T>;
  /** Whether frames are the application's own (a codec) rather than raw messages the session frames itself. */
  readonly #raw: boolean;
  #decoder: FrameDecoder<T>;
  readonly #buffer = new ReplayBuffer();
  /** The smaller of this side's and the peer's window, kept rather than computed per send. */
  #sendWindow: WindowSize;
  #waiting: Waiting[] = [];
  #waitingHead = 0;
  #waitingBytes = 0;
  #sink: SessionSink | undefined;
  #nextSeq = 1;

  /** The batch being filled: a DATA header slot, then frames from `#batchFirst` on; written at the end of the tick. */
  #batch: Uint8Array | undefined;
  #batchUsed = DATA_HEADER_BYTES;
  #batchFirst = 1;
  #batchSize = MIN_BATCH_BYTES;
  #closeQueued = false;
  /** The next sequence number when the queued close was last checked: frames committed since then keep the batch open one more microtask. */
  #closeCheckedAt = 0;
  /** The promise the sends of the current batch share (with its first frame's sequence number), when a connection carries the session. */
  #group: Promise<void> | undefined;
  #groupResolve: (() => void) | undefined;
  #groupReject: ((error: unknown) => void) | undefined;
  #groupFirst = 0;
  readonly #closeBatch = (): void => {
    // A sender that awaits between bursts (an already settled promise) adds frames in the next microtask: they join this batch,
    // so one turn's bursts cost one DATA message and one write, not one each. The batch goes once a microtask adds nothing (or it is full).
    if (this.#nextSeq !== this.#closeCheckedAt && this.#batch !== undefined) {
      this.#closeCheckedAt = this.#nextSeq;
      queueMicrotask(this.#closeBatch);
      return;
    }
    this.#closeQueued = false;
    this.#endBatch();
  };

  #inbox: T[] = [];
  #inboxHead = 0;
  #inboxBytes = 0;
  /** Per received batch: the inbox position (counted since the session began) after its last frame, and its bytes; unread bytes are counted by batch. */
  #batchEnds: number[] = [];
  #batchEndsHead = 0;
  #taken = 0;
  #delivered = 0;
  /** Frames of the batch being decoded still to skip (replayed duplicates), and frames it gave. */
  #skip = 0;
  #decodedCount = 0;
  #dropDecoded = false;
  /** Takes each decoded frame of a batch that has no duplicate and is wanted. */
  readonly #push = (frame: T): void => void this.#inbox.push(frame);
  /** Takes each decoded frame of any other batch. */
  readonly #emit = (frame: T): void => {
    this.#decodedCount++;
    if (this.#skip > 0) {
      this.#skip--;
      return;
    }
    if (!this.#dropDecoded) this.#inbox.push(frame);
  };
  #lastReceived = 0;
  /** The highest frame this side acknowledges: received, with room in the inbox. */
  #ackable = 0;
  /** Bytes received since the last acknowledgement went out. */
  #unackedBytes = 0;
  #ackedOut = 0;
  /** An acknowledgement is to be decided at the end of this job. */
  #ackQueued = false;
  /** Microtasks the queued acknowledgement has waited for a reply to carry it. */
  #ackWaits = 0;
  #consumer: { resolve: (r: IteratorResult<T>) => void; reject: (e: unknown) => void } | undefined;
  /** The peer sent CLOSE (done once the inbox is read), or the session ended (with an error, or none). */
  #inboundEnd: { error: NetError | undefined } | undefined;
  #ended: NetError | undefined;
  #drainWaiters: (() => void)[] = [];

  /** `codec` frames the application's values; without one, frames are raw byte messages. */
  constructor(window: WindowSize, codec?: Codec<T>) {
    this.window = window;
    this.#sendWindow = window;
    this.#raw = codec === undefined;
    this.#codec = codec ?? (RAW_MESSAGES as unknown as Codec<T>);
    this.#decoder = this.#codec.createDecoder();
  }

  /** The last sequence number received from the peer in this session (0: none). */
  get lastReceived(): number {
    return this.#lastReceived;
  }

  /** Frames sent (or queued for the window) and not yet acknowledged. */
  get unacknowledged(): number {
    return this.#buffer.frames + this.#waiting.length - this.#waitingHead;
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
    this.#sendWindow = { frames: Math.min(this.window.frames, peer.frames), bytes: Math.min(this.window.bytes, peer.bytes) };
  }

  /**
   * Sends one frame. Resolves once the peer's session holds it for its
   * application (the peer acknowledged it); waits while the window is
   * full. Rejects with the codec's error, `ERR_FRAME_TOO_LARGE` for a frame
   * larger than the window, `ERR_QUEUE_FULL` when a window's worth of sends
   * already waits, `ERR_SESSION_LOST` if the session is lost first, or the
   * error it ended with. The frame is encoded at once: the caller may reuse it.
   */
  send(frame: T): Promise<void> {
    if (this.#ended) return rejectedWith(this.#ended);
    let bytes: number;
    try {
      bytes = this.#encode(frame);
    } catch (error) {
      return rejectedWith(error);
    }
    return this.#commit(bytes);
  }

  /**
   * {@link SessionState.send} for bytes that already are one encoded frame
   * (with a codec), or one raw message (without).
   */
  sendEncoded(encoded: Uint8Array): Promise<void> {
    if (this.#raw) return this.send(encoded as unknown as T);
    if (this.#ended) return rejectedWith(this.#ended);
    const at = this.#room(encoded.length);
    this.#batch!.set(encoded, at);
    return this.#commit(encoded.length);
  }

  /** Encodes `frame` at the end of the batch, uncommitted; returns its bytes. */
  #encode(frame: T): number {
    const codec = this.#codec;
    if (codec.encodeInto !== undefined) {
      let batch = this.#batch;
      let written = batch === undefined ? -1 : codec.encodeInto(frame, batch, this.#batchUsed);
      if (written >= 0) return written;
      // Too small: a larger batch (or, full, the next one) takes it, unless even the largest cannot.
      for (let attempt = 0; attempt < 8; attempt++) {
        this.#room(this.#batch === undefined ? 0 : this.#batch.length - this.#batchUsed + 1);
        batch = this.#batch!;
        written = codec.encodeInto(frame, batch, this.#batchUsed);
        if (written >= 0) return written;
        if (batch.length >= MAX_BATCH_BYTES && this.#batchUsed === DATA_HEADER_BYTES) break;
      }
    }
    const parts = encodeFrame(codec, frame);
    let bytes = 0;
    for (let i = 0; i < parts.length; i++) bytes += parts[i]!.length;
    let at = this.#room(bytes);
    const batch = this.#batch!;
    for (let i = 0; i < parts.length; i++) {
      batch.set(parts[i]!, at);
      at += parts[i]!.length;
    }
    return bytes;
  }

  /** The frame of `bytes` just encoded at the end of the batch is sent, or waits for the window. */
  #commit(bytes: number): Promise<void> {
    const window = this.#sendWindow;
    if (bytes > window.bytes) {
      return rejectedWith(new NetError("ERR_FRAME_TOO_LARGE", `a frame of ${bytes} bytes does not fit the session window (${window.bytes} bytes)`));
    }
    const waiting = this.#waiting.length - this.#waitingHead;
    const direct = waiting === 0 && this.#fits(bytes);
    if (!direct && (waiting >= this.window.frames || this.#waitingBytes + bytes > this.window.bytes)) {
      return rejectedWith(
        new NetError("ERR_QUEUE_FULL", `the session window is full and ${waiting} sends (${this.#waitingBytes} bytes) already wait for it; await send() before sending more`),
      );
    }
    if (direct) {
      let promise: Promise<void>;
      if (this.#sink === undefined) {
        // Sent while no connection carries the session: a batch made now may be cut to the peer's window on resume, so its frames keep a promise each.
        promise = new Promise<void>(capture);
        this.#buffer.add(this.#nextSeq++, bytes, promise, captured.resolve!, captured.reject!);
      } else {
        // The frames of one batch share one promise, settled when the batch's last frame is acknowledged: a peer acknowledges
        // whole DATA messages, and this batch goes out as one, now and on any resume (it fits the window in force).
        if (this.#groupFirst !== this.#batchFirst || this.#group === undefined) {
          this.#group = new Promise<void>(capture);
          this.#groupResolve = captured.resolve!;
          this.#groupReject = captured.reject!;
          this.#groupFirst = this.#batchFirst;
        }
        promise = this.#group;
        this.#buffer.add(this.#nextSeq++, bytes, promise, this.#groupResolve!, this.#groupReject!);
      }
      this.#batchUsed += bytes;
      if (!this.#closeQueued) this.#queueClose();
      return promise;
    }
    const promise = new Promise<void>(capture);
    const at = this.#batchUsed;
    this.#waiting.push({ bytes: this.#batch!.slice(at, at + bytes), promise, resolve: captured.resolve!, reject: captured.reject! });
    this.#waitingBytes += bytes;
    return promise;
  }

  /** Where `bytes` more go in the batch (grown, or a new one after the full one went out), with its end queued for the end of the tick. */
  #room(bytes: number): number {
    let batch = this.#batch;
    const used = this.#batchUsed;
    if (batch !== undefined && used + bytes > batch.length) {
      if (batch.length < MAX_BATCH_BYTES) {
        // This tick outgrew the batch: a larger one takes over what it holds.
        this.#batchSize = Math.min(MAX_BATCH_BYTES, batch.length * 4);
        const larger = new Uint8Array(Math.max(this.#batchSize, used + bytes));
        larger.set(batch.subarray(0, used));
        this.#batch = batch = larger;
      } else {
        this.#endBatch();
        batch = undefined;
      }
    }
    if (batch === undefined) {
      const size = Math.max(this.#batchSize, DATA_HEADER_BYTES + bytes);
      this.#batch = this.#buffer.takeSpare(size) ?? new Uint8Array(size);
    }
    return this.#batchUsed;
  }

  #queueClose(): void {
    this.#closeQueued = true;
    this.#closeCheckedAt = this.#nextSeq;
    queueMicrotask(this.#closeBatch);
  }

  /** The batch's frames become one DATA message: held for replay, and written if a connection is attached. */
  #endBatch(): void {
    const batch = this.#batch;
    if (batch === undefined) return;
    const used = this.#batchUsed;
    const first = this.#batchFirst;
    const count = this.#nextSeq - first;
    if (count === 0) {
      // Only uncommitted bytes (a frame refused or waiting): the array is reused.
      this.#batchUsed = DATA_HEADER_BYTES;
      return;
    }
    this.#batch = undefined;
    this.#batchUsed = DATA_HEADER_BYTES;
    this.#batchFirst = this.#nextSeq;
    // A quiet session gets small batches again (one frame per tick would otherwise cost a 64 KiB array each).
    if (used * 2 < this.#batchSize) this.#batchSize = Math.max(MIN_BATCH_BYTES, this.#batchSize >>> 1);
    this.#buffer.addBatch(batch, DATA_HEADER_BYTES, used, first, count);
    const sink = this.#sink;
    if (sink === undefined) return;
    putDataHeader(batch, 0, first, count, this.#ackNow(), used - DATA_HEADER_BYTES);
    const message = batch.subarray(0, used);
    if (sink.writeMessage !== undefined) sink.writeMessage(message);
    else sink.write(message);
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
    this.#endBatch();
    this.#sink = sink;
    this.#setPeerWindow(peerWindow);
    this.#ackedOut = 0;
    // Batches made before this connection may be larger than the peer's window allows in one message.
    const window = this.#sendWindow;
    this.#buffer.replay(peerLastReceived, window.frames, window.bytes, (first, count, frames) => {
      sink.write(encodeDataHeader(first, count, this.#ackNow(), frames.length));
      if (frames.length > 0) sink.write(frames);
    });
    if (this.#ackable > 0) this.#flushAck();
    this.#pump();
  }

  /** The connection is gone: frames wait in the buffer for the next one. */
  detach(): void {
    this.#sink = undefined;
  }

  /**
   * Handles a DATA, ACK or CLOSE message from the peer. DATA frames are
   * decoded from the bytes as they are: the caller passes memory nobody
   * else reuses. Throws `ERR_SESSION_PROTOCOL` on a violation.
   */
  receive(message: SessionMessage): void {
    switch (message.type) {
      case MessageType.Data:
        this.receiveData(message.first, message.count, message.ack, message.frames);
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

  /** Handles a DATA message (see {@link SessionState.receive}): `count` frames from `first` on, encoded back to back in `frames`. */
  receiveData(first: number, count: number, ack: number, frames: Uint8Array): void {
    this.#acknowledged(ack);
    if (count === 0) throw new NetError("ERR_SESSION_PROTOCOL", "a DATA message without frames");
    const last = first + count - 1;
    if (last <= this.#lastReceived) return; // replayed frames we already hold
    if (first > this.#lastReceived + 1) {
      throw new NetError("ERR_SESSION_PROTOCOL", `frame ${first} arrived after frame ${this.#lastReceived}: frames are missing`);
    }
    const skip = this.#lastReceived + 1 - first;
    // At most a window acknowledged and unread, plus a window in flight.
    if (this.unread + count - skip > 2 * this.window.frames || this.#inboxBytes + frames.length > 2 * this.window.bytes) {
      throw new NetError("ERR_SESSION_PROTOCOL", `the peer sent beyond the window (${this.window.frames} frames, ${this.window.bytes} bytes)`);
    }
    const before = this.#inbox.length;
    const plain = skip === 0 && this.#inboundEnd === undefined;
    this.#skip = skip;
    this.#decodedCount = 0;
    this.#dropDecoded = this.#inboundEnd !== undefined;
    try {
      this.#decoder.decode(frames, plain ? this.#push : this.#emit);
      if (plain) this.#decodedCount = this.#inbox.length - before;
    } catch (error) {
      // The peer's frames do not decode here (a codec's limit, say): what decoded is read, then the error; a resend could not help.
      this.#decoder = this.#codec.createDecoder();
      this.#received(last, before, frames.length);
      this.#endInbound(toNetError(error));
      return;
    }
    if (this.#decodedCount !== count || this.#decoder.bufferedBytes !== 0) {
      this.#inbox.length = before;
      this.#decoder = this.#codec.createDecoder();
      throw new NetError("ERR_SESSION_PROTOCOL", `a DATA message announced ${count} frames, and its bytes hold ${this.#decodedCount} whole ones`);
    }
    this.#received(last, before, frames.length);
  }

  #received(last: number, before: number, bytes: number): void {
    this.#lastReceived = last;
    const added = this.#inbox.length - before;
    if (added > 0) {
      this.#delivered += added;
      this.#batchEnds.push(this.#delivered, bytes);
      this.#inboxBytes += bytes;
    }
    this.#offerAck(bytes);
    const consumer = this.#consumer;
    if (consumer !== undefined && added > 0) {
      this.#consumer = undefined;
      consumer.resolve({ value: this.#take()!, done: false });
    }
  }

  /** The next frame; done once the peer closed the session and every frame was read. Reading makes room, so a held-back acknowledgement can go. */
  next(): Promise<IteratorResult<T>> {
    const item = this.#take();
    if (item !== undefined) return Promise.resolve({ value: item, done: false });
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
    this.#endBatch();
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
    this.#batchFirst = 1;
    this.#buffer.restart(1);
    this.#lastReceived = 0;
    this.#ackable = 0;
    this.#unackedBytes = 0;
    this.#ackedOut = 0;
    this.#decoder = this.#codec.createDecoder();
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
    // Frames of the batch being filled have their sequence numbers: they count as sent.
    this.#group = undefined;
    this.#batch = undefined;
    this.#batchUsed = DATA_HEADER_BYTES;
    this.#batchFirst = this.#nextSeq;
    const sent = this.#buffer.takeAll();
    const waiting = this.#waiting.slice(this.#waitingHead);
    this.#waiting = [];
    this.#waitingHead = 0;
    const report: Unconfirmed = { count: sent.count + waiting.length, bytes: sent.bytes + this.#waitingBytes, firstSeq: sent.firstSeq, lastSeq: sent.lastSeq };
    this.#waitingBytes = 0;
    if (report.count > 0) {
      const reason = error(report);
      sent.reject(reason);
      for (const item of waiting) {
        item.promise.catch(noop);
        item.reject(reason);
      }
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
    const buffer = this.#buffer;
    return buffer.frames < window.frames && (buffer.frames === 0 || buffer.bytes + bytes <= window.bytes);
  }

  /** Moves sends waiting for the window into it, in order. */
  #pump(): void {
    const waiting = this.#waiting;
    while (this.#waitingHead < waiting.length && this.#fits(waiting[this.#waitingHead]!.bytes.length)) {
      const send = waiting[this.#waitingHead]!;
      (waiting as (Waiting | undefined)[])[this.#waitingHead++] = undefined;
      const bytes = send.bytes.length;
      this.#waitingBytes -= bytes;
      const at = this.#room(bytes);
      this.#batch!.set(send.bytes, at);
      this.#batchUsed = at + bytes;
      this.#buffer.add(this.#nextSeq++, bytes, send.promise, send.resolve, send.reject);
      if (!this.#closeQueued) this.#queueClose();
    }
    if (this.#waitingHead === waiting.length) {
      this.#waiting = [];
      this.#waitingHead = 0;
    }
  }

  /** The acknowledgement a DATA message carries: the cumulative ack rides on every batch, so a busy link needs no ACK messages. */
  #ackNow(): number {
    const ack = this.#ackable;
    this.#ackedOut = ack;
    this.#unackedBytes = 0;
    return ack;
  }

  #acknowledged(ack: number): void {
    // Frames of the batch being filled are not sent yet.
    if (ack >= this.#batchFirst) throw new NetError("ERR_SESSION_PROTOCOL", `the peer acknowledged frame ${ack}, but the last frame sent was ${this.#batchFirst - 1}`);
    if (this.#buffer.acknowledge(ack) === 0) return;
    this.#pump();
    if (this.unacknowledged === 0) this.#wakeDrained();
  }

  #wakeDrained(): void {
    const waiters = this.#drainWaiters;
    this.#drainWaiters = [];
    for (const wake of waiters) wake();
  }

  #take(): T | undefined {
    const inbox = this.#inbox;
    if (this.#inboxHead === inbox.length) return undefined;
    const frame = inbox[this.#inboxHead]!;
    (inbox as (T | undefined)[])[this.#inboxHead] = undefined;
    this.#inboxHead++;
    this.#taken++;
    // Unread bytes are counted by batch: a batch's leave once its last frame is read.
    const ends = this.#batchEnds;
    while (this.#batchEndsHead < ends.length && ends[this.#batchEndsHead]! <= this.#taken) {
      this.#inboxBytes -= ends[this.#batchEndsHead + 1]!;
      this.#batchEndsHead += 2;
    }
    if (this.#inboxHead === inbox.length) {
      this.#inbox = [];
      this.#inboxHead = 0;
      this.#batchEnds = [];
      this.#batchEndsHead = 0;
    } else if (this.#inboxHead > 1024 && this.#inboxHead * 2 > inbox.length) {
      this.#inbox = inbox.slice(this.#inboxHead);
      this.#inboxHead = 0;
      this.#batchEnds = this.#batchEnds.slice(this.#batchEndsHead);
      this.#batchEndsHead = 0;
    }
    // Reading makes room: an acknowledgement held back by a full inbox may go.
    if (this.#lastReceived > this.#ackable) this.#offerAck(0);
    if (this.#inboundEnd !== undefined && this.unread === 0) this.#endInbound(this.#inboundEnd.error);
    return frame;
  }

  /**
   * Acknowledges what was received while the inbox has room (a window's
   * worth unread), within the job that received it: at once when a quarter
   * of the window is due, else after two more microtasks, so that a reply
   * the application sends at once carries it instead. No timer: a sender
   * awaiting each send() hears back in one round trip. A full inbox holds
   * the acknowledgements back, and the peer's window stops it.
   */
  #offerAck(receivedBytes: number): void {
    this.#unackedBytes += receivedBytes;
    if (this.unread > this.window.frames || this.#inboxBytes > this.window.bytes) return;
    if (this.#lastReceived <= this.#ackable) return;
    this.#ackable = this.#lastReceived;
    // Decided at the end of this job: the DATA messages of one received chunk then cost one ACK.
    if (this.#sink === undefined || this.#ackQueued) return;
    this.#ackQueued = true;
    this.#ackWaits = 0;
    queueMicrotask(this.#decideAck);
  }

  /** Sends what is due now (a quarter of the window), the rest two microtasks later, unless a DATA message carries it. */
  readonly #decideAck = (): void => {
    if (this.#sink === undefined || this.#ackable <= this.#ackedOut || this.#nextSeq !== this.#batchFirst) {
      // Nothing to send, or the batch being filled carries the acknowledgement when it goes (at the end of this job).
      this.#ackQueued = false;
      return;
    }
    const due = this.#ackable - this.#ackedOut >= Math.max(1, this.window.frames >> 2) || this.#unackedBytes >= this.window.bytes >> 2;
    if (!due && this.#ackWaits < MAX_ACK_WAITS) {
      // The application reading the frames may reply in its next steps, and the reply would carry the acknowledgement.
      this.#ackWaits++;
      queueMicrotask(this.#decideAck);
      return;
    }
    this.#ackQueued = false;
    this.#flushAck();
  };

  #flushAck(): void {
    if (!this.#sink || this.#ackable <= this.#ackedOut) return;
    this.#ackedOut = this.#ackable;
    this.#unackedBytes = 0;
    this.#sink.write(encodeAck(this.#ackable));
  }
}


function rejectedWith(error: unknown): Promise<never> {
  const promise = Promise.reject(error);
  promise.catch(noop);
  return promise;
}
