/**
 * A codec put on a connection: send and receive whole frames, with small
 * sends coalesced into one write per tick.
 *
 * @module
 */

import type { Codec, FrameDecoder } from "./codec.ts";
import { invalidOption } from "../errors.ts";
import type { ByteConnection } from "./byte-connection.ts";
import { FrameReader } from "./frame-reader.ts";
import { encodeFrame, WriteCoalescer } from "./write-coalescer.ts";


/** Options of {@link framed}. */
export interface FramedOptions {
  /**
   * Bytes of small frames gathered into one write before it is issued early,
   * without waiting for the end of the tick; a frame part this large or
   * larger is written on its own, without copying. Default 64 KiB. When the
   * previous tick's frames ran at most an eighth past it, the next tick's
   * first write may be as large as that tick: a steady sender's tick goes
   * out in one write rather than a full batch and a small rest.
   */
  readonly maxBatchBytes?: number;
}

/**
 * A connection that carries frames. Iterate it once to receive; call `send`
 * from anywhere.
 *
 * @example
 * ```ts
 * import { framed, lines } from "wireline";
 * const channel = framed(conn, lines());
 * for await (const line of channel) await channel.send(line.toUpperCase());
 * ```
 */
export interface FramedChannel<T> extends AsyncIterable<T> {
  /**
   * Encodes and queues one frame. Frames sent in the same tick go out in one
   * write, issued on a microtask. Resolves when that write is accepted (and
   * every earlier one), so awaiting it applies the connection's backpressure.
   * Rejects with the encoding error if this frame cannot be encoded, leaving
   * other frames alone; rejects with the write error if the connection fails,
   * as does every later send. A send that is not awaited never causes an
   * unhandled rejection for a connection failure.
   *
   * The frame's bytes are read when its write is issued; do not change them
   * until the returned promise settles.
   */
  send(frame: T): Promise<void>;
  /**
   * Yields decoded frames; ends when the peer closes cleanly. Throws the
   * connection's error, or a {@link FramingError} after the connection was
   * destroyed with it: on bad or oversize input, or when the stream ends
   * inside a frame. Frames decoded before the error are yielded first.
   * Only one iteration is allowed.
   */
  [Symbol.asyncIterator](): AsyncIterator<T>;
  /**
   * Yields the frames decoded from each received chunk as one array, instead
   * of one frame per step: a promise per chunk rather than per frame, for
   * high message rates (a 64 KiB chunk can hold a thousand small frames).
   * Ends and throws as the frame iteration does, and is the channel's one
   * iteration too. Each array belongs to the caller.
   *
   * @example
   * ```ts
   * import { connect, framed, lengthPrefixed } from "wireline";
   * const channel = framed(await connect("127.0.0.1:7000"), lengthPrefixed());
   * for await (const frames of channel.batches()) {
   *   for (const frame of frames) console.log(frame.length);
   * }
   * ```
   */
  batches(): AsyncIterable<T[]>;
  /**
   * Calls `fn` for each frame, synchronously as each received chunk is
   * decoded: no promise or iterator step per frame, for the highest message
   * rates. If `fn` returns a promise, the next frame waits until it settles,
   * and so does reading (backpressure). Resolves when the peer closes
   * cleanly; rejects as the frame iteration throws (frames decoded before a
   * {@link FramingError} are passed to `fn` first). If `fn` throws or its
   * promise rejects, reading stops, the connection stays open (as after
   * leaving a `for await` loop) and the returned promise rejects with that
   * error. This is the channel's one iteration too.
   *
   * @example
   * ```ts
   * import { connect, framed, lengthPrefixed } from "wireline";
   * const channel = framed(await connect("127.0.0.1:7000"), lengthPrefixed());
   * let bytes = 0;
   * await channel.forEach((frame) => {
   *   bytes += frame.length;
   * });
   * console.log(`peer closed after ${bytes} bytes`);
   * ```
   */
  forEach(fn: (frame: T) => void | PromiseLike<void>): Promise<void>;
  /** Closes the connection abruptly. */
  destroy(error?: Error): void;
  /** Sends the frames already queued, then closes the connection gracefully. Never rejects. */
  close(): Promise<void>;
  /** The connection's `closed`: resolves when the connection is gone. */
  readonly closed: Promise<unknown>;
}

