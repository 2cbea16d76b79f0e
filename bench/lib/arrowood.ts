/**
 * Optional import of `@arrowood.dev/socket` (the WinterTC-style `connect()`
 * for Node), so the Node alternatives skip cleanly when it is not installed.
 *
 * @module
 */

/** The part of the package the benchmarks use. */
export interface ArrowoodSocket {
  readonly readable: ReadableStream<Uint8Array>;
  readonly writable: WritableStream<Uint8Array>;
  readonly closed: Promise<void>;
  close(): Promise<void>;
}

/** The package's module. */
export interface ArrowoodModule {
  connect(address: { hostname: string; port: number }): ArrowoodSocket;
}

let loaded: Promise<ArrowoodModule | undefined> | undefined;

/** The package, or undefined if it is not installed. */
export function loadArrowood(): Promise<ArrowoodModule | undefined> {
  // A variable specifier: the package is optional, so neither tsc nor the runtimes may resolve it eagerly.
  const name = "@arrowood.dev/socket";
  return (loaded ??= import(name).then(
    (mod: { default?: ArrowoodModule } & Partial<ArrowoodModule>) => (mod.connect ? (mod as ArrowoodModule) : mod.default),
    () => undefined,
  ));
}
