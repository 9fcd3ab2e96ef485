// A self-signed certificate made by Debian's `openssl` command (a real PKI
// tool, not the code under test); shared by the tests (pki.ts) and the
// benchmarks (bench/cert.mjs). Nothing is committed.
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

/** `openssl req` arguments for each key type. */
export const KEY_ARGS = {
  "ec-p256": ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"],
  "ec-p384": ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-384"],
  "ec-p521": ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-521"],
  "rsa-2048": ["-newkey", "rsa:2048"],
  ed25519: ["-newkey", "ed25519"],
};

/**
 * A self-signed certificate for `host` (also usable as its own CA), valid 2 days.
 * @param {string} host @param {keyof typeof KEY_ARGS} type
 * @returns {{ certPem: string, keyPem: string }}
 */
export function selfSignedPem(host, type) {
  const dir = mkdtempSync(join(tmpdir(), "openssl-wasm-pki-"));
  try {
    execFileSync("openssl", ["req", "-x509", ...KEY_ARGS[type], "-nodes", "-days", "2",
      "-subj", `/CN=${host}`, "-addext", `subjectAltName=DNS:${host}`,
      "-keyout", join(dir, "key.pem"), "-out", join(dir, "cert.pem")], { stdio: "ignore" });
    return { certPem: readFileSync(join(dir, "cert.pem"), "utf8"), keyPem: readFileSync(join(dir, "key.pem"), "utf8") };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
