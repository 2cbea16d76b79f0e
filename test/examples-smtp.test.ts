// examples/smtp-starttls.ts (issue #16 section 5), run as a user runs it: both ends in one process;
// its client on this runtime against its server in another process; its server against the real
// `openssl s_client -starttls smtp`. Where this runtime cannot run the server side of STARTTLS
// (Deno), the server runs on Node and the one-process run is skipped with the capability's reason.
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runBounded } from "./helpers/bounded-run.ts";
import { testCerts } from "./helpers/certs.ts";
import { runtime, transport } from "./helpers/runtime.ts";
import { sourceCommand } from "./helpers/source-command.ts";
import { root, type RuntimeName } from "./helpers/spawn.ts";

const EXAMPLE = join(root, "examples/smtp-starttls.ts");
const decoder = new TextDecoder();
const serverStartTls = transport.capabilities.serverStartTls;
/** The runtime that runs the example's server: this one, or Node where this one cannot. */
const serverRuntime: RuntimeName = serverStartTls === true ? runtime : "node";
const hasOpenssl = spawnSync("openssl", ["version"]).status === 0;

/** The example's server in its own process, once it printed its address. */
interface ServerProcess {
  readonly child: ChildProcess;
  readonly address: string;
  output(): string;
  stop(): Promise<number | null>;
}

function startServer(on: RuntimeName): Promise<ServerProcess> {
  const certs = testCerts();
  const [cmd, args] = sourceCommand(on, EXAMPLE, ["server", "0", "--cert", certs.server.certFile, "--key", certs.server.keyFile]);
  const child = spawn(cmd, args, { cwd: root, stdio: ["ignore", "pipe", "pipe"] });
  let out = "";
  let err = "";
  const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));
  return new Promise((resolve, reject) => {
    // Bounds a loaded machine's startup, not the example.
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`the ${on} SMTP server printed no address within 60 s: ${err}`));
    }, 60_000);
    child.stderr!.on("data", (d: Uint8Array) => (err += decoder.decode(d)));
    child.stdout!.on("data", (d: Uint8Array) => {
      out += decoder.decode(d);
      const address = /^smtp server on (\S+)$/m.exec(out)?.[1];
      if (address === undefined) return;
      clearTimeout(timer);
      resolve({
        child,
        address,
        output: () => `stdout: ${out}\nstderr: ${err}`,
        stop: () => (child.kill("SIGTERM"), exited),
      });
    });
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`the ${on} SMTP server exited with ${code} before printing its address: ${err}`));
    });
  });
}