/**
 * Default {@link FramedOptions.maxBatchBytes}: 64 KiB.
 *
 * @example
 * ```ts
 * import { connect, framed, lines } from "wireline";
 * const channel = framed(await connect("127.0.0.1:7000"), lines(), { maxBatchBytes: 256 * 1024 }); // default 64 KiB
 * ```
 */
export const DEFAULT_MAX_BATCH_BYTES: number = 64 * 1024;

/**
 * Puts `codec` on `conn`.
 *
 * @example
 * ```ts
 * import { connect, framed, lengthPrefixed } from "wireline";
 * const channel = framed(await connect("127.0.0.1:7000"), lengthPrefixed());
 * await Promise.all(requests.map((r) => channel.send(r))); // one write
 * for await (const reply of channel) handle(reply);
 * ```
 */
export function framed<T>(conn: ByteConnection, codec: Codec<T>, options: FramedOptions = {}): FramedChannel<T> {
  const maxBatchBytes = options.maxBatchBytes ?? DEFAULT_MAX_BATCH_BYTES;
  if (!Number.isSafeInteger(maxBatchBytes) || maxBatchBytes < 1) {
    throw invalidOption("maxBatchBytes", maxBatchBytes, "a positive integer");
  }
  // Frames are views into received chunks and outlive the read step, so lent chunks would be overwritten under them.
  if (conn.borrowedChunks === true) throw invalidOption("borrowedChunks", true, "false for a connection used with framed()");
  return new Channel(conn, codec, maxBatchBytes);
}

const ignore = (): void => {};

class Channel<T> implements FramedChannel<T> {
  readonly #conn: ByteConnection;
  readonly #codec: Codec<T>;
  readonly #coalescer: WriteCoalescer;
  #iterated = false;

  /** The codec, when it encodes straight into the batch (`encodeInto`). */
  readonly #encodesInto: Required<Pick<Codec<T>, "encodeInto">> | undefined;
  /** Settles the sends whose last bytes wait in the coalescer's batch; made on the first such send. */
  #batch: Promise<void> | undefined;
  #settleBatch: ((settled: Promise<void>) => void) | undefined;
  /**
   * Settles once every write issued so far is accepted, or rejects with the
   * first failure. Each send resolves with the write holding its last byte
   * chained after this, so sends settle in order whatever the connection does.
   */
  #written: Promise<void> = Promise.resolve();

