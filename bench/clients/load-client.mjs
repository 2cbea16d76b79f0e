// Load generator for the scale and reconnect-storm scenarios: one Node process
// holding a share of the clients, written with node:net only, so the clients
// are the same whichever server (wireline or raw, on any runtime) they load.
// Plain JavaScript, so any Node runs it without a TypeScript loader.
//
//   node bench/clients/load-client.mjs '{"mode":"scale","port":P,"count":N,"durationMs":D,"intervalMs":1000,"lifetimeMs":L}'
//   node bench/clients/load-client.mjs '{"mode":"storm","port":P,"count":M,"lifetimeMs":L}'
//
// Talks to the parent in JSON lines: it prints {"event":"connected",...} once
// all its connections are open and waits for commands on stdin, one a line:
//   scale: "go" starts the requests; {"event":"done",...} follows after durationMs;
//   storm: "report" prints {"event":"report",...} (how many are connected now);
//   both:  "exit" (or stdin closing, or lifetimeMs passing) destroys every socket and exits.

import * as net from "node:net";
import { createInterface } from "node:readline";

const opts = JSON.parse(process.argv[2] ?? "{}");
const HOST = "127.0.0.1";
const MESSAGE = 64;
/** Connects in flight at once while opening, so the server's accept backlog does not overflow. */
const CONNECT_CONCURRENCY = 64;
/** Attempts per connection while opening before the run is declared failed. */
const CONNECT_ATTEMPTS = 5;
/** Timer resolution of the request schedule. */
const TICK_MS = 10;

const sockets = new Set();
const send = (message) => process.stdout.write(`${JSON.stringify(message)}\n`);
const fail = (why) => {
  send({ event: "error", error: String(why) });
  shutdown(2);
};

function shutdown(code = 0) {
  for (const s of sockets) s.destroy();
  sockets.clear();
  // Let stdout drain before leaving.
  process.stdout.write("", () => process.exit(code));
}

// Whatever the parent does, this process ends.
setTimeout(() => fail(`lifetime of ${opts.lifetimeMs} ms exceeded`), opts.lifetimeMs ?? 120_000).unref();

/**
 * Latencies in µs, bucketed to 2 significant digits (≤ 5 % error); the bucket
 * key is the rounded value itself, so the parent merges without knowing the scheme.
 */
const histogram = new Map();
function record(us) {
  const q = 10 ** Math.max(0, Math.floor(Math.log10(Math.max(us, 1))) - 1);
  const key = Math.round(us / q) * q;
  histogram.set(key, (histogram.get(key) ?? 0) + 1);
}

function connectOnce() {
  return new Promise((resolve, reject) => {
    const s = net.connect({ host: HOST, port: opts.port, noDelay: true });
    s.once("error", reject);
    s.once("connect", () => {
      s.off("error", reject);
      resolve(s);
    });
  });
}

async function openAll(count, setup) {
  let next = 0;
  let retries = 0;
  const worker = async () => {
    while (next < count) {
      const i = next++;
      for (let attempt = 1; ; attempt++) {
        try {
          const s = await connectOnce();
          sockets.add(s);
          setup(s, i);
          break;
        } catch (e) {
          retries++;
          if (attempt >= CONNECT_ATTEMPTS) throw new Error(`connection ${i}: ${e.code ?? e.message} after ${attempt} attempts`);
          await new Promise((r) => setTimeout(r, 20 * attempt));
        }
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(CONNECT_CONCURRENCY, count) }, worker));
  return retries;
}

// --- scale: each connection sends 64 B every intervalMs and times the 64 B reply.

async function scale() {
  const interval = opts.intervalMs ?? 1000;
  const slots = Math.max(1, Math.round(interval / TICK_MS));
  const conns = [];
  const message = Buffer.alloc(MESSAGE, 0x61);
  let sent = 0;
  let received = 0;
  let late = 0;
  let closed = 0;
  let running = false;
  const retries = await openAll(opts.count, (s, i) => {
    const c = { s, t: 0, got: 0, waiting: false };
    conns[i] = c;
    s.on("data", (chunk) => {
      c.got += chunk.length;
      while (c.waiting && c.got >= MESSAGE) {
        c.got -= MESSAGE;
        c.waiting = false;
        received++;
        record((performance.now() - c.t) * 1000);
      }
    });
    s.on("error", () => {});
    s.on("close", () => {
      sockets.delete(s);
      if (running) closed++;
    });
  });
  send({ event: "connected", count: conns.length, retries });
  await command("go");
  running = true;
  // Spread the connections over the interval: slot k sends on tick k of every interval.
  let tick = 0;
  const timer = setInterval(() => {
    const slot = tick++ % slots;
    for (let i = slot; i < conns.length; i += slots) {
      const c = conns[i];
      if (c.s.destroyed) continue;
      if (c.waiting) {
        late++; // the previous reply is not back yet: skip a beat rather than pile up
        continue;
      }
      c.waiting = true;
      c.t = performance.now();
      sent++;
      c.s.write(message);
    }
  }, TICK_MS);
  await new Promise((r) => setTimeout(r, opts.durationMs));
  clearInterval(timer);
  // Replies still in flight get a bounded grace period.
  const until = performance.now() + 2000;
  while (received < sent && performance.now() < until) await new Promise((r) => setTimeout(r, 20));
  running = false;
  send({ event: "done", sent, received, late, closed, histogram: [...histogram] });
  await command("exit");
  shutdown(0);
}

