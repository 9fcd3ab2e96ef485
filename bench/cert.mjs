// The benchmark's server identity: a self-signed ECDSA P-256 certificate for
// "localhost", made at bench time by Debian's `openssl` command (a real PKI
// tool, not the code under test), so nothing secret is committed. Every row
// of the table uses this one certificate and key.
import { selfSignedPem } from "../test/helpers/self-signed.mjs";
import { HOST } from "./host.mjs";

export { HOST };

/** @returns {{ certPem: string, keyPem: string }} */
export function makeCert() {
  return selfSignedPem(HOST, "ec-p256");
}