  constructor(conn: ByteConnection, codec: Codec<T>, maxBatchBytes: number) {
    this.#conn = conn;
    this.#codec = codec;
    this.#encodesInto = codec.encodeInto === undefined ? undefined : (codec as Required<Codec<T>>);
    this.#coalescer = new WriteCoalescer(maxBatchBytes, {
      write: (data) => this.#write(data),
      flushed: () => {
        const settle = this.#settleBatch;
        this.#batch = this.#settleBatch = undefined;
        settle?.(this.#written);
      },
    });
  }

  get closed(): Promise<unknown> {
    return this.#conn.closed;
  }

  destroy(error?: Error): void {
    this.#conn.destroy(error);
  }

  async close(): Promise<void> {
    this.#coalescer.flush();
    // A failed write already closed the connection; closing is all that is left either way.
    await this.#written.catch(ignore);
    await this.#conn.close();
  }

  send(frame: T): Promise<void> {
    // Encoded straight into the batch where the codec can: no allocation per frame. This runs once per
    // message, so it reads as few fields as it can.
    const into = this.#encodesInto;
    if (into !== undefined) {
      let added: boolean;
      try {
        added = this.#coalescer.addInto(into, frame);
      } catch (error) {
        return Promise.reject(error);
      }
      if (added) return this.#batch ?? this.#openBatch();
    }
    let parts: readonly Uint8Array[];
    try {
      parts = encodeFrame(this.#codec, frame);
    } catch (error) {
      return Promise.reject(error);
    }
    if (this.#coalescer.add(parts)) return this.#written;
    return this.#batch ?? this.#openBatch();
  }

  /** The promise of the sends in the coalescer's batch, made by the first of them. */
  #openBatch(): Promise<void> {
    const batch = new Promise<void>((resolve) => (this.#settleBatch = resolve));
    batch.catch(ignore);
    return (this.#batch = batch);
  }

  [Symbol.asyncIterator](): AsyncIterator<T> {
    // A hand-written iterator, not an async generator: a generator step costs several promise
    // jobs per frame, which dominated small-frame throughput (bench/scenarios/small-messages.ts).
    const again = this.#iterated;
    this.#iterated = true;
    const reader = new FrameReader(this.#conn, this.#codec.createDecoder());
    // Frames decoded from the current chunk are handed out from `index` on.
    const frames = reader.frames;
    let index = 0;
    // Calls that do not await each next() are served in order, as a generator would.
    let inFlight = 0;
    let queue: Promise<unknown> = Promise.resolve();
    const pull = async (): Promise<IteratorResult<T>> => {
      for (;;) {
        if (index < frames.length) return { value: frames[index++]!, done: false };
        // Reset, not shifted: a chunk can hold thousands of small frames.
        frames.length = 0;
        index = 0;
        if (reader.failure !== undefined) throw reader.failure;
        if (reader.done) return { value: undefined, done: true };
        await reader.read();
      }
    };
    return {
      next: (): Promise<IteratorResult<T>> => {
        if (again) return Promise.reject(new TypeError("a framed channel can be iterated only once"));
        // Fast path: a frame already decoded needs no async function step.
        if (inFlight === 0 && index < frames.length) return Promise.resolve({ value: frames[index++]!, done: false });
        inFlight++;
        const result = queue.then(pull).finally(() => inFlight--);
        queue = result.catch(ignore);
        return result;
      },
      return: async (): Promise<IteratorResult<T>> => {
        // Leaving early keeps the connection open, as for a Connection.
        await reader.return();
        frames.length = 0;
        index = 0;
        return { value: undefined, done: true };
      },
    };
  }

  batches(): AsyncIterable<T[]> {
    const again = this.#iterated;
    this.#iterated = true;
    const reader = again ? undefined : new FrameReader(this.#conn, this.#codec.createDecoder());
    let reading = false;
    const iterator: AsyncIterator<T[]> = {
      next: async (): Promise<IteratorResult<T[]>> => {
        if (reader === undefined) throw new TypeError("a framed channel can be iterated only once");
        if (reading) throw new TypeError("batches() is already waiting for the next chunk: await each step");
        reading = true;
        try {
          for (;;) {
            if (reader.frames.length > 0) return { value: reader.take(), done: false };
            if (reader.failure !== undefined) throw reader.failure;
            if (reader.done) return { value: undefined, done: true };
            await reader.read();
          }
        } finally {
          reading = false;
        }
      },
      return: async (): Promise<IteratorResult<T[]>> => {
        // Leaving early keeps the connection open, as for a Connection.
        await reader?.return();
        return { value: undefined, done: true };
      },
    };
    return { [Symbol.asyncIterator]: () => iterator };
  }

  forEach(fn: (frame: T) => void | PromiseLike<void>): Promise<void> {
    if (typeof fn !== "function") return Promise.reject(new TypeError(`forEach() takes a function, got ${typeof fn}`));
    if (this.#iterated) return Promise.reject(new TypeError("a framed channel can be iterated only once"));
    this.#iterated = true;
    const conn = this.#conn;
    if (typeof conn.forEach === "function") return forEachDeliveredFrame(conn as CallbackConnection, this.#codec.createDecoder(), fn);
    return forEachFrame(conn, this.#codec.createDecoder(), fn);
  }

  #write(data: Uint8Array): void {
    let accepted: Promise<void>;
    try {
      accepted = this.#conn.write(data);
    } catch (error) {
      accepted = Promise.reject(error);
    }
    const written = Promise.all([this.#written, accepted]).then(ignore);
    written.catch(ignore);
    this.#written = written;
  }
}

/** A connection that receives with a callback. */
type CallbackConnection = ByteConnection & Required<Pick<ByteConnection, "forEach">>;

/**
 * {@link FramedChannel.forEach} on a connection that receives with a callback: each chunk is decoded inside the
 * connection's delivery and frames go to `fn` from inside the decoder, with no promise per chunk. A promise from
 * `fn` holds the frames after it, and the connection's reading, until it settles.
 */
async function forEachDeliveredFrame<T>(conn: CallbackConnection, decoder: FrameDecoder<T>, fn: (frame: T) => void | PromiseLike<void>): Promise<void> {
  /** A promise `fn` returned and not yet settled: the frames after it wait in `backlog`. */
  let waiting: PromiseLike<void> | undefined;
  let backlog: T[] = [];
  /** Inside `fn`: an error that leaves the decoder now is `fn`'s, not the stream's. */
  let calling = false;
  /** The decoding error that destroyed the connection; the frames decoded before it still go to `fn`. */
  let failure: { error: unknown } | undefined;
  /** The frames that waited when the decoder failed, still being given to `fn`. */
  let draining: Promise<void> | undefined;
  const emit = (frame: T): void => {
    if (waiting !== undefined) {
      backlog.push(frame);
      return;
    }
    calling = true;
    const result = fn(frame);
    calling = false;
    if (result !== undefined && result !== null && typeof result.then === "function") waiting = result;
  };
  // A rejection of `waiting`, or a throw from `fn`, leaves through the connection's forEach: reading stops there.
  const drain = async (): Promise<void> => {
    while (waiting !== undefined) {
      await waiting;
      waiting = undefined;
      const frames = backlog;
      backlog = [];
      for (let i = 0; i < frames.length; i++) {
        const result = fn(frames[i]!);
        if (result !== undefined && result !== null && typeof result.then === "function") {
          waiting = result;
          backlog = frames.slice(i + 1);
          break;
        }
      }
    }
  };
  const onChunk = (chunk: Uint8Array): void | Promise<void> => {
    try {
      decoder.decode(chunk, emit);
    } catch (error) {
      if (calling) {
        calling = false;
        throw error;
      }
      failure = { error };
      // Destroy at once, so a bad peer stops being read.
      conn.destroy(error instanceof Error ? error : new Error(String(error)));
      if (waiting !== undefined) draining = drain();
      return;
    }
    if (waiting !== undefined) return drain();
  };
  try {
    await conn.forEach(onChunk);
  } catch (error) {
    if (failure === undefined) throw error;
  }
  if (failure === undefined) {
    try {
      decoder.finish();
    } catch (error) {
      failure = { error };
      conn.destroy(error instanceof Error ? error : new Error(String(error)));
    }
  }
  if (failure !== undefined) {
    await draining;
    throw failure.error;
  }
}

/** The loop behind {@link FramedChannel.forEach}: frames go to `fn` from inside the decoder, not through an array. */
async function forEachFrame<T>(conn: ByteConnection, decoder: FrameDecoder<T>, fn: (frame: T) => void | PromiseLike<void>): Promise<void> {
  /** A promise `fn` returned and not yet settled: the frames after it wait in `backlog`. */
  let waiting: PromiseLike<void> | undefined;
  let backlog: T[] = [];
  let stopped: { error: unknown } | undefined;
  /** `waiting` or `stopped` is set: frames go to the backlog, or nowhere. */
  let blocked = false;
  /** Inside `fn`: an error that leaves the decoder now is `fn`'s, not the stream's. */
  let calling = false;
  const hold = (result: PromiseLike<void>): void => {
    if (result === null || typeof result.then !== "function") return;
    waiting = result;
    blocked = true;
  };
  const stop = (error: unknown): void => {
    stopped = { error };
    blocked = true;
  };
  const call = (frame: T): void => {
    try {
      const result = fn(frame);
      if (result !== undefined) hold(result);
    } catch (error) {
      stop(error);
    }
  };
  // Runs once per frame, so it stays small enough for every runtime's JIT to inline into the decoder: no
  // try/catch (a throw from `fn` reaches reader.read(), which hands it back as `fn`'s), rare paths as calls.
  const emit = (frame: T): void => {
    if (blocked) {
      if (stopped === undefined) backlog.push(frame);
      return;
    }
    calling = true;
    const result = fn(frame);
    if (result !== undefined) hold(result);
    calling = false;
  };
  const reader = new FrameReader(conn, decoder, emit, () => calling);
  for (;;) {
    while (waiting !== undefined && stopped === undefined) {
      try {
        await waiting;
      } catch (error) {
        stop(error);
        break;
      }
      waiting = undefined;
      blocked = false;
      const frames = backlog;
      backlog = [];
      for (let i = 0; i < frames.length && stopped === undefined; i++) {
        if (waiting === undefined) call(frames[i]!);
        else backlog.push(frames[i]!);
      }
    }
    if (stopped !== undefined) {
      // Leaving early keeps the connection open, as for a Connection.
      await reader.return();
      throw stopped.error;
    }
    if (reader.failure !== undefined) throw reader.failure;
    if (reader.done) return;
    try {
      await reader.read();
    } catch (error) {
      if (!calling) throw error;
      calling = false;
      stop(error);
    }
  }
}
