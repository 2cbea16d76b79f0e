/**
 * Throwaway certificates for the TLS tests, made with the `openssl` CLI at test
 * time in a temp directory (once per process), so no private key is ever
 * committed. `.ci/run` installs openssl when it is missing.
 *
 * Deno (rustls) refuses a self-signed certificate that is its own CA
 * (CaUsedAsEndEntity), so every leaf is signed by a separate CA.
 */
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

/** A PEM certificate (chain) and its private key. */
export interface KeyPair {
  readonly cert: string;
  readonly key: string;
  /** Paths of the PEM files, for the openssl CLI peers. */
  readonly certFile: string;
  readonly keyFile: string;
}

/** Everything the TLS tests need. */
export interface TestCerts {
  readonly dir: string;
  /** The trusted test CA. */
  readonly ca: string;
  readonly caFile: string;
  /** A second CA that nobody trusts. */
  readonly otherCa: string;
  /** localhost / 127.0.0.1 / ::1, signed by `ca`. */
  readonly server: KeyPair;
  /** Valid and signed by `ca`, but for wrong.example only. */
  readonly wrongHost: KeyPair;
  /** localhost / 127.0.0.1, signed by `ca`, expired in 2001. */
  readonly expired: KeyPair;
  /** localhost / 127.0.0.1, signed by the untrusted `otherCa`. */
  readonly unknownCa: KeyPair;
  /** A client certificate (CN=wireline-client), signed by `ca`, for mutual TLS. */
  readonly client: KeyPair;
}

let cached: TestCerts | undefined;

function openssl(dir: string, args: string[]): void {
  execFileSync("openssl", args, { cwd: dir, stdio: ["ignore", "ignore", "pipe"] });
}

function makeCa(dir: string, name: string): void {
  openssl(dir, [
    "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
    "-keyout", `${name}.key`, "-out", `${name}.pem`, "-days", "30", "-subj", `/CN=${name}`,
    "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign",
  ]);
}

function makeLeaf(dir: string, name: string, ca: string, subject: string, ext: string, validity: string[]): void {
  openssl(dir, ["req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", `${name}.key`, "-out", `${name}.csr`, "-subj", subject]);
  writeFileSync(join(dir, `${name}.ext`), ext);
  openssl(dir, [
    "x509", "-req", "-in", `${name}.csr`, "-CA", `${ca}.pem`, "-CAkey", `${ca}.key`, "-CAcreateserial",
    "-out", `${name}.pem`, "-extfile", `${name}.ext`, ...validity,
  ]);
}

const serverExt = (names: string): string =>
  `basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\nsubjectAltName=${names}\n`;
const LOCAL_NAMES = "DNS:localhost,IP:127.0.0.1,IP:::1";
const DAYS = ["-days", "30"];

function readPair(dir: string, name: string): KeyPair {
  const certFile = join(dir, `${name}.pem`);
  const keyFile = join(dir, `${name}.key`);
  return { cert: readFileSync(certFile, "utf8"), key: readFileSync(keyFile, "utf8"), certFile, keyFile };
}

/** The certificates another process generated in `dir` (fixtures get the test's directory as an argument). */
export function loadCerts(dir: string): TestCerts {
  const caFile = join(dir, "ca.pem");
  return {
    dir,
    ca: readFileSync(caFile, "utf8"),
    caFile,
    otherCa: readFileSync(join(dir, "other-ca.pem"), "utf8"),
    server: readPair(dir, "server"),
    wrongHost: readPair(dir, "wrong-host"),
    expired: readPair(dir, "expired"),
    unknownCa: readPair(dir, "unknown-ca"),
    client: readPair(dir, "client"),
  };
}

/** Generates (once per process) and returns the test certificates. */
export function testCerts(): TestCerts {
  if (cached) return cached;
  const dir = mkdtempSync(join(tmpdir(), "wireline-tls-"));
  makeCa(dir, "ca");
  makeCa(dir, "other-ca");
  makeLeaf(dir, "server", "ca", "/CN=localhost", serverExt(LOCAL_NAMES), DAYS);
  makeLeaf(dir, "wrong-host", "ca", "/CN=wrong.example", serverExt("DNS:wrong.example"), DAYS);
  // OpenSSL 3.0's `x509 -req` cannot set a start date in the past; `openssl ca` can.
  makeExpiredLeaf(dir);
  makeLeaf(dir, "unknown-ca", "other-ca", "/CN=localhost", serverExt(LOCAL_NAMES), DAYS);
  makeLeaf(dir, "client", "ca", "/CN=wireline-client", "basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=clientAuth\n", DAYS);
  cached = loadCerts(dir);
  const g = globalThis as { process?: { once?(event: string, f: () => void): void } };
  g.process?.once?.("exit", () => rmSync(dir, { recursive: true, force: true }));
  return cached;
}

function makeExpiredLeaf(dir: string): void {
  const name = "expired";
  openssl(dir, ["req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", `${name}.key`, "-out", `${name}.csr`, "-subj", "/CN=localhost"]);
  writeFileSync(join(dir, "index.txt"), "");
  writeFileSync(join(dir, "serial"), "1000\n");
  writeFileSync(
    join(dir, "ca.cnf"),
    [
      "[ca]", "default_ca = test", "[test]", `dir = ${dir}`, "database = $dir/index.txt", "serial = $dir/serial",
      "new_certs_dir = $dir", "default_md = sha256", "policy = any", "copy_extensions = none", "x509_extensions = leaf",
      "[any]", "commonName = supplied", "[leaf]", "basicConstraints=CA:FALSE", "keyUsage=critical,digitalSignature",
      "extendedKeyUsage=serverAuth", `subjectAltName=${LOCAL_NAMES}`, "",
    ].join("\n"),
  );
  openssl(dir, [
    "ca", "-batch", "-config", "ca.cnf", "-cert", "ca.pem", "-keyfile", "ca.key", "-in", `${name}.csr`, "-out", `${name}.pem`,
    "-startdate", "20000101000000Z", "-enddate", "20010101000000Z", "-notext",
  ]);
}
