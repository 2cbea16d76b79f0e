/**
 * A real framing peer for the small-messages scenario on Node:
 * `it-length-prefixed` (libp2p's length-prefixed framing) over `node:net`.
 * The sender encodes each message with `encode.single` and writes it, with
 * backpressure; the receiver runs `decode` over the socket's async iterator.
 * The length prefix is the scenario's 4-byte big-endian one (not the
 * package's default varint), so the bytes on the wire are the same as
 * wireline's. Skipped when the package is not installed.
 *
 * @module
 */

import type * as nodeNet from "node:net";
import { nodeClose, nodeConnect, nodeListen } from "./node-net.ts";
import { now } from "./platform.ts";
import type { Measurement, Variant } from "./scenario.ts";

/** The part of the package the variant uses. */
interface Uint8ArrayListLike {
  readonly byteLength: number;
  getUint32(offset: number): number;
  subarray(): Uint8Array;
}
interface LengthEncoder {
  (value: number): Uint8Array;
  bytes: number;
}
interface LengthDecoder {
  (data: Uint8ArrayListLike): number;
  bytes: number;
}
interface ItLengthPrefixed {
  encode: { single(chunk: Uint8Array, options: { lengthEncoder: LengthEncoder }): Uint8ArrayListLike };
  decode(source: AsyncIterable<Uint8Array>, options: { lengthDecoder: LengthDecoder }): AsyncIterable<Uint8ArrayListLike>;
}

const HEADER = 4;

const lengthEncoder: LengthEncoder = Object.assign(
  (value: number): Uint8Array => {
    const header = new Uint8Array(HEADER);
    new DataView(header.buffer).setUint32(0, value);
    return header;
  },
  { bytes: HEADER },
);

const lengthDecoder: LengthDecoder = Object.assign(
  (data: Uint8ArrayListLike): number => {
    // The package waits for more bytes when the decoder throws a RangeError.
    if (data.byteLength < HEADER) throw new RangeError("length prefix incomplete");
    return data.getUint32(0);
  },
  { bytes: HEADER },
);

let loaded: Promise<ItLengthPrefixed | undefined> | undefined;

function load(): Promise<ItLengthPrefixed | undefined> {
  // A variable specifier: the package is a devDependency that may be absent, so it must not be resolved eagerly.
  const name = "it-length-prefixed";
  return (loaded ??= import(name).then(
    (mod: ItLengthPrefixed) => mod,
    () => undefined,
  ));
}

async function run(count: number, payload: Uint8Array): Promise<Measurement> {
  const lp = (await load())!;
  let resolveDone!: () => void;
  const done = new Promise<void>((r) => (resolveDone = r));
  const { server, port } = await nodeListen((socket) => {
    void (async () => {
      let seen = 0;
      for await (const _frame of lp.decode(socket as AsyncIterable<Uint8Array>, { lengthDecoder })) {
        if (++seen === count) resolveDone();
      }
    })().catch(() => {});
  });
  const socket: nodeNet.Socket = await nodeConnect(port);
  let i = 0;
  const pump = (): void => {
    while (i < count) {
      i++;
      // subarray() joins the prefix and the payload into one buffer: one write per message, as the raw sender does.
      if (!socket.write(lp.encode.single(payload, { lengthEncoder }).subarray())) {
        socket.once("drain", pump);
        return;
      }
    }
  };
  const t0 = now();
  pump();
  await done;
  const ms = now() - t0;
  socket.destroy();
  nodeClose(server);
  return { value: count / (ms / 1000), extra: { count, ms } };
}

/** The it-length-prefixed variant of the small-messages scenario, sending `payload` each time. */
export function itLengthPrefixedVariant(payload: Uint8Array): Variant {
  return {
    name: "node-it-length-prefixed",
    role: "alternative",
    label: "it-length-prefixed over node:net",
    runtimes: ["node"],
    unavailable: async () => ((await load()) ? undefined : "it-length-prefixed is not installed"),
    run: (_net, size) => run(size, payload),
  };
}
