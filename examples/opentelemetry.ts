// Exports wireline's metrics to OpenTelemetry by subscribing to its diagnostics channels: wireline
// itself knows nothing of OpenTelemetry, and costs nothing while nobody subscribes.
//
//   npm install @opentelemetry/api        (plus an SDK and exporter of your choice in your app)
//   npx tsx opentelemetry.ts              (Node 22.18+ and 24: node; or deno run -A / bun)
// Inside this repository, "wireline" is the sources: npm run example -- examples/opentelemetry.ts
//
// Used as a module: instrumentWireline(metrics.getMeter("wireline")) once, after your SDK's
// MeterProvider is registered. Run directly, it counts into a small in-memory meter and prints it.
import dc from "node:diagnostics_channel";
import { pathToFileURL } from "node:url";
import { metrics, type Attributes, type Counter, type Histogram, type Meter } from "@opentelemetry/api";
import { connect, listen, reconnecting, type NetError } from "wireline";

/** The part of a Meter this example uses. */
export type WirelineMeter = Pick<Meter, "createCounter" | "createHistogram">;

type Message = Record<string, unknown>;

/**
 * Records wireline's diagnostics events as OpenTelemetry metrics; returns a function that
 * unsubscribes. Durations are histograms in ms, everything else counters, with the error code,
 * refusal reason or TLS side as attributes.
 */
export function instrumentWireline(meter: WirelineMeter = metrics.getMeter("wireline")): () => void {
  const connectDuration = meter.createHistogram("wireline.connect.duration", { unit: "ms", description: "connect() until open or failed" });
  const handshakeDuration = meter.createHistogram("wireline.tls.handshake.duration", { unit: "ms", description: "TLS handshakes, client and server" });
  const accepted = meter.createCounter("wireline.server.accepted", { description: "sockets accepted by servers" });
  const refused = meter.createCounter("wireline.server.refused", { description: "connections closed unserved" });
  const filtered = meter.createCounter("wireline.server.filtered", { description: "connections a filter rejected" });
  const attempts = meter.createCounter("wireline.reconnect.attempts", { description: "reconnecting clients' connect attempts" });
  const retries = meter.createCounter("wireline.reconnect.retries", { description: "failed attempts or lost connections, retried" });
  const opens = meter.createCounter("wireline.reconnect.opens", { description: "reconnecting clients' connections opened" });
  const stale = meter.createCounter("wireline.reconnect.stale", { description: "connections declared dead" });
  const droppedWrites = meter.createCounter("wireline.client.dropped.writes", { description: "writes lost by reconnecting clients" });
  const droppedBytes = meter.createCounter("wireline.client.dropped.bytes", { unit: "By" });
  const timeouts = meter.createCounter("wireline.request.timeouts", { description: "requests without a reply in time" });

  const code = (error: unknown): string => (error as NetError | undefined)?.code ?? "none";
  const handlers: Record<string, (m: Message) => void> = {
    "wireline:connect:end": (m) => connectDuration.record(m.duration as number, { outcome: "open", tls: m.tls as boolean }),
    "wireline:connect:error": (m) => connectDuration.record(m.duration as number, { outcome: "error", "error.code": code(m.error) }),
    "wireline:tls:handshake": (m) => handshakeDuration.record(m.duration as number, { side: m.side as string, "error.code": code(m.error) }),
    "wireline:server:accept": () => accepted.add(1),
    "wireline:server:refuse": (m) => refused.add(1, { reason: m.reason as string }),
    "wireline:server:filter": (m) => filtered.add(1, { "error.code": code(m.error) }),
    "wireline:reconnect:attempt": () => attempts.add(1),
    "wireline:reconnect:backoff": (m) => retries.add(1, { "error.code": code(m.error) }),
    "wireline:reconnect:open": () => opens.add(1),
    "wireline:reconnect:stale": (m) => stale.add(1, { reason: m.reason as string }),
    "wireline:queue:drop": (m) => {
      const attributes: Attributes = { "error.code": code(m.reason), resolved: m.resolved as boolean };
      droppedWrites.add(m.count as number, attributes);
      droppedBytes.add(m.bytes as number, attributes);
    },
    "wireline:request:timeout": (m) => timeouts.add(1, { sent: m.sent as boolean }),
  };
  const subscriptions = Object.entries(handlers).map(([name, handle]) => {
    const listener = (message: unknown): void => handle(message as Message);
    dc.subscribe(name, listener);
    return () => dc.unsubscribe(name, listener);
  });
  return () => subscriptions.forEach((unsubscribe) => unsubscribe());
}

/** A stand-in for an SDK's meter, so that the demo can print what an exporter would receive. */
function printingMeter(totals: Map<string, number>): WirelineMeter {
  const key = (name: string, attributes: Attributes | undefined): string => `${name} ${JSON.stringify(attributes ?? {})}`;
  const add = (name: string) => (value: number, attributes?: Attributes) => void totals.set(key(name, attributes), (totals.get(key(name, attributes)) ?? 0) + value);
  return {
    createCounter: (name: string) => ({ add: add(name) }) as Counter,
    createHistogram: (name: string) => ({ record: (_value: number, attributes?: Attributes) => add(`${name} (count)`)(1, attributes) }) as Histogram,
  };
}

async function demo(): Promise<void> {
  const totals = new Map<string, number>();
  const stop = instrumentWireline(printingMeter(totals));
  let release = (): void => {};
  const held = new Promise<void>((resolve) => (release = resolve));
  const server = await listen({ hostname: "127.0.0.1", port: 0, maxConnections: 1, maxQueued: 0 }, () => held);
  const port = server.address.transport === "tcp" ? server.address.port : 0;
  const first = await connect(`127.0.0.1:${port}`); // served (held)
  const second = await connect(`127.0.0.1:${port}`); // refused: the server is full
  await second.closed;
  release();
  first.destroy();
  const client = reconnecting(`127.0.0.1:${port}`);
  await client.opened;
  await client.close();
  await server.close();
  await connect(`127.0.0.1:${port}`).catch(() => {}); // ECONNREFUSED: nobody listens any more
  stop();
  for (const [series, value] of [...totals].sort()) console.log(`${series} ${value}`);
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? "").href) await demo();