// --- storm: keep every connection up; on loss, reconnect with capped exponential backoff and full jitter.
//
// A client counts as up only once a 1-byte hello has come back on its connection: when the server's
// accept queue overflows, Linux drops the handshake's last ACK and the client believes it is connected
// while the server never accepted it. A hello not answered within HELLO_TIMEOUT_MS makes the client
// drop that connection and reconnect, as a careful client would.

const BACKOFF_BASE_MS = 50;
const BACKOFF_CAP_MS = 1000;
const HELLO_TIMEOUT_MS = 2000;
/** Clients started at once while opening. */
const OPEN_BATCH = 64;

async function storm() {
  const clients = [];
  let refused = 0;
  let otherErrors = 0;
  let helloTimeouts = 0;
  let stopping = false;
  const connectClient = (c) => {
    const s = net.connect({ host: HOST, port: opts.port, noDelay: true });
    sockets.add(s);
    let hello;
    s.on("connect", () => {
      s.write("h");
      hello = setTimeout(() => {
        helloTimeouts++;
        s.destroy();
      }, HELLO_TIMEOUT_MS);
    });
    s.on("data", () => {
      if (c.up) return;
      clearTimeout(hello);
      c.up = true;
      c.attempt = 0;
      c.connects++;
      c.onUp?.();
    });
    s.on("error", (e) => {
      if (e.code === "ECONNREFUSED") refused++;
      else if (e.code !== "ECONNRESET" && e.code !== "EPIPE") otherErrors++;
    });
    s.on("close", () => {
      clearTimeout(hello);
      sockets.delete(s);
      c.up = false;
      if (stopping) return;
      const delay = Math.random() * Math.min(BACKOFF_CAP_MS, BACKOFF_BASE_MS * 2 ** c.attempt++);
      c.timer = setTimeout(() => connectClient(c), delay);
    });
  };
  for (let i = 0; i < opts.count; i += OPEN_BATCH) {
    const batch = [];
    for (let j = i; j < Math.min(opts.count, i + OPEN_BATCH); j++) {
      const c = { up: false, attempt: 0, connects: 0, timer: undefined, onUp: undefined };
      clients.push(c);
      batch.push(new Promise((resolve) => (c.onUp = resolve)));
      connectClient(c);
    }
    await Promise.all(batch);
  }
  for (const c of clients) c.onUp = undefined;
  send({ event: "connected", count: clients.length, retries: refused + helloTimeouts + otherErrors });
  for (;;) {
    const line = await command();
    if (line === "report") {
      let up = 0;
      let reconnected = 0;
      let stuck = 0;
      for (const c of clients) {
        if (c.up) up++;
        if (c.connects >= 2) reconnected++;
        // Stuck: not up now, or never came back after the server's restart.
        if (!c.up || c.connects < 2) stuck++;
      }
      send({ event: "report", up, reconnected, stuck, refused, otherErrors, helloTimeouts });
    } else if (line === "exit") {
      stopping = true;
      for (const c of clients) clearTimeout(c.timer);
      shutdown(0);
      return;
    }
  }
}

// --- stdin commands

const lines = [];
let wake;
createInterface({ input: process.stdin })
  .on("line", (line) => {
    lines.push(line.trim());
    wake?.();
  })
  .on("close", () => shutdown(0)); // the parent is gone

async function command(expected) {
  for (;;) {
    while (lines.length) {
      const line = lines.shift();
      if (line === "exit" && expected !== "exit" && expected !== undefined) {
        shutdown(0);
        return new Promise(() => {});
      }
      if (expected === undefined || line === expected) return line;
    }
    await new Promise((r) => (wake = r));
  }
}

(opts.mode === "scale" ? scale() : opts.mode === "storm" ? storm() : Promise.reject(new Error(`unknown mode ${opts.mode}`))).catch(fail);
