// The demo's PKI, made at start with Debian's `openssl`: a CA and server
// certificates for "localhost" (ECDSA P-256 and RSA-2048), one that has
// expired and one for another host name, so the page can show verification
// failing for real. Nothing is committed; everything lives in a temp dir.
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const run = (args, cwd) => execFileSync("openssl", args, { cwd, stdio: ["ignore", "ignore", "pipe"] });

/**
 * A root CA, optionally an intermediate CA (`intermediate: true`: the leaves
 * are then issued by it, and `chainPem` holds it), and the leaves.
 * @returns {{ dir: string, caPem: string, chainPem: string, certs: Record<string, { cert: string, key: string, certPem: string, keyPem: string }> }}
 */
export function makeDemoPki({ intermediate = false, host = "localhost", extraLeaves = [] } = {}) {
  const dir = mkdtempSync(join(tmpdir(), "openssl-wasm-demo-"));
  run(["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-days", "30",
    "-subj", "/CN=openssl-wasm demo CA", "-addext", "basicConstraints=critical,CA:TRUE",
    "-addext", "keyUsage=critical,keyCertSign,cRLSign", "-keyout", "ca.key", "-out", "ca.pem"], dir);
  // `openssl ca` can back-date a certificate (-startdate/-enddate): the expired one
  writeFileSync(join(dir, "index.txt"), "");
  writeFileSync(join(dir, "serial"), "1000\n");
  const caConfig = (name, cert, key) => writeFileSync(join(dir, `${name}.cnf`), `[ca]
default_ca = demo
[demo]
dir = ${dir}
database = $dir/index.txt
serial = $dir/serial
new_certs_dir = $dir
certificate = $dir/${cert}
private_key = $dir/${key}
default_md = sha256
policy = anything
copy_extensions = copy
unique_subject = no
[anything]
commonName = supplied
`);
  caConfig("ca", "ca.pem", "ca.key");
  let issuer = "ca";
  let chainPem = "";
  if (intermediate) {
    run(["req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-subj", "/CN=openssl-wasm test intermediate CA",
      "-addext", "basicConstraints=critical,CA:TRUE,pathlen:0", "-addext", "keyUsage=critical,keyCertSign,cRLSign",
      "-keyout", "int.key", "-out", "int.csr"], dir);
    run(["ca", "-batch", "-config", "ca.cnf", "-in", "int.csr", "-out", "int.pem", "-notext", "-days", "30"], dir);
    caConfig("int", "int.pem", "int.key");
    issuer = "int";
    chainPem = readFileSync(join(dir, "int.pem"), "utf8");
  }
  const certs = {};
  const leaf = (name, keyArgs, host, dates) => {
    run(["req", "-new", ...keyArgs, "-nodes", "-subj", `/CN=${host}`, "-addext", `subjectAltName=DNS:${host},IP:127.0.0.1`,
      "-keyout", `${name}.key`, "-out", `${name}.csr`], dir);
    run(["ca", "-batch", "-config", `${issuer}.cnf`, "-in", `${name}.csr`, "-out", `${name}.pem`, "-notext", ...dates], dir);
    const cert = join(dir, `${name}.pem`), key = join(dir, `${name}.key`);
    certs[name] = { cert, key, certPem: readFileSync(cert, "utf8"), keyPem: readFileSync(key, "utf8") };
  };
  const ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"];
  leaf("ecdsa", ec, host, ["-days", "30"]);
  leaf("rsa", ["-newkey", "rsa:2048"], host, ["-days", "30"]);
  leaf("expired", ec, host, ["-startdate", "20240101000000Z", "-enddate", "20240201000000Z"]);
  leaf("wronghost", ec, "wrong.example", ["-days", "30"]);
  for (const name of extraLeaves) leaf(name, ec, name, ["-days", "30"]);
  return { dir, caPem: readFileSync(join(dir, "ca.pem"), "utf8"), chainPem, certs };
}
