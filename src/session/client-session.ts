/**
 * The client side of a session: it runs the handshake on each connection the
 * reconnecting client opens (RESUME if it holds a session, else HELLO),
 * replays what the server did not receive, and, when the server no longer
 * holds the session, rejects the unconfirmed sends and starts a new one.
 *
 * @module
 */

import type { Clock } from "../timers/clock.ts";
import type { Codec } from "../framing/codec.ts";
import type { Connection } from "../connection.ts";
import { NetError } from "../errors.ts";
import { DATA_HEADER_BYTES, encodeHello, encodeResume, MessageType, RefusedReason, SESSION_PROTOCOL_VERSION, type SessionMessage, type WindowSize } from "./envelope.ts";
import { sessionIdText } from "./handshake.ts";
import { SessionLink } from "./session-link.ts";
import { SessionState, type Unconfirmed } from "./session-state.ts";

/**
 * The payload of a reconnecting client's `session-lost` event.
 *
 * @example
 * ```ts
 * import { reconnecting } from "wireline";
 * const client = reconnecting("127.0.0.1:7000", { session: true });
 * client.on("session-lost", ({ unconfirmed, error }) => console.warn(`${unconfirmed} sends not confirmed: ${error.message}`));
 * ```
 */
export interface SessionLostEvent {
  /** The id of the session that is gone. */
  readonly id: string;
  /** Sends rejected with `ERR_SESSION_LOST`: sent and never acknowledged, or still waiting for the window. */
  readonly unconfirmed: number;
  /** Their bytes. */
  readonly bytes: number;
  /** Sequence numbers (1-based, in send order within the session) of the first and last frame sent and not acknowledged. */
  readonly firstSeq: number | undefined;
  readonly lastSeq: number | undefined;
  /** The error those sends were rejected with. */
  readonly error: NetError;
}

/**
 * The payload of a reconnecting client's `session` event: a connection now carries the session.
 *
 * @example
 * ```ts
 * import { reconnecting } from "wireline";
 * const client = reconnecting("127.0.0.1:7000", { session: true });
 * client.on("session", ({ id, resumed }) => console.log(resumed ? `resumed ${id}` : `new session ${id}`));
 * ```
 */
export interface SessionEvent {
  readonly id: string;
  readonly resumed: boolean;
}

/**
 * What the client session reports.
 *
 * @example
 * ```ts
 * import type { ClientSessionHooks } from "./client-session.ts";
 * const hooks: ClientSessionHooks = { session: console.log, lost: console.warn };
 * ```
 */
export interface ClientSessionHooks {
  session(event: SessionEvent): void;
  lost(event: SessionLostEvent): void;
}

/**
 * A handshake that broke the protocol: the peer is not a wireline session
 * server (a plain listen(), another service, a version this client does not
 * speak). No retry can fix that, so the client gives up with this error.
 */
function notSessionServer(cause: NetError): NetError {
  const why = cause.message.startsWith(`${cause.code}: `) ? cause.message.slice(cause.code.length + 2) : cause.message;
  return new NetError(
    "ERR_SESSION_PROTOCOL",
    `the server does not speak the wireline session protocol (version ${SESSION_PROTOCOL_VERSION}): ${why}. Is it listening with { session }? The client stops: retrying cannot fix this`,
    { cause },
  );
}

function lostError(id: string, why: string, unconfirmed: Unconfirmed): NetError {
  const which = unconfirmed.firstSeq === undefined ? "" : ` (frames ${unconfirmed.firstSeq} to ${unconfirmed.lastSeq} of the session were sent and not acknowledged)`;
  return new NetError("ERR_SESSION_LOST", `session ${id} is lost (${why}): ${unconfirmed.count} sends were not confirmed${which}; a new session starts`);
}

/**
 * The session of one reconnecting client.
 *
 * @example
 * ```ts
 * import { ClientSession } from "./client-session.ts";
 * import { realClock } from "../timers/clock.ts";
 * const session = new ClientSession({ frames: 1024, bytes: 1 << 20 }, undefined, realClock, { session() {}, lost() {} });
 * await session.open(conn, 10_000); // handshake done; frames flow
 * ```
 */
export class ClientSession<T> {
  /** The frames the application sends and reads: the protocol state itself. */
  readonly frames: SessionState<T>;
  readonly #state: SessionState<T>;
  readonly #clock: Clock;
  readonly #hooks: ClientSessionHooks;
  #id: Uint8Array | undefined;
  #token: Uint8Array | undefined;

  constructor(window: WindowSize, codec: Codec<T> | undefined, clock: Clock, hooks: ClientSessionHooks) {
    this.#state = new SessionState<T>(window, codec);
    this.frames = this.#state;
    this.#clock = clock;
    this.#hooks = hooks;
  }

