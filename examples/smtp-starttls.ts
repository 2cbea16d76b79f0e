// SMTP with STARTTLS (RFC 3207), both ends: the server greets in plain text, advertises STARTTLS,
// upgrades the connection it already has, and takes one message over TLS; the client does the same
// dialogue from its side. Lines are framed(conn, lines()) channels, one before and one after the upgrade.
//
//   npx tsx smtp-starttls.ts --cert cert.pem --key key.pem --ca ca.pem    both ends in one process: prints the dialogue, stops
//   npx tsx smtp-starttls.ts server 2525 --cert cert.pem --key key.pem    serves until Ctrl-C
//   npx tsx smtp-starttls.ts client 127.0.0.1:2525 --ca ca.pem            sends one message
//   (Node 22.18+ and 24: `node smtp-starttls.ts ...`; also deno run -A smtp-starttls.ts ... and bun smtp-starttls.ts ...)
// Inside this repository, "wireline" is the sources: npm run example -- examples/smtp-starttls.ts ...
// (or example:deno, example:bun).
//
// Certificates are files you make, never generated here: --cert/--key/--ca, or SMTP_CERT, SMTP_KEY
// and SMTP_CA (PEM paths; the certificate must name the host the client dials, --ca the CA that signed
// it). Deno can be the client only: it cannot run the server side of a TLS handshake on a connection
// it accepted. Talk to the server by hand with
//   openssl s_client -starttls smtp -connect 127.0.0.1:2525 -CAfile ca.pem -crlf -quiet
import { readFileSync } from "node:fs";
import process from "node:process";
import { connect, framed, lines, listen, NetError, type Connection, type FramedChannel, type Server } from "wireline";

const HOSTNAME = "localhost";
/** RFC 5321 4.5.3.1.6: a text line is at most 998 octets before its CRLF. */
const smtpLines = () => lines({ delimiter: "\r\n", maxLength: 998 });
/** Bounds what one message may hold in the server's memory (RFC 1870 would advertise it as SIZE). */
const MAX_MESSAGE_BYTES = 64 * 1024;
const MAX_RECIPIENTS = 10;

// ---------------------------------------------------------------------------------------------
// Server

/** What the server hands on: one accepted message. */
interface ReceivedMail {
  readonly from: string;
  readonly to: readonly string[];
  readonly body: string;
  readonly tlsVersion: string | undefined;
}

/** Serves SMTP on `port` (0: any free port); every message received over TLS goes to `deliver`. */
function smtpServer(port: number, tls: { cert: string; key: string }, deliver: (mail: ReceivedMail) => void): Promise<Server> {
  return listen({ hostname: "127.0.0.1", port, idleTimeout: { all: 60_000 } }, async (conn) => {
    try {
      await plainSession(conn, tls, deliver);
    } catch (error) {
      // A peer that hangs up, sends an over-long line or fails the handshake: this connection ends, the server goes on.
      console.error(`smtp server: ${(error as Error).message}`);
      conn.destroy();
    }
  });
}

/** The plain-text part: nothing but EHLO, STARTTLS, NOOP and QUIT before the upgrade. */
async function plainSession(conn: Connection, tls: { cert: string; key: string }, deliver: (mail: ReceivedMail) => void): Promise<void> {
  const channel = framed(conn, smtpLines());
  const commands = channel[Symbol.asyncIterator]();
  await channel.send(`220 ${HOSTNAME} ESMTP wireline example`);
  for (let next = await commands.next(); !next.done; next = await commands.next()) {
    const [verb = "", arg = ""] = splitCommand(next.value);
    if (verb === "EHLO") await reply(channel, `250-${HOSTNAME} greets ${arg}`, "250-8BITMIME", "250 STARTTLS");
    else if (verb === "HELO") await channel.send(`250 ${HOSTNAME}`);
    else if (verb === "NOOP") await channel.send("250 2.0.0 OK");
    else if (verb === "QUIT") return void (await channel.send("221 2.0.0 Bye"), await channel.close());
    else if (verb !== "STARTTLS") await channel.send("530 5.7.0 Must issue a STARTTLS command first");
    else {
      // The client sends its ClientHello as soon as it reads the 220: paused, the socket keeps it for the
      // TLS layer (Bun's upgrade cannot take bytes read before it; elsewhere the pause costs nothing).
      conn.pause();
      await channel.send("220 2.0.0 Ready to start TLS");
      // Lines pipelined after STARTTLS are never acted on (the injection of CVE-2011-0411): they stay in the
      // old channel, dropped with it, or reach the TLS layer as a broken ClientHello.
      const secure = await conn.startTls({ isServer: true, cert: tls.cert, key: tls.key });
      return await secureSession(secure, deliver).catch((error: unknown) => {
        secure.destroy();
        throw error;
      });
    }
  }
}

