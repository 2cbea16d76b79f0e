/**
 * A typed layer over the standard `EventTarget`, which Node, Deno and Bun all
 * provide, so events behave the same on every runtime. Only wireline emits
 * events (through {@link emitEvent}, which is not exported from the package):
 * users listen, they cannot forge a server's `connection` or a client's `open`.
 *
 * @module
 */

import { NetError } from "./errors.ts";

/**
 * An event carrying a typed `detail` payload.
 *
 * @example
 * ```ts
 * import type { TypedEvent } from "wireline";
 * // What addEventListener() listeners of wireline's servers, clients and requesters receive.
 * function log(event: TypedEvent<{ count: number }>): void {
 *   console.log(event.type, event.detail.count);
 * }
 * ```
 */
export class TypedEvent<T> extends Event {
  /** The payload the event was emitted with. */
  readonly detail: T;

  constructor(type: string, detail: T) {
    super(type);
    this.detail = detail;
  }
}

const noop = (): void => {};

/** Whether `type` ever had a listener on `target`; assigned in TypedEventTarget's static block. */
let heard: (target: TypedEventTarget<never>, type: string) => boolean;

/** A listener registered with {@link TypedEventTarget.on}: it receives the event's payload. */
export type TypedListener<T> = (detail: T, event: TypedEvent<T>) => void;

/** Options for {@link TypedEventTarget.on}. */
export interface TypedListenerOptions {
  /** Remove the listener after its first call. */
  once?: boolean;
  /** Remove the listener when this signal aborts. */
  signal?: AbortSignal;
}

/**
 * An `EventTarget` whose event names and payloads are typed by the map `M`
 * (event name → payload type).
 *
 * `on()` passes the payload straight to the listener and returns an
 * unsubscribe function; `addEventListener` keeps working and receives the
 * {@link TypedEvent}. Dispatch is synchronous, in registration order. A
 * listener that throws is reported the way the runtime reports any
 * `EventTarget` listener error; it does not stop the other listeners.
 * `dispatchEvent` is refused (ERR_UNSUPPORTED): events come from wireline only.
 *
 * @example
 * ```ts
 * import { listen } from "wireline";
 * const server = await listen({ port: 0 }, (conn) => conn.close());
 * const stop = server.on("connection", ({ remoteAddress }) => console.log("from", remoteAddress));
 * stop(); // or server.on(type, listener, { once: true }), or { signal }
 * ```
 */
export class TypedEventTarget<M extends { [K in keyof M]: unknown }> extends EventTarget {
  /** Never set: it lets {@link emitEvent} infer the event map from a subclass's `this`. */
  private declare readonly eventMap?: M;
  /**
   * Wrappers created by on(), so off() can find them; keyed by type, then by listener. Made on the first on():
   * a server has a target per connection (its context), and most are never listened to.
   */
  #wrappers: Map<string, Map<TypedListener<never>, EventListener>> | undefined;
  /** Event types that ever had a listener: {@link emitEvent} builds no event that nobody can hear. */
  #heard: Set<string> | undefined;

  static {
    heard = (target, type) => target.#heard !== undefined && target.#heard.has(type);
  }

  /** As EventTarget's; also notes that `type` is listened to (see {@link emitEvent}). */
  override addEventListener(type: string, listener: EventListenerOrEventListenerObject | null, options?: AddEventListenerOptions | boolean): void {
    if (listener !== null) (this.#heard ??= new Set()).add(type);
    super.addEventListener(type, listener, options);
  }

  /** Calls `listener` with each `type` event's payload. Returns a function that removes it. */
  on<K extends keyof M & string>(type: K, listener: TypedListener<M[K]>, options?: TypedListenerOptions): () => void {
    const signal = options?.signal;
    if (signal?.aborted) return noop;
    const wrappers = (this.#wrappers ??= new Map());
    let byListener = wrappers.get(type);
    if (byListener === undefined) wrappers.set(type, (byListener = new Map()));
    if (byListener.has(listener)) return () => this.off(type, listener);
    const once = options?.once ?? false;
    const wrapper: EventListener = (event) => {
      if (once) this.off(type, listener);
      const typed = event as TypedEvent<M[K]>;
      listener(typed.detail, typed);
    };
    byListener.set(listener, wrapper);
    if (signal) {
      this.addEventListener(type, wrapper, { signal });
      // The EventTarget drops the wrapper itself; only the lookup entry is left to forget.
      signal.addEventListener("abort", () => {
        if (byListener.get(listener) === wrapper) byListener.delete(listener);
      }, { once: true });
    } else {
      this.addEventListener(type, wrapper);
    }
    return () => this.off(type, listener);
  }

  /** Removes a listener added with {@link TypedEventTarget.on}. */
  off<K extends keyof M & string>(type: K, listener: TypedListener<M[K]>): void {
    const byListener = this.#wrappers?.get(type);
    const wrapper = byListener?.get(listener);
    if (wrapper === undefined) return;
    byListener!.delete(listener);
    this.removeEventListener(type, wrapper);
  }

  /** Refused: only wireline emits these events, so listeners can trust them. */
  override dispatchEvent(event: Event): boolean {
    throw new NetError("ERR_UNSUPPORTED", `dispatchEvent("${event.type}") is not allowed: wireline emits these events itself; listen with on() or addEventListener()`);
  }
}

const dispatch = EventTarget.prototype.dispatchEvent;

/**
 * Dispatches a {@link TypedEvent} with `detail` to every listener of `type`.
 * Internal to wireline (the package does not export it), so that users cannot
 * emit a server's or a client's events.
 *
 * @example
 * ```ts
 * import { emitEvent, TypedEventTarget } from "./typed-events.ts";
 * const events = new TypedEventTarget<{ open: { endpoint: string } }>();
 * emitEvent(events, "open", { endpoint: "db:5432" });
 * ```
 */
export function emitEvent<M extends { [K in keyof M]: unknown }, K extends keyof M & string>(target: TypedEventTarget<M>, type: K, detail: M[K]): void {
  if (hasListeners(target, type)) dispatch.call(target, new TypedEvent(type, detail));
}

/**
 * Whether an event of `type` emitted on `target` could reach a listener
 * (false positives only: a removed listener still counts). Lets an emitter
 * skip building a payload that nobody would see.
 *
 * @example
 * ```ts
 * import { hasListeners, TypedEventTarget } from "./typed-events.ts";
 * const target = new TypedEventTarget<{ tick: number }>();
 * hasListeners(target, "tick"); // false
 * target.on("tick", () => {});
 * hasListeners(target, "tick"); // true
 * ```
 */
export function hasListeners<M extends { [K in keyof M]: unknown }>(target: TypedEventTarget<M>, type: keyof M & string): boolean {
  return heard(target as unknown as TypedEventTarget<never>, type);
}