  /** The protocol state, for counters and tests. */
  get state(): SessionState<T> {
    return this.#state;
  }

  /**
   * Runs the handshake on `conn` and resolves once it carries the session
   * (replay sent); rejects, destroying `conn`, if the server refuses, the
   * connection closes first, or `timeout` ms pass. It rejects with
   * `ERR_SESSION_PROTOCOL` only when the server does not speak the protocol:
   * that one is not worth a retry. Frames keep flowing on
   * `conn` until it closes. `received` is called for each chunk read.
   */
  open(conn: Connection, timeout: number, received?: () => void): Promise<void> {
    const link = new SessionLink(conn);
    const window = this.#state.window;
    let open = false;
    let settle!: (error: NetError | undefined) => void;
    const opened = new Promise<void>((resolve, reject) => {
      settle = (error) => (error ? reject(error) : resolve());
    });
    const timer = this.#clock.setTimeout(() => conn.destroy(new NetError("ETIMEDOUT", `no answer to the session handshake within ${timeout} ms`)), timeout);
    link.write(this.#id && this.#token ? encodeResume(window, this.#id, this.#token, this.#state.lastReceived) : encodeHello(window));
    link
      .run(
        (message) => {
          if (open) return this.#data(message);
          open = this.#handshake(link, message);
          if (!open) return;
          this.#clock.clearTimeout(timer);
          settle(undefined);
        },
        received,
      )
      .then(async () => {
        this.#clock.clearTimeout(timer);
        if (open) return this.#state.detach();
        const error = (await conn.closed) ?? new NetError("ERR_SOCKET_CLOSED", "the server closed the connection during the session handshake");
        settle(error.code === "ERR_SESSION_PROTOCOL" ? notSessionServer(error) : error);
      });
    return opened;
  }

  /**
   * Ends the session for good: tells the server (if connected), rejects
   * pending sends with `reason`, ends reading: done after the unread frames,
   * or throwing `inboundError`.
   */
  close(reason: NetError, inboundError?: NetError): void {
    this.#state.sendClose();
    this.#state.end(reason, inboundError);
  }

  /** True once the handshake is done; false to keep waiting for the answer. */
  #handshake(link: SessionLink, message: SessionMessage): boolean {
    if (message.type === MessageType.Welcome) {
      if (message.version !== SESSION_PROTOCOL_VERSION) {
        throw new NetError("ERR_SESSION_PROTOCOL", `the server answered with session protocol version ${message.version}; this client speaks ${SESSION_PROTOCOL_VERSION}`);
      }
      if (!message.resumed && this.#id) this.#lose("the server started a new session");
      this.#id = message.id;
      this.#token = message.token;
      link.maxMessageBytes = this.#state.window.bytes + DATA_HEADER_BYTES - 4;
      this.#state.attach(link, message.lastReceived, message.window);
      const state = this.#state;
      link.onData = (first, count, ack, frames) => state.receiveData(first, count, ack, frames);
      this.#hooks.session({ id: sessionIdText(message.id), resumed: message.resumed });
      return true;
    }
    if (message.type !== MessageType.Refused) {
      throw new NetError("ERR_SESSION_PROTOCOL", `expected WELCOME or REFUSED, got message type ${message.type}`);
    }
    const id = this.#id;
    if (id && (message.reason === RefusedReason.UnknownSession || message.reason === RefusedReason.BadToken)) {
      this.#lose(message.reason === RefusedReason.UnknownSession ? "the server does not hold it: it expired or the server restarted" : "the server refused its token");
      // After an unknown session the server waits for a HELLO on this connection; after a bad token it closes it.
      if (message.reason === RefusedReason.UnknownSession) link.write(encodeHello(this.#state.window));
      return false;
    }
    if (message.reason === RefusedReason.Unsupported) throw new NetError("ERR_SESSION_PROTOCOL", `the server refused the session protocol: ${message.message}`);
    throw new NetError("ERR_SESSION_REFUSED", `the server refused the session: ${message.message}`);
  }

  #data(message: SessionMessage): void {
    if (message.type === MessageType.Close) {
      // The server's handler finished: this session is over; the next connection starts another.
      this.#lose("the server ended it");
      this.#state.detach();
      return;
    }
    this.#state.receive(message);
  }

  #lose(why: string): void {
    const id = this.#id ? sessionIdText(this.#id) : "";
    this.#id = undefined;
    this.#token = undefined;
    let error: NetError | undefined;
    const unconfirmed = this.#state.lose((report) => (error = lostError(id, why, report)));
    this.#hooks.lost({ id, unconfirmed: unconfirmed.count, bytes: unconfirmed.bytes, firstSeq: unconfirmed.firstSeq, lastSeq: unconfirmed.lastSeq, error: error ?? lostError(id, why, unconfirmed) });
  }
}
