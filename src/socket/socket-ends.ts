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
 * asking (src/connect/known-addresses.ts) is assigned before the read, which
 * then skips it.
 *
 * @example
 * ```ts
 * import { SocketEnds } from "./socket-ends.ts";
 * class Ends extends SocketEnds {
 *   constructor(socket: { remoteAddress: string; remotePort: number }) {
 *     super();
 *     this.readTcpEnds(socket);
 *   }
 * }
 * new Ends({ remoteAddress: "::1", remotePort: 80 }).remoteAddress; // { transport: "tcp", hostname: "::1", port: 80, family: "IPv6" }
 * ```
 */
export class SocketEnds {
  #local: SocketAddress | string | undefined = undefined;
  #remote: SocketAddress | string | undefined = undefined;
  /** The ports of `#local` (high 16 bits) and `#remote` (low) while they are bare hosts. */
  #ports = 0;

  get localAddress(): SocketAddress | undefined {
    const local = this.#local;
    return typeof local === "string" ? (this.#local = tcpSocketAddress(local, Math.floor(this.#ports / 0x10000))) : local;
  }

  set localAddress(address: SocketAddress | undefined) {
    this.#local = address;
  }

  get remoteAddress(): SocketAddress | undefined {
    const remote = this.#remote;
    return typeof remote === "string" ? (this.#remote = tcpSocketAddress(remote, this.#ports % 0x10000)) : remote;
  }

  set remoteAddress(address: SocketAddress | undefined) {
    this.#remote = address;
  }

  /** Reads, while the socket is open, each TCP end not known yet. */
  protected readTcpEnds(source: TcpEndsSource): void {
    if (this.#local === undefined) {
      const host = source.localAddress;
      if (host) {
        this.#local = host;
        this.#ports = (source.localPort ?? 0) * 0x10000 + (this.#ports % 0x10000);
      }
    }
    if (this.#remote === undefined) {
      const host = source.remoteAddress;
      if (host) {
        this.#remote = host;
        this.#ports = this.#ports - (this.#ports % 0x10000) + (source.remotePort ?? 0);
      }
    }
  }

  /** A Unix socket's ends: the listening side's is the path, the dialling side is unnamed. */
  protected setUnixEnds(path: string, accepted: boolean): void {
    const named: SocketAddress = { transport: "unix", path };
    if (accepted) this.#local = named;
    else this.#remote = named;
  }

  /** Hands the ends, still unbuilt, to the driver that takes the socket over (STARTTLS). */
  protected passEndsTo(next: SocketEnds): void {
    next.#local = this.#local;
    next.#remote = this.#remote;
    next.#ports = this.#ports;
  }
}
