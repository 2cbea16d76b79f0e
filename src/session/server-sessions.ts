/**
 * The server side of sessions: the registry of live sessions (bounded by
 * `maxSessions`, each expiring `ttl` ms after its client left), the
 * handshake that creates or resumes one on each accepted connection, and the
 * one handler call per session.
 *
 * @module
 */

import type { Clock, TimerHandle } from "../timers/clock.ts";
import type { Connection } from "../connection.ts";
import { NetError, toNetError } from "../errors.ts";
import { DATA_HEADER_BYTES, encodeRefused, encodeWelcome, MessageType, RefusedReason, SESSION_PROTOCOL_VERSION, type SessionMessage } from "./envelope.ts";
import { randomSecret, sameSecret, sessionIdText } from "./handshake.ts";
import { SessionLink } from "./session-link.ts";
import type { SessionServerSettings } from "./session-options.ts";
import { SessionState } from "./session-state.ts";

const DONE: IteratorResult<never> = Object.freeze({ value: undefined, done: true });

/**
 * What a session handler gets besides its session.
 *
 * @example
 * ```ts
 * import { listen } from "wireline";
 * const server = await listen({ port: 7000, session: true }, async (session, ctx) => {
 *   ctx.signal.addEventListener("abort", () => console.log(`session ${ctx.id} over:`, ctx.signal.reason));
 *   for await (const frame of session) await session.send(frame);
 * });
 * ```
 */
export interface SessionContext {
  /** Aborts when the server stops (ABORT_ERR) or the session expires (ERR_SESSION_LOST). */
  readonly signal: AbortSignal;
  /** The session's id (hex). */
  readonly id: string;
}

/**
 * Called once per session, whatever the number of connections it lives on.
 *
 * @example
 * ```ts
 * import { listen } from "wireline";
 * // The handler of listen({ session }): an echo, once per session.
 * const server = await listen({ port: 7000, session: true }, async (session) => {
 *   for await (const frame of session) await session.send(frame);
 * });
 * ```
 */
export type SessionHandler<T = Uint8Array> = (session: ServerSession<T>, ctx: SessionContext) => void | Promise<void>;

/**
 * Counters of a session server.
 *
 * @example
 * ```ts
 * import { listen } from "wireline";
 * const server = await listen({ port: 7000, session: true }, async (session) => {
 *   for await (const frame of session) await session.send(frame);
 * });
 * const s = server.sessions; // undefined without `session`
 * if (s) console.log(`${s.active} sessions, ${s.badTokens} bad tokens`);
 * ```
 */
export interface SessionStats {
  /** Sessions held now. */
  readonly active: number;
  /** Sessions created. */
  readonly created: number;
  /** Successful resumes on a new connection. */
  readonly resumed: number;
  /** Sessions that expired (no client within ttl). */
  readonly expired: number;
  /** RESUMEs refused for a wrong token. */
  readonly badTokens: number;
  /** RESUMEs of a session this server does not hold. */
  readonly unknownSessions: number;
  /** HELLOs refused because `maxSessions` were held. */
  readonly refusedFull: number;
}

/**
 * The server's side of one session: read frames with `for await`, send with
 * `send()`, which resolves once the client's application has received the frame.
 *
 * @example
 * ```ts
 * import { listen } from "wireline";
 * await listen({ port: 7000, session: true }, async (session) => {
 *   for await (const frame of session) await session.send(frame);
 * });
 * ```
 */
export class ServerSession<T = Uint8Array> implements AsyncIterable<T> {
  /** The session id (hex). */
  readonly id: string;
  readonly #state: SessionState<T>;

  /** Created by the server. */
  constructor(id: string, state: SessionState<T>) {
    this.id = id;
    this.#state = state;
  }

  /** True while a client connection carries the session. */
  get connected(): boolean {
    return this.#state.attached;
  }

  /**
   * Sends a frame. Resolves once the client's session acknowledged it; waits
   * while the window is full. Rejects with `ERR_SESSION_LOST` if the session
   * expires or the server stops first.
   */
  send(frame: T): Promise<void> {
    return this.#state.send(frame);
  }

  /** Yields the client's frames, each once and in order, across its reconnects; ends when the client closes the session or it expires. */
  [Symbol.asyncIterator](): AsyncIterator<T> {
    const state = this.#state;
    return { next: () => state.next(), return: () => Promise.resolve(DONE) };
  }
}

