// The benchmark's server identity: a self-signed ECDSA P-256 certificate for
// "localhost", made at bench time by Debian's `openssl` command (a real PKI
// tool, not the code under test), so nothing secret is committed. Every row
// of the table uses this one certificate and key.
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { HOST } from "./host.mjs";

export { HOST };

/** @returns {{ certPem: string, keyPem: string }} */
export function makeCert() {
  const dir = mkdtempSync(join(tmpdir(), "openssl-wasm-bench-"));
  try {
    execFileSync("openssl", ["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
      "-nodes", "-days", "2", "-subj", `/CN=${HOST}`, "-addext", `subjectAltName=DNS:${HOST}`,
      "-keyout", join(dir, "key.pem"), "-out", join(dir, "cert.pem")], { stdio: "ignore" });
    return {
      certPem: readFileSync(join(dir, "cert.pem"), "utf8"),
      keyPem: readFileSync(join(dir, "key.pem"), "utf8"),
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