describe(`examples/smtp-starttls.ts (${runtime})`, () => {
  it.skipIf(serverStartTls !== true)(`both ends in one process: the dialogue upgrades to TLS, delivers one message, and the run stops by itself${serverStartTls === true ? "" : ` (skipped: ${serverStartTls})`}`, async () => {
    const certs = testCerts();
    const [cmd, args] = sourceCommand(runtime, EXAMPLE, ["--cert", certs.server.certFile, "--key", certs.server.keyFile, "--ca", certs.caFile]);
    const result = await runBounded(cmd, args, { cwd: root, timeoutMs: 60_000 });
    const detail = `stdout: ${result.stdout}\nstderr: ${result.stderr}`;
    expect({ timedOut: result.timedOut, code: result.code }, detail).toEqual({ timedOut: false, code: 0 });
    const transcript = result.stdout.split("\n");
    // The plain-text part, the upgrade, the dialogue over TLS, in this order.
    const order = ["S: 250 STARTTLS", "S: 220 2.0.0 Ready to start TLS", "-- TLS: TLSv1.3, server certificate CN=localhost", "C: MAIL FROM:<alice@example.com>", "C: ..A line that starts with a dot.", "S: 250 2.0.0 OK: queued", "S: 221 2.0.0 Bye", "client: message sent"];
    expect(order.map((line) => transcript.indexOf(line)).every((at, i, all) => at >= 0 && (i === 0 || at > all[i - 1]!)), detail).toBe(true);
    expect(result.stdout).toContain("server: message from alice@example.com to bob@example.com, 92 bytes, over TLSv1.3");
    expect(result.stdout).toContain("server: closed after 1 connection(s)");
  }, 90_000);

  describe(`against the server in a ${serverRuntime} process`, () => {
    let server: ServerProcess;
    beforeAll(async () => {
      server = await startServer(serverRuntime);
    }, 90_000);
    afterAll(async () => {
      // SIGTERM: the example closes its server and exits 0. Deno's node:child_process reports a child it signalled
      // as killed by the signal (code null) even when the child's handler exited 0 (measured with Deno 2.9).
      const code = await server?.stop();
      if (runtime !== "deno") expect(code, server?.output()).toBe(0);
    }, 30_000);

    it(`the ${runtime} client sends a message over STARTTLS`, async () => {
      const certs = testCerts();
      const [cmd, args] = sourceCommand(runtime, EXAMPLE, ["client", server.address, "--ca", certs.caFile, "--server-name", "localhost"]);
      const result = await runBounded(cmd, args, { cwd: root, timeoutMs: 60_000 });
      const detail = `client stdout: ${result.stdout}\nclient stderr: ${result.stderr}\nserver ${server.output()}`;
      expect({ timedOut: result.timedOut, code: result.code }, detail).toEqual({ timedOut: false, code: 0 });
      // Deno reports neither the TLS version nor the certificate of a STARTTLS session.
      expect(result.stdout, detail).toContain(runtime === "deno" ? "-- TLS: up (version not reported by this runtime)\n" : "-- TLS: TLSv1.3, server certificate CN=localhost\n");
      expect(result.stdout, detail).toMatch(/S: 221 2\.0\.0 Bye\nclient: message sent\n$/);
      expect(server.output(), detail).toContain("server: message from alice@example.com to bob@example.com, 92 bytes, over TLSv1.3");
    }, 90_000);

    it("a client that does not trust the server's CA refuses it with ERR_TLS_CERT and sends nothing over TLS", async () => {
      const certs = testCerts();
      const untrusted = join(certs.dir, "other-ca.pem");
      const [cmd, args] = sourceCommand(runtime, EXAMPLE, ["client", server.address, "--ca", untrusted, "--server-name", "localhost"]);
      const result = await runBounded(cmd, args, { cwd: root, timeoutMs: 60_000 });
      const detail = `client stdout: ${result.stdout}\nclient stderr: ${result.stderr}`;
      expect({ timedOut: result.timedOut, code: result.code }, detail).toEqual({ timedOut: false, code: 1 });
      expect(result.stderr, detail).toContain("client: ERR_TLS_CERT");
      expect(result.stdout, detail).not.toContain("MAIL FROM");
    }, 90_000);

    it.skipIf(!hasOpenssl)(`openssl s_client -starttls smtp talks to it${hasOpenssl ? "" : " (skipped: the openssl CLI is not installed)"}`, async () => {
      const certs = testCerts();
      // s_client does the plain-text EHLO and STARTTLS itself, then forwards stdin (LF -> CRLF with -crlf) over TLS.
      const child = spawn(
        "openssl",
        ["s_client", "-starttls", "smtp", "-connect", server.address, "-CAfile", certs.caFile, "-servername", "localhost", "-verify_return_error", "-crlf", "-quiet"],
        { stdio: ["pipe", "pipe", "pipe"] },
      );
      let out = "";
      let err = "";
      child.stdout.on("data", (d: Uint8Array) => (out += decoder.decode(d)));
      child.stderr.on("data", (d: Uint8Array) => (err += decoder.decode(d)));
      child.stdin.end("EHLO openssl.example\nMAIL FROM:<carol@example.com>\nRCPT TO:<dave@example.com>\nDATA\nSubject: from openssl\n\n.dot-stuffed\n.\nQUIT\n");
      // The server hangs up after its 221; s_client then exits by itself.
      const timer = setTimeout(() => child.kill("SIGKILL"), 30_000);
      const code = await new Promise<number | null>((resolve) => child.on("exit", (c) => resolve(c)));
      clearTimeout(timer);
      const detail = `openssl stdout: ${out}\nopenssl stderr: ${err}\nserver ${server.output()}`;
      expect(code, detail).toBe(0);
      expect(out.split("\r\n"), detail).toEqual([
        "250-localhost greets openssl.example",
        "250 8BITMIME",
        "250 2.1.0 OK",
        "250 2.1.5 OK",
        "354 End data with <CR><LF>.<CR><LF>",
        "250 2.0.0 OK: queued",
        "221 2.0.0 Bye",
        "",
      ]);
      expect(server.output(), detail).toContain("server: message from carol@example.com to dave@example.com, 36 bytes, over TLSv1.3");
    }, 60_000);
  });
});
