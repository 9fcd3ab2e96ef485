/**
 * Test certificates, made at test time by Debian's `openssl` command (a real
 * PKI tool, not the code under test). Nothing is committed.
 */
import { selfSignedPem } from "./self-signed.mjs";

export type KeyType = "ec-p256" | "ec-p384" | "ec-p521" | "rsa-2048" | "ed25519";

export interface Identity {
  certPem: string;
  keyPem: string;
}

/** A self-signed certificate for `host` (also usable as its own CA). */
export function selfSigned(host = "localhost", type: KeyType = "ec-p256"): Identity {
  return selfSignedPem(host, type);
}
