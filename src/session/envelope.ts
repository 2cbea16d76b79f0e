/**
 * The session protocol's wire format: every message is a 4-byte big-endian
 * length, a 1-byte type, and a body. `docs/session-protocol.md` is the
 * normative description; this file is its one implementation.
 *
 * @module
 */

import { NetError } from "../errors.ts";

/** The protocol version this implementation speaks (HELLO, RESUME, WELCOME carry it). */
export const SESSION_PROTOCOL_VERSION: number = 2;
/** "WLSS": the first bytes of every handshake body, so a peer that does not speak the protocol is told apart. */
const MAGIC = 0x574c5353;
/** Bytes of a session id and of a resume token. */
export const ID_BYTES: number = 16;

/**
 * Message types (the byte after the length).
 *
 * @example
 * ```ts
 * import { MessageType } from "./envelope.ts";
 * console.log(MessageType.Data); // 16
 * ```
 */
export const MessageType = {
  Hello: 0x01,
  Resume: 0x02,
  Welcome: 0x03,
  Refused: 0x04,
  Data: 0x10,
  Ack: 0x11,
  Close: 0x12,
} as const;
/** A message type byte. */
export type MessageType = (typeof MessageType)[keyof typeof MessageType];

/**
 * Why a server refused a handshake (the REFUSED reason byte):
 * `UnknownSession` (never created, expired, or the server restarted),
 * `BadToken`, `Full` (`maxSessions` held), `Unsupported` (version or magic),
 * `Stopping`.
 *
 * @example
 * ```ts
 * import { RefusedReason } from "./envelope.ts";
 * console.log(RefusedReason.BadToken); // 2
 * ```
 */
export const RefusedReason = {
  UnknownSession: 1,
  BadToken: 2,
  Full: 3,
  Unsupported: 4,
  Stopping: 5,
} as const;
/** A refusal reason byte. */
export type RefusedReason = (typeof RefusedReason)[keyof typeof RefusedReason];

/** Frames and bytes sent but not yet acknowledged that a side allows. */
export interface WindowSize {
  readonly frames: number;
  readonly bytes: number;
}

/** A decoded message. */
export type SessionMessage =
  | { readonly type: typeof MessageType.Hello; readonly version: number; readonly window: WindowSize }
  | { readonly type: typeof MessageType.Resume; readonly version: number; readonly window: WindowSize; readonly id: Uint8Array; readonly token: Uint8Array; readonly lastReceived: number }
  | { readonly type: typeof MessageType.Welcome; readonly version: number; readonly resumed: boolean; readonly window: WindowSize; readonly id: Uint8Array; readonly token: Uint8Array; readonly lastReceived: number }
  | { readonly type: typeof MessageType.Refused; readonly reason: RefusedReason; readonly message: string }
  | { readonly type: typeof MessageType.Data; readonly first: number; readonly count: number; readonly ack: number; readonly frames: Uint8Array }
  | { readonly type: typeof MessageType.Ack; readonly ack: number }
  | { readonly type: typeof MessageType.Close; readonly lastSeq: number };

/** Bytes before a DATA message's frames: length (4), type (1), first seq (8), count (4), ack (8). */
export const DATA_HEADER_BYTES = 25;
const TWO_32 = 2 ** 32;
const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** A copy of `bytes[start, end)` sharing no memory with it: a Node Buffer's `slice()` is a view, and a chunk may be recycled. */
function copyOf(bytes: Uint8Array, start: number, end: number): Uint8Array {
  // A plain Uint8Array's slice() copies in one step; a subclass's (Buffer) may not copy at all.
  return bytes.constructor === Uint8Array ? bytes.slice(start, end) : new Uint8Array(bytes.subarray(start, end));
}

function protocolError(message: string): NetError {
  return new NetError("ERR_SESSION_PROTOCOL", message);
}

function setU64(view: DataView, at: number, value: number): void {
  view.setUint32(at, Math.floor(value / TWO_32));
  view.setUint32(at + 4, value >>> 0);
}

function getU64(view: DataView, at: number): number {
  const value = view.getUint32(at) * TWO_32 + view.getUint32(at + 4);
  if (!Number.isSafeInteger(value)) throw protocolError(`a sequence number beyond 2^53 (${value})`);
  return value;
}

function message(type: MessageType, bodyBytes: number): { bytes: Uint8Array; view: DataView } {
  const bytes = new Uint8Array(5 + bodyBytes);
  const view = new DataView(bytes.buffer);
  view.setUint32(0, 1 + bodyBytes);
  bytes[4] = type;
  return { bytes, view };
}

function putHandshake(view: DataView, at: number, window: WindowSize): number {
  view.setUint32(at, MAGIC);
  view.setUint8(at + 4, SESSION_PROTOCOL_VERSION);
  view.setUint32(at + 5, window.frames);
  view.setUint32(at + 9, window.bytes);
  return at + 13;
}