/** A session the registry holds. */
interface Entry {
  readonly idBytes: Uint8Array;
  readonly id: string;
  readonly token: Uint8Array;
  readonly state: SessionState<unknown>;
  readonly controller: AbortController;
  link: SessionLink | undefined;
  ttlTimer: TimerHandle | undefined;
}

/**
 * Sessions of one server.
 *
 * @example
 * ```ts
 * import { SessionRegistry } from "./server-sessions.ts";
 * import { sessionServerSettings } from "./session-options.ts";
 * import { realClock } from "../timers/clock.ts";
 * const registry = new SessionRegistry(sessionServerSettings(true), async (session) => {
 *   for await (const frame of session) await session.send(frame);
 * }, realClock, console.error);
 * await listen({ port: 7000 }, (conn) => registry.serve(conn));
 * ```
 */
export class SessionRegistry<T = Uint8Array> {
  readonly #settings: SessionServerSettings<T>;
  readonly #handler: SessionHandler<T>;
  readonly #clock: Clock;
  readonly #onError: (error: unknown) => void;
  readonly #sessions = new Map<string, Entry>();
  #stopped = false;
  #created = 0;
  #resumed = 0;
  #expired = 0;
  #badTokens = 0;
  #unknown = 0;
  #refusedFull = 0;

  constructor(settings: SessionServerSettings<T>, handler: SessionHandler<T>, clock: Clock, onError: (error: unknown) => void) {
    this.#settings = settings;
    this.#handler = handler;
    this.#clock = clock;
    this.#onError = onError;
  }

  get stats(): SessionStats {
    return {
      active: this.#sessions.size,
      created: this.#created,
      resumed: this.#resumed,
      expired: this.#expired,
      badTokens: this.#badTokens,
      unknownSessions: this.#unknown,
      refusedFull: this.#refusedFull,
    };
  }

