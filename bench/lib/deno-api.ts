/**
 * The slice of the Deno namespace the raw Deno variants use, typed locally:
 * the repo's tsconfig (shared with Node and Bun) has no Deno lib.
 *
 * @module
 */

/** `Deno.TcpConn` as the benchmarks use it. */
export interface DenoConn {
  read(p: Uint8Array): Promise<number | null>;
  write(p: Uint8Array): Promise<number>;
  closeWrite(): Promise<void>;
  close(): void;
  setNoDelay(noDelay?: boolean): void;
  readonly readable: ReadableStream<Uint8Array>;
  readonly writable: WritableStream<Uint8Array>;
}

/** `Deno.Listener` for TCP. */
export interface DenoListener {
  readonly addr: { port: number };
  accept(): Promise<DenoConn>;
  close(): void;
}

/** `Deno` itself. */
export interface DenoApi {
  readonly version: { deno: string; v8: string };
  connect(options: { hostname: string; port: number }): Promise<DenoConn>;
  listen(options: { hostname: string; port: number }): DenoListener;
  memoryUsage(): { rss: number; heapUsed: number };
  exit(code: number): never;
}

/** Writes all of `data`, looping over Deno's partial writes. */
export async function writeAll(conn: DenoConn, data: Uint8Array): Promise<void> {
  let off = 0;
  while (off < data.length) off += await conn.write(off === 0 ? data : data.subarray(off));
}