/**
 * HELLO: a client asks for a new session.
 *
 * @example
 * ```ts
 * import { encodeHello } from "./envelope.ts";
 * conn.write(encodeHello({ frames: 1024, bytes: 1 << 20 }));
 * ```
 */
export function encodeHello(window: WindowSize): Uint8Array {
  const { bytes, view } = message(MessageType.Hello, 13);
  putHandshake(view, 5, window);
  return bytes;
}

/**
 * RESUME: a client asks to continue session `id`, proving it with `token`,
 * and says the last sequence number it received.
 *
 * @example
 * ```ts
 * import { encodeResume } from "./envelope.ts";
 * conn.write(encodeResume({ frames: 1024, bytes: 1 << 20 }, id, token, 41));
 * ```
 */
export function encodeResume(window: WindowSize, id: Uint8Array, token: Uint8Array, lastReceived: number): Uint8Array {
  const { bytes, view } = message(MessageType.Resume, 13 + 2 * ID_BYTES + 8);
  const at = putHandshake(view, 5, window);
  bytes.set(id, at);
  bytes.set(token, at + ID_BYTES);
  setU64(view, at + 2 * ID_BYTES, lastReceived);
  return bytes;
}

/**
 * WELCOME: the server accepts a HELLO (`resumed` false, a new id and token)
 * or a RESUME (`resumed` true), and says the last sequence number it received.
 *
 * @example
 * ```ts
 * import { encodeWelcome } from "./envelope.ts";
 * conn.write(encodeWelcome(false, { frames: 1024, bytes: 1 << 20 }, id, token, 0));
 * ```
 */
export function encodeWelcome(resumed: boolean, window: WindowSize, id: Uint8Array, token: Uint8Array, lastReceived: number): Uint8Array {
  const { bytes, view } = message(MessageType.Welcome, 13 + 1 + 2 * ID_BYTES + 8);
  const at = putHandshake(view, 5, window);
  bytes[at] = resumed ? 1 : 0;
  bytes.set(id, at + 1);
  bytes.set(token, at + 1 + ID_BYTES);
  setU64(view, at + 1 + 2 * ID_BYTES, lastReceived);
  return bytes;
}

/**
 * REFUSED: the server turns a handshake down, with a reason and a message.
 *
 * @example
 * ```ts
 * import { encodeRefused, RefusedReason } from "./envelope.ts";
 * conn.write(encodeRefused(RefusedReason.Full, "maxSessions (1024) reached"));
 * ```
 */
export function encodeRefused(reason: RefusedReason, text: string): Uint8Array {
  const utf8 = encoder.encode(text.slice(0, 200));
  const { bytes } = message(MessageType.Refused, 1 + utf8.length);
  bytes[5] = reason;
  bytes.set(utf8, 6);
  return bytes;
}

/**
 * The header of a DATA message carrying `count` frames from sequence number
 * `first` on, encoded back to back in `frameBytes` bytes, which follow it.
 *
 * @example
 * ```ts
 * import { encodeDataHeader } from "./envelope.ts";
 * const header = encodeDataHeader(7, 2, 3, frames.length);
 * ```
 */
export function encodeDataHeader(first: number, count: number, ack: number, frameBytes: number): Uint8Array {
  const bytes = new Uint8Array(DATA_HEADER_BYTES);
  putDataHeader(bytes, 0, first, count, ack, frameBytes);
  return bytes;
}

/**
 * Writes a DATA header into `target` at `at` (by hand, without a DataView);
 * the `count` frames' `frameBytes` follow it.
 *
 * @example
 * ```ts
 * import { DATA_HEADER_BYTES, putDataHeader } from "./envelope.ts";
 * const message = new Uint8Array(DATA_HEADER_BYTES + 3);
 * putDataHeader(message, 0, 7, 1, 3, 3);
 * ```
 */
export function putDataHeader(target: Uint8Array, at: number, first: number, count: number, ack: number, frameBytes: number): void {
  putU32(target, at, DATA_HEADER_BYTES - 4 + frameBytes);
  target[at + 4] = MessageType.Data;
  putU32(target, at + 5, Math.floor(first / TWO_32));
  putU32(target, at + 9, first >>> 0);
  putU32(target, at + 13, count);
  putU32(target, at + 17, Math.floor(ack / TWO_32));
  putU32(target, at + 21, ack >>> 0);
}

function putU32(bytes: Uint8Array, at: number, value: number): void {
  bytes[at] = value >>> 24;
  bytes[at + 1] = (value >>> 16) & 0xff;
  bytes[at + 2] = (value >>> 8) & 0xff;
  bytes[at + 3] = value & 0xff;
}

