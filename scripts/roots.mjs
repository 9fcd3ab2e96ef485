#!/usr/bin/env node
// Builds the default root store: the Mozilla roots as Debian's ca-certificates
// package ships them (/usr/share/ca-certificates/mozilla/*.crt, which holds
// no locally added CAs), as concatenated DER (wasm/dist/roots.der) plus their
// provenance (wasm/dist/roots.json). Run by make; nothing is committed.
import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";

const src = process.env.OPENSSL_WASM_ROOTS_DIR ?? "/usr/share/ca-certificates/mozilla";
const out = process.argv[2] ?? "wasm/dist";
let files;
try {
  files = readdirSync(src).filter((f) => f.endsWith(".crt")).sort();
} catch {
  console.error(`roots: ${src} is missing: apt-get install -y ca-certificates`);
  process.exit(1);
}
const ders = files.map((f) => {
  const pem = readFileSync(join(src, f), "utf8");
  const m = /-----BEGIN CERTIFICATE-----([\s\S]+?)-----END CERTIFICATE-----/.exec(pem);
  if (!m) throw new Error(`roots: no certificate in ${f}`);
  return Buffer.from(m[1].replace(/\s+/g, ""), "base64");
});
const der = Buffer.concat(ders);
let version = "unknown";
try {
  version = execFileSync("dpkg-query", ["-W", "-f=${Version}", "ca-certificates"], { encoding: "utf8" }).trim();
} catch { /* not a Debian system: the version stays unknown */ }
const info = {
  source: "Mozilla's CA certificate list, as shipped by Debian's ca-certificates package",
  package: `ca-certificates ${version}`,
  // the package's own release date is its version's leading yyyymmdd
  date: /^(\d{4})(\d{2})(\d{2})/.test(version) ? version.replace(/^(\d{4})(\d{2})(\d{2}).*/, "$1-$2-$3") : "unknown",
  count: ders.length,
  sha256: createHash("sha256").update(der).digest("hex"),
};
mkdirSync(out, { recursive: true });
writeFileSync(join(out, "roots.der"), der);
writeFileSync(join(out, "roots.json"), JSON.stringify(info, null, 2) + "\n");
console.error(`roots: ${info.count} roots from ${info.package} (${der.length} bytes)`);
