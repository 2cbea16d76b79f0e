/**
 * The requests on the wire, waiting for their replies: a line in request
 * order for fifo protocols, a map by id for protocols with correlation ids.
 *
 * @module
 */

import type { PendingRequest } from "./pending-request.ts";

/** What a reply frame matched. */
export type ReplyMatch<T> =
  /** The live request it answers. */
  | { readonly kind: "request"; readonly request: PendingRequest<T> }
  /** A request that already timed out or was aborted: the reply fills its slot and is discarded. */
  | { readonly kind: "late" }
  /** Nothing: no request waits for it. */
  | { readonly kind: "none" };

const LATE: ReplyMatch<never> = Object.freeze({ kind: "late" });
const NONE: ReplyMatch<never> = Object.freeze({ kind: "none" });

/**
 * The requests sent on the current connection whose replies have not come.
 *
 * @example
 * ```ts
 * import { FifoInFlight } from "./in-flight.ts";
 * const line = new FifoInFlight<string>();
 * console.log(line.slots); // 0
 * ```
 */
export interface InFlight<T> {
  /** Reply slots taken, including those of settled requests whose reply is still due. */
  readonly slots: number;
  /** Live requests on the wire. */
  readonly live: number;
  add(request: PendingRequest<T>): void;
  /** Finds, and removes, what `reply` answers. */
  match(reply: T): ReplyMatch<T>;
  /** The request settled early (timeout, abort); its reply may still come. */
  settledEarly(request: PendingRequest<T>): void;
  /** The frame never reached the wire (its send failed): it takes no slot. */
  remove(request: PendingRequest<T>): void;
  /**
   * Empties the line at a disconnect; returns its requests in send order:
   * the live ones, and in fifo mode also those that settled early, whose
   * frame may still go out (from a reconnecting client's own queue).
   */
  takeAll(): PendingRequest<T>[];
}

/**
 * Replies come in request order. A request that settled early keeps its slot
 * until its reply arrives, so every later reply still pairs with the right
 * request.
 */
export class FifoInFlight<T> implements InFlight<T> {
  // A queue with a moving head: shift() on a long array costs O(n) per reply.
  #line: PendingRequest<T>[] = [];
  #head = 0;
  #live = 0;

  get slots(): number {
    return this.#line.length - this.#head;
  }

  get live(): number {
    return this.#live;
  }

  add(request: PendingRequest<T>): void {
    this.#line.push(request);
    if (!request.settled) this.#live++;
  }

  match(): ReplyMatch<T> {
    if (this.#head === this.#line.length) return NONE;
    const request = this.#line[this.#head]!;
    this.#line[this.#head++] = undefined!;
    if (this.#head > 1024 && this.#head * 2 > this.#line.length) {
      this.#line = this.#line.slice(this.#head);
      this.#head = 0;
    }
    if (request.settled) return LATE;
    this.#live--;
    return { kind: "request", request };
  }

  settledEarly(): void {
    this.#live--;
  }

  remove(request: PendingRequest<T>): void {
    const at = this.#line.indexOf(request, this.#head);
    if (at < 0) return;
    this.#line.splice(at, 1);
    if (!request.settled) this.#live--;
  }

  takeAll(): PendingRequest<T>[] {
    const all = this.#line.slice(this.#head);
    this.#line = [];
    this.#head = 0;
    this.#live = 0;
    return all;
  }
}

/** Replies carry the id of their request, in any order. A request that settles early frees its slot at once. */
export class IdInFlight<T> implements InFlight<T> {
  readonly #byId = new Map<unknown, PendingRequest<T>>();
  readonly #replyId: (reply: T) => unknown;

  constructor(replyId: (reply: T) => unknown) {
    this.#replyId = replyId;
  }

  get slots(): number {
    return this.#byId.size;
  }

  get live(): number {
    return this.#byId.size;
  }

  add(request: PendingRequest<T>): void {
    this.#byId.set(request.id, request);
  }

  match(reply: T): ReplyMatch<T> {
    const id = this.#replyId(reply);
    const request = this.#byId.get(id);
    if (request === undefined) return NONE;
    this.#byId.delete(id);
    return { kind: "request", request };
  }

  settledEarly(request: PendingRequest<T>): void {
    if (this.#byId.get(request.id) === request) this.#byId.delete(request.id);
  }

  remove(request: PendingRequest<T>): void {
    this.settledEarly(request);
  }

  takeAll(): PendingRequest<T>[] {
    // A Map iterates in insertion order, which is send order.
    const live = [...this.#byId.values()];
    this.#byId.clear();
    return live;
  }
}