/**
 * The big-endian 32-bit number at `at`.
 *
 * @example
 * ```ts
 * import { readU32 } from "./envelope.ts";
 * readU32(new Uint8Array([0, 0, 1, 0]), 0); // 256
 * ```
 */
export function readU32(bytes: Uint8Array, at: number): number {
  return ((bytes[at]! << 24) >>> 0) + (bytes[at + 1]! << 16) + (bytes[at + 2]! << 8) + bytes[at + 3]!;
}

/**
 * The big-endian 64-bit number at `at` (a sequence number or an
 * acknowledgement); `ERR_SESSION_PROTOCOL` beyond 2^53.
 *
 * @example
 * ```ts
 * import { readU64 } from "./envelope.ts";
 * readU64(new Uint8Array([0, 0, 0, 0, 0, 0, 0, 7]), 0); // 7
 * ```
 */
export function readU64(bytes: Uint8Array, at: number): number {
  const value = readU32(bytes, at) * TWO_32 + readU32(bytes, at + 4);
  if (!Number.isSafeInteger(value)) throw protocolError(`a sequence number beyond 2^53 (${value})`);
  return value;
}

/**
 * ACK: every frame up to and including `ack` was delivered to the application.
 *
 * @example
 * ```ts
 * import { encodeAck } from "./envelope.ts";
 * conn.write(encodeAck(41));
 * ```
 */
export function encodeAck(ack: number): Uint8Array {
  const { bytes, view } = message(MessageType.Ack, 8);
  setU64(view, 5, ack);
  return bytes;
}

/**
 * CLOSE: the sender ends the session; `lastSeq` is the last frame it sent.
 *
 * @example
 * ```ts
 * import { encodeClose } from "./envelope.ts";
 * conn.write(encodeClose(42));
 * ```
 */
export function encodeClose(lastSeq: number): Uint8Array {
  const { bytes, view } = message(MessageType.Close, 8);
  setU64(view, 5, lastSeq);
  return bytes;
}

function readHandshake(view: DataView, body: Uint8Array): { version: number; window: WindowSize } {
  if (body.length < 14) throw protocolError("a handshake message too short");
  if (view.getUint32(1) !== MAGIC) throw protocolError("the peer does not speak the wireline session protocol (bad magic)");
  const window = { frames: view.getUint32(6), bytes: view.getUint32(10) };
  // A window that admits nothing would stall the other side forever.
  if (window.frames < 1 || window.bytes < 64) throw protocolError(`a window of ${window.frames} frames and ${window.bytes} bytes (at least 1 frame and 64 bytes)`);
  return { version: body[5]!, window };
}

/**
 * Decodes one message body (type byte first, length prefix removed). Throws
 * `ERR_SESSION_PROTOCOL` on a malformed one. DATA frames are a view into `body`.
 *
 * @example
 * ```ts
 * import { decodeMessage, encodeAck } from "./envelope.ts";
 * decodeMessage(encodeAck(7).subarray(4)); // { type: 0x11, ack: 7 }
 * ```
 */
export function decodeMessage(body: Uint8Array): SessionMessage {
  const type = body[0];
  // The per-frame messages first, without a DataView.
  if (type === MessageType.Data) {
    if (body.length < DATA_HEADER_BYTES - 4) throw protocolError("a DATA message too short");
    return { type, first: readU64(body, 1), count: readU32(body, 9), ack: readU64(body, 13), frames: body.subarray(DATA_HEADER_BYTES - 4) };
  }
  if (type === MessageType.Ack) {
    if (body.length !== 9) throw protocolError(`an ACK of ${body.length} bytes`);
    return { type, ack: readU64(body, 1) };
  }
  const view = new DataView(body.buffer, body.byteOffset, body.byteLength);
  switch (type) {
    case MessageType.Hello: {
      const { version, window } = readHandshake(view, body);
      return { type, version, window };
    }
    case MessageType.Resume: {
      const { version, window } = readHandshake(view, body);
      if (body.length !== 14 + 2 * ID_BYTES + 8) throw protocolError(`a RESUME of ${body.length} bytes`);
      return { type, version, window, id: copyOf(body, 14, 14 + ID_BYTES), token: copyOf(body, 14 + ID_BYTES, 14 + 2 * ID_BYTES), lastReceived: getU64(view, 14 + 2 * ID_BYTES) };
    }
    case MessageType.Welcome: {
      const { version, window } = readHandshake(view, body);
      if (body.length !== 15 + 2 * ID_BYTES + 8) throw protocolError(`a WELCOME of ${body.length} bytes`);
      return {
        type,
        version,
        window,
        resumed: body[14] === 1,
        id: copyOf(body, 15, 15 + ID_BYTES),
        token: copyOf(body, 15 + ID_BYTES, 15 + 2 * ID_BYTES),
        lastReceived: getU64(view, 15 + 2 * ID_BYTES),
      };
    }
    case MessageType.Refused:
      if (body.length < 2) throw protocolError("a REFUSED without a reason");
      return { type, reason: body[1] as RefusedReason, message: decoder.decode(body.subarray(2)) };
    case MessageType.Close:
      if (body.length !== 9) throw protocolError(`a CLOSE of ${body.length} bytes`);
      return { type, lastSeq: getU64(view, 1) };
    default:
      throw protocolError(`unknown message type ${String(type)}`);
  }
}