/** After the upgrade the dialogue starts over (RFC 3207 4.2): EHLO, then MAIL, RCPT, DATA. */
async function secureSession(conn: Connection, deliver: (mail: ReceivedMail) => void): Promise<void> {
  const channel = framed(conn, smtpLines());
  const commands = channel[Symbol.asyncIterator]();
  let from: string | undefined;
  let to: string[] = [];
  for (let next = await commands.next(); !next.done; next = await commands.next()) {
    const [verb = "", arg = ""] = splitCommand(next.value);
    if (verb === "EHLO") await reply(channel, `250-${HOSTNAME} greets ${arg}`, "250 8BITMIME");
    else if (verb === "HELO") await channel.send(`250 ${HOSTNAME}`);
    else if (verb === "NOOP") await channel.send("250 2.0.0 OK");
    else if (verb === "RSET") (from = undefined), (to = []), await channel.send("250 2.0.0 OK");
    else if (verb === "QUIT") return void (await channel.send("221 2.0.0 Bye"), await channel.close());
    else if (verb === "STARTTLS") await channel.send("503 5.5.1 TLS already active");
    else if (verb === "MAIL" && /^FROM:/i.test(arg)) (from = path(arg)), (to = []), await channel.send("250 2.1.0 OK");
    else if (verb === "RCPT" && /^TO:/i.test(arg)) {
      if (from === undefined) await channel.send("503 5.5.1 MAIL first");
      else if (to.length >= MAX_RECIPIENTS) await channel.send("452 4.5.3 Too many recipients");
      else to.push(path(arg)), await channel.send("250 2.1.5 OK");
    } else if (verb === "DATA") {
      if (from === undefined || to.length === 0) {
        await channel.send("503 5.5.1 RCPT first");
        continue;
      }
      await channel.send("354 End data with <CR><LF>.<CR><LF>");
      const body = await readData(commands);
      if (body === undefined) await channel.send(`552 5.3.4 Message larger than ${MAX_MESSAGE_BYTES} bytes`);
      else deliver({ from, to, body, tlsVersion: conn.tlsVersion }), await channel.send("250 2.0.0 OK: queued");
      (from = undefined), (to = []);
    } else await channel.send("500 5.5.2 Command not recognized");
  }
}

/** The message up to the line ".", dot-unstuffed; undefined once it grew past MAX_MESSAGE_BYTES (the rest is read and dropped). */
async function readData(commands: AsyncIterator<string>): Promise<string | undefined> {
  const body: string[] = [];
  let bytes = 0;
  for (let next = await commands.next(); !next.done; next = await commands.next()) {
    if (next.value === ".") return bytes > MAX_MESSAGE_BYTES ? undefined : body.join("\r\n");
    bytes += next.value.length + 2;
    if (bytes <= MAX_MESSAGE_BYTES) body.push(next.value.startsWith(".") ? next.value.slice(1) : next.value);
  }
  throw new NetError("ECONNRESET", "the client left in the middle of DATA");
}

/** A multi-line reply: sends in one tick go out in one write. */
function reply(channel: FramedChannel<string>, ...replyLines: string[]): Promise<unknown> {
  return Promise.all(replyLines.map((line) => channel.send(line)));
}

function splitCommand(line: string): [string, string] {
  const space = line.indexOf(" ");
  return space < 0 ? [line.toUpperCase(), ""] : [line.slice(0, space).toUpperCase(), line.slice(space + 1).trim()];
}

/** The address in `FROM:<a@example.com>` or `TO:<b@example.com>`. */
function path(arg: string): string {
  return arg.slice(arg.indexOf(":") + 1).trim().replace(/^<(.*)>.*$/, "$1");
}

// ---------------------------------------------------------------------------------------------
// Client

/** One message to send. */
interface OutgoingMail {
  readonly from: string;
  readonly to: readonly string[];
  readonly body: string;
}

/**
 * Sends `mail` to the server at `address` ("host:port") after upgrading to TLS; refuses to send
 * anything if the server does not offer STARTTLS. `log` sees every line of the dialogue.
 */
async function sendMail(address: string, tls: { ca: string; serverName?: string }, mail: OutgoingMail, log: (line: string) => void): Promise<void> {
  const plain = await connect(address);
  const before = replyReader(framed(plain, smtpLines()), log);
  await before.expect(220);
  await before.command("EHLO client.example", 250, (reply) => {
    if (!reply.some((line) => line.slice(4).toUpperCase() === "STARTTLS")) throw new NetError("ERR_TLS", "the server does not offer STARTTLS");
  });
  await before.command("STARTTLS", 220);
  // Verified against `ca` for `serverName` (default: the host dialled); a refusal rejects with ERR_TLS_CERT.
  const secure = await plain.startTls({ serverName: tls.serverName, ca: tls.ca });
  // Deno reports neither the version nor the certificate of a STARTTLS session (the handshake verified it all the same).
  const subject = secure.peerCertificate?.subject;
  log(`-- TLS: ${secure.tlsVersion ?? "up (version not reported by this runtime)"}${subject === undefined ? "" : `, server certificate ${subject}`}`);
  const after = replyReader(framed(secure, smtpLines()), log);
  try {
    await after.command("EHLO client.example", 250);
    await after.command(`MAIL FROM:<${mail.from}>`, 250);
    for (const to of mail.to) await after.command(`RCPT TO:<${to}>`, 250);
    await after.command("DATA", 354);
    const stuffed = mail.body.split(/\r?\n/).map((line) => (line.startsWith(".") ? `.${line}` : line));
    await after.command([...stuffed, "."], 250);
    await after.command("QUIT", 221);
  } finally {
    await after.close();
  }
}

