/**
 * A throwaway CA and a leaf for localhost/127.0.0.1, made with the `openssl`
 * CLI once per process, for the TLS scenarios. Same approach as
 * test/helpers/certs.ts, minus the certificates only the tests need (that
 * helper makes seven, ~0.4 s per bench process). The PEMs are read into
 * memory and the temp directory is removed at once: Deno.exit runs no
 * process "exit" hooks, so cleanup at exit would leak a directory per run.
 *
 * @module
 */

import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

/** The PEMs a TLS scenario needs. */
export interface BenchCerts {
  /** The CA the clients trust. */
  readonly ca: string;
  /** Leaf for localhost / 127.0.0.1, signed by `ca`. */
  readonly cert: string;
  /** Private key of `cert`. */
  readonly key: string;
}

let cached: BenchCerts | undefined;

/** Generates (once per process) and returns the certificates. */
export function benchCerts(): BenchCerts {
  if (cached) return cached;
  const dir = mkdtempSync(join(tmpdir(), "wireline-bench-tls-"));
  const openssl = (args: string[]): void => {
    execFileSync("openssl", args, { cwd: dir, stdio: ["ignore", "ignore", "pipe"] });
  };
  const ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];
  try {
    // Deno (rustls) refuses a self-signed certificate that is its own CA (CaUsedAsEndEntity), hence a separate CA.
    openssl([
      "req", "-x509", ...ec, "-keyout", "ca.key", "-out", "ca.pem", "-days", "30", "-subj", "/CN=wireline-bench-ca",
      "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign",
    ]);
    openssl(["req", ...ec, "-keyout", "leaf.key", "-out", "leaf.csr", "-subj", "/CN=localhost"]);
    writeFileSync(
      join(dir, "leaf.ext"),
      "basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\nsubjectAltName=DNS:localhost,IP:127.0.0.1\n",
    );
    openssl(["x509", "-req", "-in", "leaf.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial", "-out", "leaf.pem", "-extfile", "leaf.ext", "-days", "30"]);
    const read = (name: string): string => readFileSync(join(dir, name), "utf8");
    cached = { ca: read("ca.pem"), cert: read("leaf.pem"), key: read("leaf.key") };
    return cached;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
