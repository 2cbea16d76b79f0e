/**
 * A driver's two addresses, kept as the runtime reported them and made into
 * {@link SocketAddress} objects only when asked for. A server holds thousands
 * of idle sockets whose addresses nobody reads: an address object costs each
 * ~48 bytes, a host string the runtime already made and a port cost none.
 *
 * @module
 */

import { tcpSocketAddress, type SocketAddress } from "../address.ts";

/** A runtime socket's TCP ends, as text and port: each property read is assumed to cost (a system call). */
export interface TcpEndsSource {
  readonly localAddress?: string | undefined;
  readonly localPort?: number | undefined;
  readonly remoteAddress?: string | undefined;
  readonly remotePort?: number | undefined;
}

/**
 * Base class of a driver whose runtime forgets a socket's addresses at close
 * (see `SocketDriver.localAddress`): the ends are read once, while open, and
 * built on first use, then the same object each time. An end known without
 * asking (src/connect/known-addresses.ts), and a Unix socket's, are given at
 * construction; the read skips them.
 *
 * @example
 * ```ts
 * import { SocketEnds } from "./socket-ends.ts";
 * class Ends extends SocketEnds {
 *   constructor(socket: { remoteAddress: string; remotePort: number }) {
 *     super(undefined, false, undefined);
 *     this.readTcpEnds(socket);
 *   }
 * }
 * new Ends({ remoteAddress: "::1", remotePort: 80 }).remoteAddress; // { transport: "tcp", hostname: "::1", port: 80, family: "IPv6" }
 * ```
 */
export class SocketEnds {
  #local: SocketAddress | string | undefined = undefined;
  #remote: SocketAddress | string | undefined = undefined;
  /**
   * The ports of `#local` (high 16 bits) and `#remote` (low) while they are bare hosts: one signed 32-bit
   * integer, which an engine keeps in the field itself (a double above 2^31 would be a heap number, 16 bytes).
   */
  #ports = 0;

  /**
   * `known`: the peer of a dialled socket (`accepted` false) or the local end of an accepted one. A Unix
   * socket's listening side has its path; the dialling side is unnamed.
   */
  constructor(unixPath: string | undefined, accepted: boolean, known: SocketAddress | undefined) {
    const end = unixPath === undefined ? known : ({ transport: "unix", path: unixPath } as const);
    if (accepted) this.#local = end;
    else this.#remote = end;
  }

  get localAddress(): SocketAddress | undefined {
    const local = this.#local;
    return typeof local === "string" ? (this.#local = tcpSocketAddress(local, this.#ports >>> 16)) : local;
  }

  get remoteAddress(): SocketAddress | undefined {
    const remote = this.#remote;
    return typeof remote === "string" ? (this.#remote = tcpSocketAddress(remote, this.#ports & 0xffff)) : remote;
  }

  /** True for a Unix socket (its ends say so: no field of its own). */
  protected get isUnix(): boolean {
    const local = this.#local;
    const remote = this.#remote;
    return (typeof local === "object" && local.transport === "unix") || (typeof remote === "object" && remote.transport === "unix");
  }

  /** Reads, while the socket is open, each TCP end not known yet (none of a Unix socket's). */
  protected readTcpEnds(source: TcpEndsSource): void {
    if (this.isUnix) return;
    if (this.#local === undefined) {
      const host = source.localAddress;
      if (host) {
        this.#local = host;
        this.#ports = ((source.localPort ?? 0) << 16) | (this.#ports & 0xffff);
      }
    }
    if (this.#remote === undefined) {
      const host = source.remoteAddress;
      if (host) {
        this.#remote = host;
        this.#ports = (this.#ports & ~0xffff) | (source.remotePort ?? 0);
      }
    }
  }

  /** Hands the ends, still unbuilt, to the driver that takes the socket over (STARTTLS). */
  protected passEndsTo(next: SocketEnds): void {
    next.#local = this.#local;
    next.#remote = this.#remote;
    next.#ports = this.#ports;
  }
}
