/**
 * The clock a server reads, replaceable through a symbol-keyed listen option
 * that is deliberately not part of `ListenOptions`: tests pass a manual clock
 * to run handshake, filter, first-byte, receive-rate and close timeouts
 * without waiting.
 *
 * @module
 */

/**
 * The key of the internal listen option that carries a {@link Clock}.
 *
 * @example
 * ```ts
 * import { SERVER_CLOCK } from "./server-clock.ts";
 * import { realClock } from "../timers/clock.ts";
 * const options = { port: 0, [SERVER_CLOCK]: realClock };
 * ```
 */
export const SERVER_CLOCK: unique symbol = Symbol("wireline.serverClock");
