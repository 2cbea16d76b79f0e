// Server-side STARTTLS against a foreign client: `openssl s_client -starttls smtp`
// speaks the SMTP preamble in plain text, then sends its ClientHello right after
// our "220", racing the server's own startTls() call (issue #11).
import { spawn, spawnSync } from "node:child_process";
import { describe, expect, it } from "vitest";
import type { Connection, NetError } from "../src/mod.ts";
import { testCerts } from "./helpers/certs.ts";
import { listen, portOf, runtime, transport } from "./helpers/runtime.ts";

const decoder = new TextDecoder();
const hasOpenssl = spawnSync("openssl", ["version"]).status === 0;
const serverStartTls = transport.capabilities.serverStartTls;
const skipReason = !hasOpenssl ? "the openssl CLI is not installed" : serverStartTls !== true ? `server STARTTLS unsupported: ${serverStartTls}` : undefined;
if (skipReason) console.warn(`test/starttls-openssl.test.ts skipped on ${runtime}: ${skipReason}`);

/** Reads one CRLF- or LF-terminated line; `rest` carries what came after it. */
async function readLine(conn: Connection, rest: { text: string }): Promise<string> {
  for (;;) {
    const end = rest.text.indexOf("\n");
    if (end >= 0) {
      const line = rest.text.slice(0, end + 1);
      rest.text = rest.text.slice(end + 1);
      return line.trimEnd();
    }
    const next = await conn[Symbol.asyncIterator]().next();
    if (next.done) throw new Error(`closed while reading a line (had "${rest.text}")`);
    rest.text += decoder.decode(next.value);
  }
}

interface Outcome {
  error?: unknown;
  echoed?: string;
}

/**
 * A minimal SMTP-ish server: greeting, EHLO, STARTTLS, then echoes one line
 * over TLS. `afterGoAhead` runs between the "220" and startTls().
 */
async function smtpServer(outcome: Outcome, afterGoAhead: (conn: Connection) => Promise<void>) {
  const certs = testCerts();
  return listen({ hostname: "127.0.0.1", port: 0 }, async (conn) => {
    try {
      const rest = { text: "" };
      await conn.write("220 wireline ESMTP\r\n");
      expect(await readLine(conn, rest)).toMatch(/^EHLO /);
      await conn.write("250-wireline\r\n250 STARTTLS\r\n");
      expect(await readLine(conn, rest)).toBe("STARTTLS");
      await conn.write("220 go ahead\r\n");
      await afterGoAhead(conn);
      const secure = await conn.startTls({ isServer: true, cert: certs.server.cert, key: certs.server.key });
      const line = await readLine(secure, { text: "" });
      outcome.echoed = line;
      await secure.write(`${line}\n`);
      await secure.close();
    } catch (error) {
      outcome.error = error;
      conn.destroy();
    }
  });
}

/** Runs `openssl s_client -starttls smtp` against `port`, sends one line, and returns what came back (bounded). */
async function opensslSmtpClient(port: number): Promise<{ out: string; err: string }> {
  const certs = testCerts();
  const child = spawn(
    "openssl",
    ["s_client", "-starttls", "smtp", "-connect", `127.0.0.1:${port}`, "-CAfile", certs.caFile, "-servername", "localhost", "-verify_return_error", "-quiet"],
    { stdio: ["pipe", "pipe", "pipe"] },
  );
  let out = "";
  let err = "";
  child.stderr.on("data", (d: Uint8Array) => (err += decoder.decode(d)));
  child.stdout.on("data", (d: Uint8Array) => {
    out += decoder.decode(d);
    if (out.includes("hello over starttls\n")) child.kill("SIGTERM");
  });
  // s_client forwards stdin once the TLS session is up; the pipe holds it until then.
  child.stdin.write("hello over starttls\n");
  const timer = setTimeout(() => child.kill("SIGKILL"), 15_000);
  await new Promise<void>((resolve) => child.on("exit", () => resolve()));
  clearTimeout(timer);
  return { out, err };
}

describe.skipIf(skipReason !== undefined)(`server STARTTLS against openssl s_client -starttls smtp (${runtime})`, () => {
  it("upgrades and echoes a line over TLS", async () => {
    const outcome: Outcome = {};
    await using server = await smtpServer(outcome, async () => {});
    const { out, err } = await opensslSmtpClient(portOf(server.address));
    expect({ out, error: outcome.error }, `openssl said: ${err}`).toEqual({ out: "hello over starttls\n", error: undefined });
    expect(outcome.echoed).toBe("hello over starttls");
  });

  // The client sends its ClientHello as soon as it reads "220": a server that awaits anything
  // before startTls() (loading its certificate, say) may have read those bytes already; here the
  // server waits until they arrived. They are handed to the TLS layer; Bun's upgradeTLS cannot take
  // bytes already read, so there the upgrade fails with ERR_TLS and says how to avoid the race.
  it("upgrades when the ClientHello arrived before startTls() was called", async () => {
    const outcome: Outcome = {};
    await using server = await smtpServer(outcome, async (conn) => {
      const before = conn.bytesRead;
      for (let i = 0; i < 1000 && conn.bytesRead === before; i++) await new Promise((resolve) => setTimeout(resolve, 5));
    });
    const { out, err } = await opensslSmtpClient(portOf(server.address));
    if (runtime === "bun") {
      const error = outcome.error as NetError | undefined;
      expect(error?.code).toBe("ERR_TLS");
      expect(error?.message).toContain("pause()");
      return;
    }
    expect({ out, error: outcome.error }, `openssl said: ${err}`).toEqual({ out: "hello over starttls\n", error: undefined });
  });
});