/** The largest message accepted before the handshake set the window: a WELCOME, or a REFUSED with its message. */
export const MAX_HANDSHAKE_BYTES: number = 1024;
/** A message body cut by a chunk's end is gathered into one array of its size up to this length; a larger one piece by piece. */
const EXACT_BODY_BYTES = 64 * 1024;

/**
 * Cuts a byte stream into message bodies, whatever the chunking. One reader
 * per connection; a message longer than `maxBytes` is a protocol error.
 *
 * @example
 * ```ts
 * import { MessageReader } from "./envelope.ts";
 * const reader = new MessageReader(1 << 20);
 * for await (const chunk of conn) reader.push(chunk, (body) => console.log(body[0]));
 * ```
 */
export class MessageReader {
  #maxBytes: number;
  /** A length prefix cut by the end of a chunk. */
  readonly #head = new Uint8Array(4);
  #headFill = 0;
  /** The body of a message begun in an earlier chunk: owned copies, as chunks may be recycled. */
  #body: Uint8Array | undefined;
  #bodyFill = 0;
  /** A large body arrives in pieces (memory grows with the bytes received, not with what the length claims), joined once complete. */
  #pieces: Uint8Array[] | undefined;
  #need = 0;

  constructor(maxBytes: number) {
    this.#maxBytes = maxBytes;
  }

  /** Raises (or lowers) the bound, once the handshake told the window. */
  set maxBytes(value: number) {
    this.#maxBytes = value;
  }

  /** Bytes held for an incomplete message. */
  get bufferedBytes(): number {
    return this.#headFill + this.#bodyFill;
  }

  /** Feeds a chunk; calls `emit` for each complete body, in order. Only the bytes of a message cut by the chunk's end are copied. */
  push(chunk: Uint8Array, emit: (body: Uint8Array) => void): void {
    const n = chunk.length;
    let at = 0;
    if (this.#headFill > 0) {
      const take = Math.min(4 - this.#headFill, n);
      this.#head.set(chunk.subarray(0, take), this.#headFill);
      this.#headFill += take;
      at = take;
      if (this.#headFill < 4) return;
      this.#headFill = 0;
      this.#begin(this.#length(this.#head, 0));
    }
    if (this.#need > 0) {
      const take = Math.min(this.#need, n - at);
      this.#append(chunk.subarray(at, at + take));
      at += take;
      if (this.#need > 0) return;
      emit(this.#finish());
    }
    while (n - at >= 4) {
      const length = this.#length(chunk, at);
      if (n - at - 4 < length) break;
      emit(chunk.subarray(at + 4, at + 4 + length));
      at += 4 + length;
    }
    if (at === n) return;
    if (n - at < 4) {
      this.#head.set(chunk.subarray(at), 0);
      this.#headFill = n - at;
      return;
    }
    this.#begin(this.#length(chunk, at));
    this.#append(chunk.subarray(at + 4));
  }

  #length(bytes: Uint8Array, at: number): number {
    const length = readU32(bytes, at);
    if (length === 0) throw protocolError("an empty message");
    if (length > this.#maxBytes) throw protocolError(`a message of ${length} bytes, above the limit of ${this.#maxBytes}`);
    return length;
  }

  #begin(length: number): void {
    this.#need = length;
    this.#bodyFill = 0;
    if (length <= EXACT_BODY_BYTES) this.#body = new Uint8Array(length);
    else this.#pieces = [];
  }

  #append(piece: Uint8Array): void {
    if (this.#body !== undefined) this.#body.set(piece, this.#bodyFill);
    else this.#pieces!.push(piece.slice());
    this.#bodyFill += piece.length;
    this.#need -= piece.length;
  }

  #finish(): Uint8Array {
    let body = this.#body;
    if (body === undefined) {
      body = new Uint8Array(this.#bodyFill);
      let offset = 0;
      for (const piece of this.#pieces!) {
        body.set(piece, offset);
        offset += piece.length;
      }
    }
    this.#body = undefined;
    this.#pieces = undefined;
    this.#bodyFill = 0;
    return body;
  }
}