/** Sends commands and reads replies, multi-line ones ("250-...", then "250 ...") whole. */
function replyReader(channel: FramedChannel<string>, log: (line: string) => void) {
  const replies = channel[Symbol.asyncIterator]();
  const expect = async (code: number, check?: (reply: string[]) => void): Promise<string[]> => {
    const reply: string[] = [];
    for (;;) {
      const next = await replies.next();
      if (next.done) throw new NetError("ECONNRESET", `the server closed the connection while ${code} was expected`);
      log(`S: ${next.value}`);
      reply.push(next.value);
      if (next.value[3] !== "-") break;
    }
    if (!reply[0]!.startsWith(String(code))) throw new Error(`expected ${code}, the server said: ${reply.join(" / ")}`);
    check?.(reply);
    return reply;
  };
  return {
    expect,
    /** Sends a command (or a message's lines, sent in one write) and reads the reply. */
    async command(line: string | string[], code: number, check?: (reply: string[]) => void): Promise<string[]> {
      const sent = typeof line === "string" ? [line] : line;
      for (const each of sent) log(`C: ${each}`);
      await Promise.all(sent.map((each) => channel.send(each)));
      return expect(code, check);
    },
    close: (): Promise<void> => channel.close(),
  };
}

// ---------------------------------------------------------------------------------------------
// Command line

/** `--name value` from the arguments, else the environment variable, else undefined. */
function setting(args: string[], name: string, env: string): string | undefined {
  const at = args.indexOf(`--${name}`);
  return at >= 0 ? args[at + 1] : process.env[env];
}

function pem(args: string[], name: string, env: string): string {
  const file = setting(args, name, env);
  if (file === undefined) {
    console.error(`missing --${name} FILE (or ${env}): see the top of smtp-starttls.ts`);
    process.exit(2);
  }
  return readFileSync(file, "utf8");
}

/** A failed dialogue is one line, not a stack trace: ERR_TLS_CERT for a certificate the CA does not vouch for, say. */
function failed(error: unknown): void {
  console.error(`client: ${error instanceof Error ? error.message : String(error)}`);
  process.exitCode = 1;
}

const args = process.argv.slice(2);
const mode = args[0] === "server" || args[0] === "client" ? args[0] : "both";
const mail: OutgoingMail = {
  from: "alice@example.com",
  to: ["bob@example.com"],
  body: "Subject: hello over STARTTLS\r\n\r\nThis message went over TLS.\r\n.A line that starts with a dot.",
};
const printMail = (m: ReceivedMail): void => console.log(`server: message from ${m.from} to ${m.to.join(", ")}, ${m.body.length} bytes, over ${m.tlsVersion}`);

if (mode === "server") {
  const server = await smtpServer(Number(args[1] ?? 2525), { cert: pem(args, "cert", "SMTP_CERT"), key: pem(args, "key", "SMTP_KEY") }, printMail);
  const bound = server.address;
  console.log(`smtp server on ${bound.transport === "tcp" ? `${bound.hostname}:${bound.port}` : "?"}`);
  // Ctrl-C or SIGTERM: stop accepting, let sessions finish for up to 5 s.
  const stop = async (): Promise<void> => void (await server.close({ timeout: 5000 }), process.exit(0));
  process.on("SIGINT", stop);
  process.on("SIGTERM", stop);
} else if (mode === "client") {
  const tls = { ca: pem(args, "ca", "SMTP_CA"), serverName: setting(args, "server-name", "SMTP_SERVER_NAME") };
  await sendMail(args[1] ?? "127.0.0.1:2525", tls, mail, console.log).then(() => console.log("client: message sent"), failed);
} else {
  const server = await smtpServer(0, { cert: pem(args, "cert", "SMTP_CERT"), key: pem(args, "key", "SMTP_KEY") }, printMail);
  try {
    const port = server.address.transport === "tcp" ? server.address.port : 0;
    await sendMail(`127.0.0.1:${port}`, { ca: pem(args, "ca", "SMTP_CA") }, mail, console.log).then(() => console.log("client: message sent"), failed);
  } finally {
    const stats = await server.close({ timeout: 5000 });
    console.log(`server: closed after ${stats.totalConnections} connection(s)`);
  }
}
