// Errors that mean something (issue #16): a failure whose cause the runtime names is not
// EUNKNOWN, and a message is one line (OpenSSL's multi-line error text stays in `cause`).
import { writeFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { NetError, toNetError } from "../src/errors.ts";
import { toTlsError } from "../src/tls.ts";
import { connect, listen, portOf, runtime, tempSocketPath } from "./helpers/runtime.ts";

const withCode = (code: string, message = `${code}: something`) => Object.assign(new Error(message), { code });

describe("toNetError classifies what the runtime names", () => {
  it.each([
    ["ENETUNREACH", "ENETUNREACH"],
    ["EHOSTUNREACH", "EHOSTUNREACH"],
    ["ENOTDIR", "ENOENT"],
    ["EINVAL", "ERR_INVALID_ADDRESS"],
  ])("%s is %s, not EUNKNOWN", (raw, code) => {
    const err = toNetError(withCode(raw), "10.0.0.1:80");
    expect(err.code).toBe(code);
    expect(err.cause).toMatchObject({ code: raw });
  });

  it("keeps only the first line of a multi-line runtime message", () => {
    const err = toNetError(withCode("ESOMETHING", "first line says it\nsecond: ../deps/openssl/x.c:77:\n"), undefined);
    expect(err.code).toBe("EUNKNOWN");
    expect(err.message).toBe("EUNKNOWN: first line says it");
  });
});

describe("toTlsError keeps messages to one line", () => {
  it.each([false, true])("certificate refused: %s", (certRefused) => {
    const openssl = "40CDA1C6A27F0000:error:0A00010B:SSL routines:tls_validate_record_header:wrong version number:../deps/openssl/openssl/ssl/record/methods/tlsany_meth.c:77:\n";
    const err = toTlsError(Object.assign(new Error(openssl), { code: "ERR_SSL_WRONG_VERSION_NUMBER" }), "db:5432", certRefused);
    expect(err.message).not.toMatch(/\n/);
    expect(err.message).toContain("wrong version number");
    expect((err.cause as Error).message).toBe(openssl);
  });
});

describe(`real failures are classified (${runtime})`, () => {
  it("listen on a Unix path below a regular file is ENOENT", async () => {
    const file = tempSocketPath("not-a-dir");
    writeFileSync(file, "a file, not a directory");
    const err: unknown = await listen({ path: `${file}/x.sock` }, () => {}).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(NetError);
    expect((err as NetError).code).toBe("ENOENT");
    expect((err as NetError).message).toContain("not a directory");
  });

  it("listen on a link-local IPv6 address without its zone id is not EUNKNOWN", async () => {
    const err: unknown = await listen({ hostname: "fe80::1", port: 0 }, () => {}).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(NetError);
    // EINVAL where the kernel has IPv6 (every CI machine here); EADDRNOTAVAIL where it has none.
    expect(["ERR_INVALID_ADDRESS", "EADDRNOTAVAIL"]).toContain((err as NetError).code);
  });

  it("a TLS client at a plain-text server fails with ERR_TLS and a one-line message", async () => {
    await using server = await listen({ hostname: "127.0.0.1", port: 0 }, async (conn) => {
      await conn.write("220 plain-text banner, not TLS\r\n");
      for await (const _ of conn);
    });
    const err: unknown = await connect({ hostname: "127.0.0.1", port: portOf(server.address) }, { tls: true, timeout: 5000 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(NetError);
    expect((err as NetError).code).toBe("ERR_TLS");
    expect((err as NetError).message).not.toMatch(/\n/);
    // OpenSSL's reason, not its error-queue line (Node, Bun).
    expect((err as NetError).message).not.toMatch(/SSL routines|error:[0-9A-Fa-f]{8}/);
  });
});