  /**
   * Serves one accepted connection: its handshake creates or resumes a
   * session, then it carries that session until it closes. Resolves once the
   * connection is closed.
   */
  serve(conn: Connection): Promise<void> {
    const link = new SessionLink(conn);
    let entry: Entry | undefined;
    const timer = this.#clock.setTimeout(() => {
      if (!entry) conn.destroy(new NetError("ETIMEDOUT", `no session handshake within ${this.#settings.handshakeTimeout} ms`));
    }, this.#settings.handshakeTimeout);
    const done = link.run((message) => {
      if (entry) {
        entry.state.receive(message);
        return;
      }
      entry = this.#handshake(link, message);
      if (!entry) return;
      this.#clock.clearTimeout(timer);
      const state = entry.state;
      link.onData = (first, count, ack, frames) => state.receiveData(first, count, ack, frames);
    });
    return done.then(() => {
      this.#clock.clearTimeout(timer);
      if (entry && entry.link === link) this.#leave(entry);
    });
  }

  /** Stops every session: their signals abort, their pending sends reject, their connections close. */
  stop(): void {
    if (this.#stopped) return;
    this.#stopped = true;
    for (const entry of [...this.#sessions.values()]) {
      this.#end(entry, new NetError("ABORT_ERR", "the server is stopping"));
    }
  }

  /** Answers HELLO or RESUME; returns the session the connection now carries, or undefined (refused). */
  #handshake(link: SessionLink, message: SessionMessage): Entry | undefined {
    if (message.type !== MessageType.Hello && message.type !== MessageType.Resume) {
      throw new NetError("ERR_SESSION_PROTOCOL", `expected HELLO or RESUME, got message type ${message.type}`);
    }
    if (message.version !== SESSION_PROTOCOL_VERSION) {
      return this.#refuse(link, RefusedReason.Unsupported, `protocol version ${message.version} is not supported (this server speaks ${SESSION_PROTOCOL_VERSION})`, true);
    }
    if (this.#stopped) return this.#refuse(link, RefusedReason.Stopping, "the server is stopping", true);
    const window = this.#settings.window;
    if (message.type === MessageType.Resume) {
      const entry = this.#sessions.get(sessionIdText(message.id));
      if (!entry) {
        this.#unknown++;
        // The connection stays open: the client starts a new session on it with a HELLO.
        return this.#refuse(link, RefusedReason.UnknownSession, "no such session: it expired or the server restarted", false);
      }
      if (!sameSecret(entry.token, message.token)) {
        this.#badTokens++;
        return this.#refuse(link, RefusedReason.BadToken, "wrong session token", true);
      }
      this.#resumed++;
      const previous = entry.link;
      if (previous) previous.conn.destroy(new NetError("ERR_SOCKET_CLOSED", "the session resumed on another connection"));
      this.#cancelTtl(entry);
      entry.link = link;
      link.maxMessageBytes = window.bytes + DATA_HEADER_BYTES - 4;
      link.write(encodeWelcome(true, window, entry.idBytes, entry.token, entry.state.lastReceived));
      entry.state.attach(link, message.lastReceived, message.window);
      return entry;
    }
    if (this.#sessions.size >= this.#settings.maxSessions) {
      this.#refusedFull++;
      return this.#refuse(link, RefusedReason.Full, `maxSessions (${this.#settings.maxSessions}) are held`, true);
    }
    const entry = this.#create();
    entry.link = link;
    link.maxMessageBytes = window.bytes + DATA_HEADER_BYTES - 4;
    link.write(encodeWelcome(false, window, entry.idBytes, entry.token, 0));
    entry.state.attach(link, 0, message.window);
    this.#run(entry);
    return entry;
  }

  #refuse(link: SessionLink, reason: RefusedReason, text: string, close: boolean): undefined {
    link.write(encodeRefused(reason, text));
    if (close) link.close();
    return undefined;
  }

  #create(): Entry {
    const idBytes = randomSecret();
    const entry: Entry = {
      idBytes,
      id: sessionIdText(idBytes),
      token: randomSecret(),
      state: new SessionState<unknown>(this.#settings.window, this.#settings.codec),
      controller: new AbortController(),
      link: undefined,
      ttlTimer: undefined,
    };
    this.#sessions.set(entry.id, entry);
    this.#created++;
    return entry;
  }

  /** Calls the handler once; when it settles, the session ends after the client acknowledged what it sent. */
  #run(entry: Entry): void {
    const session = new ServerSession<T>(entry.id, entry.state as SessionState<T>);
    const ctx: SessionContext = { signal: entry.controller.signal, id: entry.id };
    let result: void | Promise<void>;
    try {
      result = this.#handler(session, ctx);
    } catch (error) {
      result = Promise.reject(error);
    }
    Promise.resolve(result).then(
      async () => {
        // What the handler sent is delivered before the CLOSE, unless the session ends first.
        await Promise.race([entry.state.drained(), abortedPromise(entry.controller.signal)]);
        if (!this.#sessions.has(entry.id)) return;
        entry.state.sendClose();
        this.#end(entry, new NetError("ERR_SOCKET_CLOSED", "the session handler returned"));
      },
      (error: unknown) => {
        this.#onError(error);
        this.#end(entry, toNetError(error));
      },
    );
  }

  /** The connection carrying `entry` closed: the session waits `ttl` ms for its client. */
  #leave(entry: Entry): void {
    entry.link = undefined;
    entry.state.detach();
    if (!this.#sessions.has(entry.id)) return;
    const ttl = this.#settings.ttl;
    if (ttl === Infinity) return;
    entry.ttlTimer = this.#clock.setTimeout(() => {
      entry.ttlTimer = undefined;
      this.#expired++;
      this.#end(entry, new NetError("ERR_SESSION_LOST", `session ${entry.id} expired: no client came back within ttl (${ttl} ms)`));
    }, ttl);
  }

  #cancelTtl(entry: Entry): void {
    if (entry.ttlTimer === undefined) return;
    this.#clock.clearTimeout(entry.ttlTimer);
    entry.ttlTimer = undefined;
  }

  /** Removes the session: its signal aborts, pending sends reject, its reader ends, its connection closes. */
  #end(entry: Entry, reason: NetError): void {
    if (!this.#sessions.delete(entry.id)) return;
    this.#cancelTtl(entry);
    entry.controller.abort(reason);
    entry.state.end(reason);
    const link = entry.link;
    entry.link = undefined;
    link?.close();
  }
}

function abortedPromise(signal: AbortSignal): Promise<void> {
  if (signal.aborted) return Promise.resolve();
  return new Promise((resolve) => signal.addEventListener("abort", () => resolve(), { once: true }));
}
