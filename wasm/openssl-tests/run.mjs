#!/usr/bin/env node
// Run OpenSSL's own tests, built for wasm by wasm/openssl-tests/build.sh,
// under Node with their real data files, and report pass/skip/fail.
//
//   node wasm/openssl-tests/run.mjs [--smoke] [--only <program>,...] [--jobs N]
//                                   [--json <file>] [--list] [--verbose]
//                                   [--evp-file <file>] [--expected <file>]
//
// --smoke runs the subset `make test` runs; --evp-file runs only evp_test on
// a data file of yours; --expected reads another expected-failures list.
//
// Each test program gets the arguments its recipe in test/recipes/ passes
// (the recipe is named next to each entry below), and runs are skipped by the
// recipe's own conditions on the configuration. Two recipes run as they are,
// through OpenSSL's perl test library with EXE_SHELL=node, since they are
// the test: 80-test_ssl_old.t (ssl_old_test prints no TAP of its own) and
// 80-test_ocsp.t (mostly `openssl ocsp`).
//
// Results are the leaves of the TAP the programs print: a test case, or one
// iteration of a parameterised one. A failure must be listed, with its
// reason, in wasm/openssl-tests/expected-failures.txt; the run fails on any
// other failure, and on a listed failure that no longer fails. Output of
// each run goes to wasm/build/openssl-tests-logs/.
import { spawn, execFileSync } from "node:child_process";
import { closeSync, existsSync, mkdirSync, mkdtempSync, openSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { availableParallelism, tmpdir } from "node:os";
import { basename, dirname, join, relative, resolve } from "node:path";

const here = dirname(new URL(import.meta.url).pathname);
const root = resolve(here, "../..");

const usage = `usage: node wasm/openssl-tests/run.mjs [--smoke] [--only <program>,...] [--jobs N] [--json <file>] [--list] [--verbose]
                                         [--evp-file <file>] [--expected <file>]`;
const opts = {
  smoke: false, only: null, jobs: Math.min(availableParallelism(), 4), json: null, list: false, verbose: false,
  evpFile: null, expected: join(here, "expected-failures.txt"),
};
for (let i = 2; i < process.argv.length; i++) {
  const a = process.argv[i];
  if (a === "--smoke") opts.smoke = true;
  else if (a === "--only") opts.only = process.argv[++i].split(",");
  else if (a === "--jobs") opts.jobs = Number(process.argv[++i]);
  else if (a === "--json") opts.json = resolve(process.argv[++i]);
  else if (a === "--list") opts.list = true;
  else if (a === "--verbose") opts.verbose = true;
  else if (a === "--evp-file") opts.evpFile = resolve(process.argv[++i]);
  else if (a === "--expected") opts.expected = resolve(process.argv[++i]);
  else { console.error(usage); process.exit(2); }
}

const dirFile = join(root, "wasm/build/openssl-tests-dir");
if (!existsSync(dirFile)) {
  console.error("openssl-tests: not built; run `make test-openssl` (or wasm/openssl-tests/build.sh) first");
  process.exit(2);
}
const tree = join(readFileSync(dirFile, "utf8").trim(), "tree"); // SRCTOP = BLDTOP
const src = (...p) => join(tree, ...p);

// The configuration's disabled features, from the build's configdata.pm
// (what the recipes' disabled() reads).
const disabledList = execFileSync("perl", [`-I${tree}`, "-Mconfigdata", "-e", 'print "$_\\n" for sort keys %disabled'], { encoding: "utf8" });
const disabledSet = new Set(disabledList.split("\n").filter(Boolean));
const disabled = (f) => disabledSet.has(f);
const anyDisabled = (...f) => f.some(disabled);
const allDisabled = (...f) => f.every(disabled);
const why = (...f) => f.filter(disabled).map((x) => `no-${x}`).join(", ");

// ---------------------------------------------------------------------------
// The runs: { program, label, args (or a function of the run's scratch
// directory), env, timeout, slow (started first), smoke (in the `make test`
// subset), leafName and post (to name and adjust results) }; or { program,
// label, recipe, needs } for a recipe run as is; { program, label, app, args,
// check } for a check of the openssl app's output; { program, label, skip:
// reason } for a run the recipe skips in this configuration.

const runs = [];
const add = (run) => runs.push({ timeout: 15 * 60_000, ...run });
const recipeSkip = (program, label, reason) => runs.push({ program, label, skip: reason });

// 90-test_tls13secrets.t. The recipe skips without shared libraries because
// the program replaces internal libssl functions with mocks; build.sh links
// it statically with those symbols renamed, so it runs here.
add({ program: "tls13secretstest", args: [], smoke: true });

// 70-test_recordlen.t, 70-test_servername.t
add({ program: "recordlentest", args: [src("apps/server.pem"), src("apps/server.pem")], smoke: true });
add({ program: "servername_test", args: [src("apps/server.pem"), src("apps/server.pem")], smoke: true });

// 90-test_sslapi.t: the default provider run; the FIPS runs need the FIPS
// provider, which is not built (no-fips, the default).
add({
  program: "sslapitest",
  args: (scratch) => [src("test/certs"), src("test/recipes/90-test_sslapi_data/passwd.txt"), touch(join(scratch, "sslapitest.tmp")),
    "default", src("test/default.cnf"), src("test/recipes/90-test_sslapi_data/dhparams.pem"), src("test/recipes/90-test_sslapi_data")],
  timeout: 60 * 60_000, slow: 3,
});
if (disabled("fips")) recipeSkip("sslapitest", "fips", "the FIPS provider is not built (no-fips)");

// More of libssl's tests whose recipes pass only a certificate and key (or
// nothing), with the recipes' skip conditions.
{
  const serverPem = [src("apps/server.pem"), src("apps/server.pem")];
  const noTls = allDisabled("ssl3", "tls1", "tls1_1", "tls1_2", "tls1_3");
  const noTls13 = disabled("tls1_3") || allDisabled("ec", "dh");
  for (const [program, args, skip] of [
    ["sslbuffertest", serverPem, noTls && "no TLS"],                       // 90-test_sslbuffers.t
    ["sslcorrupttest", serverPem, noTls && "no TLS"],                      // 80-test_sslcorrupt.t
    ["cipherlist_test", [], noTls && "no TLS"],                            // 80-test_cipherlist.t
    ["ciphername_test", [], noTls && "no TLS"],                            // 80-test_ciphername.t
    ["cipherbytes_test", [], noTls && "no TLS"],                           // 80-test_cipherbytes.t
    ["clienthellotest", [], disabled("ec") && !disabled("tls1_3") && "no EC"], // 70-test_clienthello.t
    ["tls13ccstest", serverPem, noTls13 && "no TLS 1.3"],                  // 90-test_tls13ccs.t
    ["tls13encryptiontest", [], noTls13 && "no TLS 1.3"],                  // 90-test_tls13encryption.t
    ["tls13groupselection_test", serverPem, anyDisabled("tls1_3", "ecx") && "needs TLS 1.3 and X25519"], // 70-test_tls13groupselection.t
    ["ssl_ctx_test", [], false],                                           // 71-test_ssl_ctx.t
    ["ssl_test_ctx_test", [src("test/ssl_test_ctx_test.cnf")], false],     // 80-test_ssl_test_ctx.t
    ["rpktest", [src("test/certs")], allDisabled("tls1_2", "tls1_3") && "no TLS"], // 90-test_rpk.t
  ]) {
    if (skip) recipeSkip(program, "", skip);
    else add({ program, args, slow: program === "rpktest" ? 2 : 0 });
  }
}

// 80-test_ssl_new.t: each test/ssl-tests/*.cnf.in, generated by
// test/generate_ssl_tests.pl for the "none" and "default" providers (and
// "fips", not built), then run by ssl_test. The skip conditions are the
// recipe's %skip table (default: no TLS at all).
{
  const tls = ["ssl3", "tls1", "tls1_1", "tls1_2", "tls1_3"];
  let noTls = allDisabled(...tls);
  const noTlsBelow13 = noTls || (disabled("tls1_2") && !disabled("tls1_3"));
  if (!noTls && noTlsBelow13 && disabled("ec") && disabled("dh")) noTls = true;
  const noPreTls13 = allDisabled("ssl3", "tls1", "tls1_1", "tls1_2");
  const noDtls = allDisabled("dtls1", "dtls1_2");
  const c = (cond, reason) => (cond ? reason : null);
  const skips = {
    "06-sni-ticket.cnf": c(noTlsBelow13, "no TLS below 1.3"),
    "07-dtls-protocol-version.cnf": c(noDtls, "no DTLS (no-dtls)"),
    "08-npn.cnf": c(allDisabled("tls1", "tls1_1", "tls1_2") || disabled("nextprotoneg"), `NPN is not built (${why("nextprotoneg", "tls1", "tls1_1", "tls1_2")})`),
    "10-resumption.cnf": c(anyDisabled("tls1_1", "tls1_2"), `needs TLS 1.1 and 1.2 (${why("tls1_1", "tls1_2")})`),
    "11-dtls_resumption.cnf": c(anyDisabled("dtls1", "dtls1_2"), "no DTLS (no-dtls)"),
    "12-ct.cnf": c(noTls || anyDisabled("ct", "ec"), `certificate transparency is not built (${why("ct", "ec")})`),
    "13-fragmentation.cnf": c(disabled("tls1_2"), "no TLS 1.2"),
    "14-curves.cnf": c(anyDisabled("tls1_2", "tls1_3", "ec2m", "ecx", "dh"), `needs every group family (${why("tls1_2", "tls1_3", "ec2m", "ecx", "dh")})`),
    "15-certstatus.cnf": c(noTls || disabled("ocsp"), "no OCSP"),
    "16-dtls-certstatus.cnf": c(noDtls || disabled("ocsp"), "no DTLS (no-dtls)"),
    "17-renegotiate.cnf": c(noTlsBelow13, "no TLS below 1.3"),
    "18-dtls-renegotiate.cnf": c(noDtls, "no DTLS (no-dtls)"),
    "19-mac-then-encrypt.cnf": c(noPreTls13, "no TLS below 1.3"),
    "20-cert-select.cnf": c(anyDisabled("tls1_2", "ecx"), "needs TLS 1.2 and X25519/Ed25519"),
    "21-key-update.cnf": c(disabled("tls1_3") || allDisabled("ec", "dh"), "no TLS 1.3"),
    "22-compression.cnf": c(disabled("zlib") || noTls, `TLS compression is not built (${why("zlib", "comp")})`),
    "23-srp.cnf": c(allDisabled("tls1", "tls1_1", "tls1_2") || disabled("srp"), "SRP is not built (no-srp)"),
    "24-padding.cnf": c(disabled("tls1_3") || allDisabled("ec", "dh"), "no TLS 1.3"),
    "25-cipher.cnf": c(anyDisabled("ec", "tls1_2"), "needs EC and TLS 1.2"),
    "26-tls13_client_auth.cnf": c(disabled("tls1_3") || allDisabled("ec", "dh"), "no TLS 1.3"),
    "29-dtls-sctp-label-bug.cnf": c(anyDisabled("sctp", "sock"), `DTLS over SCTP is not built (${why("sctp", "sock")})`),
    "32-compressed-certificate.cnf": c(anyDisabled("comp", "tls1_3"), "certificate compression is not built (no-comp)"),
  };
  const inputs = readdirSync(src("test/ssl-tests")).filter((f) => f.endsWith(".cnf.in")).sort();
  // The recipe hard-codes the count so that a new file is noticed; so do we.
  if (inputs.length !== 31) fail(`test/ssl-tests has ${inputs.length} .cnf.in files, 80-test_ssl_new.t expects 31: review the skip table in run.mjs`);
  const smokeConfs = ["01-simple.cnf", "21-key-update.cnf"];
  for (const input of inputs) {
    const conf = basename(input, ".in");
    const skip = conf in skips ? skips[conf] : c(noTls, "no TLS");
    if (skip) { recipeSkip("ssl_test", conf, skip); continue; }
    for (const provider of ["none", "default"]) {
      const label = `${conf} ${provider}`;
      let names = [];
      add({
        program: "ssl_test", label, smoke: smokeConfs.includes(conf),
        env: { TEST_CERTS_DIR: src("test/certs") },
        args: (scratch) => {
          const out = join(scratch, `${conf}.${provider}`);
          const text = execFileSync("perl", [`-I${src("util/perl")}`, src("test/generate_ssl_tests.pl"), src("test/ssl-tests", input), provider], {
            cwd: scratch, encoding: "utf8", env: { ...process.env, ...harnessEnv(), RESULT_D: join(scratch, "results") },
          });
          writeFileSync(out, text);
          // test-N = <name>: iteration N+1 of test_handshake
          names = [...text.matchAll(/^test-(\d+) = (.*)$/gm)].map((m) => m[2]);
          return [out, provider];
        },
        leafName: (name) => name.replace(/^test_handshake\[(\d+)\]$/, (_, n) => names[n - 1] ?? _),
      });
    }
  }
  if (disabled("fips")) recipeSkip("ssl_test", "fips", "the FIPS provider is not built (no-fips)");
}

// 30-test_evp.t: evp_test on each data file the recipe lists for this
// configuration, with test/default.cnf (no legacy provider: no-legacy). A
// stanza for an algorithm that is not built is skipped by evp_test itself; a
// file whose stanzas are all skipped counts as one skip.
{
  const files = [
    "evpciph_aes_ccm_cavs.txt", "evpciph_aes_common.txt", "evpciph_aes_cts.txt", "evpciph_aes_wrap.txt",
    "evpciph_aes_stitched.txt", "evpciph_des3_common.txt", "evpkdf_hkdf.txt", "evpkdf_kbkdf_counter.txt",
    "evpkdf_kbkdf_kmac.txt", "evpkdf_pbkdf1.txt", "evpkdf_pbkdf2.txt", "evpkdf_ss.txt", "evpkdf_ssh.txt",
    "evpkdf_tls12_prf.txt", "evpkdf_tls13_kdf.txt", "evpkdf_x942.txt", "evpkdf_x963.txt", "evpmac_common.txt",
    "evpmd_sha.txt", "evppbe_pbkdf2.txt", "evppkey_kdf_hkdf.txt", "evppkey_rsa.txt", "evppkey_rsa_common.txt",
    "evppkey_rsa_kem.txt", "evppkey_rsa_sigalg.txt", "evprand.txt",
  ];
  const unless = (cond, ...more) => (cond ? [] : more);
  files.push(...unless(disabled("dh"), "evppkey_ffdhe.txt", "evppkey_dh.txt"));
  files.push(...unless(disabled("des"), "evpkdf_x942_des.txt", "evpmac_cmac_des.txt"));
  files.push(...unless(disabled("slh-dsa"), "evppkey_slh_dsa_siggen.txt", "evppkey_slh_dsa_sigver.txt"));
  files.push(...unless(disabled("dsa"), "evppkey_dsa.txt", "evppkey_dsa_sigalg.txt"));
  files.push(...unless(disabled("ecx"), "evppkey_ecx.txt", "evppkey_ecx_sigalg.txt", "evppkey_mismatch_ecx.txt"));
  files.push(...unless(disabled("ec"), "evppkey_ecc.txt", "evppkey_ecdh.txt", "evppkey_ecdsa.txt", "evppkey_ecdsa_sigalg.txt",
    "evppkey_kas.txt", "evppkey_mismatch.txt"));
  files.push(...unless(disabled("ml-dsa"), "evppkey_ml_dsa_keygen.txt", "evppkey_ml_dsa_siggen.txt", "evppkey_ml_dsa_sigver.txt",
    "evppkey_ml_dsa_44_wycheproof_sign.txt", "evppkey_ml_dsa_44_wycheproof_verify.txt", "evppkey_ml_dsa_65_wycheproof_sign.txt",
    "evppkey_ml_dsa_65_wycheproof_verify.txt", "evppkey_ml_dsa_87_wycheproof_sign.txt", "evppkey_ml_dsa_87_wycheproof_verify.txt"));
  files.push(...unless(disabled("ml-kem"), "evppkey_ml_kem_512_keygen.txt", "evppkey_ml_kem_512_encap.txt",
    "evppkey_ml_kem_512_decap.txt", "evppkey_ml_kem_768_keygen.txt", "evppkey_ml_kem_768_encap.txt",
    "evppkey_ml_kem_768_decap.txt", "evppkey_ml_kem_1024_keygen.txt", "evppkey_ml_kem_1024_encap.txt",
    "evppkey_ml_kem_1024_decap.txt", "evppkey_ml_kem_keygen.txt", "evppkey_ml_kem_encap_decap.txt"));
  // The default provider's algorithms that the FIPS provider lacks.
  files.push("evpciph_aes_ocb.txt", "evpciph_aria.txt", "evpciph_bf.txt", "evpciph_camellia.txt", "evpciph_camellia_cts.txt",
    "evpciph_cast5.txt", "evpciph_chacha.txt", "evpciph_des.txt", "evpciph_idea.txt", "evpciph_rc2.txt", "evpciph_rc4.txt",
    "evpciph_rc4_stitched.txt", "evpciph_rc5.txt", "evpciph_seed.txt", "evpciph_sm4.txt", "evpencod.txt", "evpkdf_krb5.txt",
    "evpkdf_scrypt.txt", "evpkdf_tls11_prf.txt", "evpkdf_hmac_drbg.txt", "evpmac_blake.txt", "evpmac_poly1305.txt",
    "evpmac_siphash.txt", "evpmac_sm3.txt", "evpmd_blake.txt", "evpmd_md.txt", "evpmd_mdc2.txt", "evpmd_ripemd.txt",
    "evpmd_sm3.txt", "evpmd_whirlpool.txt", "evppbe_scrypt.txt", "evppbe_pkcs12.txt", "evppkey_kdf_scrypt.txt",
    "evppkey_kdf_tls1_prf.txt");
  files.push(...unless(disabled("ec"), "evppkey_brainpool.txt", "evppkey_ecdsa_rfc6979.txt"));
  files.push(...unless(disabled("ecx"), "evppkey_ecx_kem.txt"));
  files.push(...unless(disabled("dsa"), "evppkey_dsa_rfc6979.txt"));
  files.push(...unless(disabled("sm2"), "evppkey_sm2.txt"));
  files.push(...unless(disabled("siv"), "evpciph_aes_gcm_siv.txt", "evpciph_aes_siv.txt"));
  files.push(...unless(disabled("argon2"), "evpkdf_argon2.txt"));
  const conf = disabled("legacy") ? "default.cnf" : "default-and-legacy.cnf";
  // AES-GCM and ChaCha20-Poly1305, the TLS 1.3 ciphers, for `make test`.
  const smokeFiles = ["evpciph_aes_common.txt", "evpciph_chacha.txt"];
  for (const f of files) {
    add({
      program: "evp_test", label: f, smoke: smokeFiles.includes(f),
      args: ["-config", src("test", conf), src("test/recipes/30-test_evp_data", f)],
      leafName: () => "all stanzas",
      post: evpStanzas,
    });
  }
  if (disabled("fips")) recipeSkip("evp_test", "fips-and-base.cnf", "the FIPS provider is not built (no-fips)");

  // The recipe's "error output tests": `openssl pkey` on a key whose
  // algorithm is not built must fail with a clear error, never an ASN.1
  // parse error.
  const pkeyErrors = (label, key, args, expected) => add({
    program: "openssl pkey", label, app: true,
    args: ["pkey", "-in", src("test/certs", key), ...args],
    check: ({ status, output }) => {
      if (status === 0) return "openssl pkey succeeded";
      if (/asn1 encoding/.test(output)) return "an ASN.1 encoding error in the output";
      if (expected && !expected.test(output)) return `no line matches ${expected}`;
      return null;
    },
  });
  if (disabled("dsa") && !disabled("err")) {
    pkeyErrors("server-dsa-key.pem", "server-dsa-key.pem", []);
    pkeyErrors("server-dsa-pubkey.pem", "server-dsa-pubkey.pem", ["-pubin"], /unsupported/);
  } else recipeSkip("openssl pkey", "dsa", "DSA is built");
  if (disabled("sm2")) pkeyErrors("sm2.key", "sm2.key", []);
  else recipeSkip("openssl pkey", "sm2", "SM2 is built");
}

// 80-test_ssl_old.t, run as is: it makes its certificates with the openssl
// app, then runs ssl_old_test in each mode that this configuration supports
// (its cipher suite sweep lists the suites with `openssl ciphers`, which the
// test build keeps: wasm/openssl-tests/patches/0001).
add({ program: "ssl_old_test", label: "80-test_ssl_old.t", recipe: "80-test_ssl_old.t", needs: ["test/ssl_old_test", "apps/openssl"], slow: 2 });

// 80-test_ocsp.t, run as is: `openssl ocsp` on the OCSP responses of
// test/ocsp-tests, then ocspapitest.
if (!disabled("ocsp")) add({ program: "ocspapitest", label: "80-test_ocsp.t", recipe: "80-test_ocsp.t", needs: ["test/ocspapitest", "apps/openssl"], slow: 2 });
else recipeSkip("ocspapitest", "80-test_ocsp.t", "no OCSP (no-ocsp)");

// --evp-file: only evp_test, on that file, as 30-test_evp.t runs it.
if (opts.evpFile) {
  runs.length = 0;
  add({ program: "evp_test", label: basename(opts.evpFile), leafName: () => "all stanzas", post: evpStanzas,
    args: ["-config", src("test", disabled("legacy") ? "default.cnf" : "default-and-legacy.cnf"), opts.evpFile] });
}

// ---------------------------------------------------------------------------

function fail(message) { console.error(`openssl-tests: ${message}`); process.exit(2); }
function touch(file) { writeFileSync(file, ""); return file; }

// The environment OpenSSL's test/run_tests.pl gives every test.
function harnessEnv() {
  return {
    SRCTOP: tree, BLDTOP: tree,
    OPENSSL_CONF: src("apps/openssl.cnf"), OPENSSL_CONF_INCLUDE: src("test"),
    OPENSSL_MODULES: src("providers"), OPENSSL_ENGINES: src("engines"),
    CTLOG_FILE: src("test/ct/log_list.cnf"),
  };
}

// evp_test's own count of stanzas: "Completed N tests with E errors and S skipped".
function evpStanzas(result) {
  const m = /Completed (\d+) tests with (\d+) errors and (\d+) skipped/.exec(result.output);
  if (!m) return;
  const [ran, errors, skipped] = m.slice(1).map(Number);
  result.stanzas = { ran, errors, skipped };
  for (const l of result.leaves) if (l.status === "fail" && !l.reason && errors > 0) l.reason = `${errors} of ${ran} stanzas failed`;
  // Every stanza needs an algorithm this configuration does not build.
  if (ran === 0 && skipped > 0 && result.leaves.every((l) => l.status === "pass")) {
    for (const l of result.leaves) { l.status = "skip"; l.reason = `all ${skipped} stanzas need algorithms that are not built`; }
  }
}

// ---------------------------------------------------------------------------
// TAP: OpenSSL's test framework (test/testutil/driver.c) and perl's
// Test::More both print "ok N - name" / "not ok N - name", a subtest's lines
// indented four more spaces before the line that sums it up, and skips as
// "# skipped" (testutil, reason in the "# SKIP:" comment before) or
// "# skip <reason>" (Test::More). The leaves are the results with no
// subtest of their own; a failed summary whose subtest shows no failure (a
// crash, a setup failure) is a failing leaf itself.

function parseTap(text) {
  const pending = [[]]; // leaves collected at each indentation level
  const counted = [0];
  let plan = null;
  let skipReason = null;
  let afterSkip = false;
  for (const raw of text.split("\n")) {
    const line = raw.replace(/\r$/, "");
    const indent = /^ */.exec(line)[0].length;
    const level = Math.floor(indent / 4);
    const body = line.slice(indent);
    if (afterSkip && /^#\s+\S/.test(body)) { skipReason = body.replace(/^#\s+/, ""); afterSkip = false; continue; }
    afterSkip = false;
    if (/^#\s*SKIP:/.test(body)) { afterSkip = true; continue; }
    const p = /^1\.\.(\d+)(?:\s*#\s*(?:skip\w*|SKIP\w*):?\s*(.*))?$/.exec(body);
    if (p) {
      if (level === 0 && plan === null) plan = { count: Number(p[1]), skip: p[2] ?? null };
      continue;
    }
    const r = /^(not ok|ok)\b(?:\s+(\d+))?\s*(?:-\s*)?(.*)$/.exec(body);
    if (!r) continue;
    let [, verdict, number, desc] = r;
    let status = verdict === "ok" ? "pass" : "fail";
    let reason = null;
    const d = /^(.*?)\s*#\s*(skipped|skip|SKIP|TODO)\b\s*(.*)$/.exec(desc);
    if (d) {
      desc = d[1];
      if (d[2] === "TODO") status = "pass";
      else { status = "skip"; reason = d[3] || skipReason || null; }
    }
    skipReason = null;
    const name = (desc || `#${number}`).replace(/^(.*) - iteration (\d+)$/, "$1[$2]");
    while (pending.length <= level + 1) { pending.push([]); counted.push(0); }
    const children = pending[level + 1];
    // deeper levels left over belong to this result too (a nested subtest that broke off)
    for (let l = pending.length - 1; l > level + 1; l--) { children.push(...pending[l]); pending[l] = []; }
    if (children.length > 0) {
      for (const c of children) {
        const [first, ...rest] = c.path;
        const merged = /^iteration (\d+)$/.exec(first) ? [`${name}[${/\d+/.exec(first)[0]}]`] : [name, first];
        pending[level].push({ ...c, path: [...merged, ...rest] });
      }
      if (status === "fail" && !children.some((c) => c.status === "fail")) pending[level].push({ path: [name], number, status: "fail", reason: "the subtest failed" });
      pending[level + 1] = [];
      counted[level + 1] = 0;
    } else {
      pending[level].push({ path: [name], number, status, reason });
    }
    counted[level]++;
  }
  const leaves = pending[0];
  for (let l = 1; l < pending.length; l++) leaves.push(...pending[l].map((c) => ({ ...c, path: ["(unfinished subtest)", ...c.path] })));
  return { leaves, plan, count: counted[0] };
}

// ---------------------------------------------------------------------------

// The process groups of the runs under way; ended with the runner.
const children = new Set();
function killGroup(pid) { try { process.kill(-pid, "SIGKILL"); } catch { /* already gone */ } }
for (const sig of ["SIGINT", "SIGTERM"]) {
  process.on(sig, () => { for (const pid of children) killGroup(pid); process.exit(130); });
}

function program(run) {
  if (run.app) return src("apps/openssl");
  return src("test", run.program);
}

async function execute(run, scratch, logFile) {
  const started = Date.now();
  const env = { ...process.env, ...harnessEnv(), ...(run.env ?? {}) };
  delete env.HARNESS_ACTIVE; delete env.HARNESS_OSSL_LEVEL; delete env.HARNESS_VERBOSE;
  let cmd, args;
  const cwd = join(scratch, "cwd");
  mkdirSync(cwd, { recursive: true });
  if (run.recipe) {
    cmd = "perl";
    args = [`-I${src("util/perl")}`, src("test/recipes", run.recipe)];
    Object.assign(env, { EXE_SHELL: process.execPath, RESULT_D: join(scratch, "results") });
  } else {
    cmd = process.execPath;
    args = [program(run), ...(typeof run.args === "function" ? run.args(scratch) : run.args)];
  }
  const fd = openSync(logFile, "w");
  writeFileSync(fd, `# ${[cmd, ...args].join(" ")}\n# cwd ${cwd}\n`);
  const { status, signal, timedOut } = await new Promise((done) => {
    // its own process group, so that a timeout also ends what a recipe started
    const child = spawn(cmd, args, { cwd, env, stdio: ["ignore", fd, fd], detached: true });
    children.add(child.pid);
    let timedOut = false;
    const timer = setTimeout(() => { timedOut = true; killGroup(child.pid); }, run.timeout);
    const end = (result) => { clearTimeout(timer); children.delete(child.pid); done(result); };
    child.on("exit", (status, signal) => end({ status, signal, timedOut }));
    child.on("error", (e) => end({ status: null, signal: String(e), timedOut }));
  });
  closeSync(fd);
  const output = readFileSync(logFile, "utf8");
  const result = { status, signal, seconds: (Date.now() - started) / 1000, output, leaves: [] };
  if (run.check) {
    const problem = run.check(result);
    result.leaves = [{ path: ["error output"], status: problem ? "fail" : "pass", reason: problem }];
    return result;
  }
  const tap = parseTap(output);
  result.leaves = tap.leaves.map((l) => ({ ...l, path: [run.leafName ? run.leafName(l.path.join(" / ")) : l.path.join(" / ")] }));
  // Results that share a name (80-test_ssl_old.t's "Testing " for each TLS 1.3 suite) get their TAP number.
  const seen = new Map();
  for (const l of result.leaves) seen.set(l.path[0], (seen.get(l.path[0]) ?? 0) + 1);
  for (const l of result.leaves) if (seen.get(l.path[0]) > 1) l.path[0] += ` (#${l.number})`;
  if (tap.plan?.skip !== null && tap.plan?.skip !== undefined && tap.plan.count === 0) {
    result.leaves = [{ path: ["(all)"], status: "skip", reason: tap.plan.skip }];
  }
  // The program's own verdict: its exit status, and every planned result.
  const problems = [];
  if (timedOut) problems.push(`timed out after ${run.timeout / 1000} s`);
  else if (status !== 0) problems.push(signal ? `killed by ${signal}` : `exit status ${status}`);
  if (!tap.plan) problems.push("no TAP plan (the program did not start its tests)");
  else if (tap.count !== tap.plan.count) problems.push(`planned ${tap.plan.count} results, printed ${tap.count}`);
  if (problems.length > 0 && !(status !== 0 && !timedOut && tap.plan && tap.count === tap.plan.count && result.leaves.some((l) => l.status === "fail"))) {
    result.leaves.push({ path: ["(program)"], status: "fail", reason: problems.join("; ") });
  }
  if (run.post) run.post(result);
  return result;
}

const leafId = (run, leaf) => `${run.program}${run.label ? ` ${run.label}` : ""}: ${leaf.path.join(" / ")}`;

// expected-failures.txt: "<result id>  # <reason>"; '*' matches anything.
function readExpected() {
  const file = opts.expected;
  const entries = [];
  readFileSync(file, "utf8").split("\n").forEach((line, i) => {
    if (/^\s*(#|$)/.test(line)) return;
    const m = /^(.*?)\s+#\s+(.*\S)\s*$/.exec(line);
    if (!m) fail(`${file}:${i + 1}: expected "<result id>  # <reason>"`);
    const id = m[1].trim();
    const scope = id.slice(0, id.indexOf(": ") + 2); // "<program> <label>: ", the run it belongs to
    if (!scope) fail(`${file}:${i + 1}: "${id}" is not "<program> [<label>]: <result>"`);
    entries.push({ id, reason: m[2], pattern: glob(id), scope: glob(scope), line: i + 1, matched: 0 });
  });
  return entries;
}

function glob(text) {
  return new RegExp(`^${text.replace(/[.+?^${}()|[\]\\]/g, "\\$&").replace(/\*/g, ".*")}$`);
}

// ---------------------------------------------------------------------------

let selected = runs.filter((r) => (!opts.smoke || r.smoke) && (!opts.only || opts.only.includes(r.program)));
if (opts.smoke) selected = selected.filter((r) => !r.skip);
if (opts.list) {
  for (const r of selected) console.log(`${r.program}${r.label ? ` ${r.label}` : ""}${r.skip ? `  (skipped: ${r.skip})` : ""}`);
  process.exit(0);
}
if (selected.length === 0) fail("no runs selected");
const missing = [...new Set(selected.filter((r) => !r.skip).flatMap((r) => (r.recipe ? r.needs.map((n) => src(n)) : [program(r)])))]
  .filter((p) => !existsSync(p));
if (missing.length > 0) fail(`not built: ${missing.map((p) => relative(tree, p)).join(", ")}; run \`make test-openssl\` (or wasm/openssl-tests/build.sh)`);

const expected = readExpected();
const logs = join(root, "wasm/build/openssl-tests-logs");
rmSync(logs, { recursive: true, force: true });
mkdirSync(logs, { recursive: true });
const scratchTop = mkdtempSync(join(tmpdir(), "openssl-tests-"));
const started = Date.now();
const results = new Map();

// The slow runs first, so that they do not end up alone at the end.
const order = [...selected].filter((r) => !r.skip).sort((a, b) => (b.slow ?? 0) - (a.slow ?? 0));
let next = 0;
let done = 0;
const total = order.length;
async function worker() {
  while (next < order.length) {
    const run = order[next++];
    const slug = `${run.program}${run.label ? `-${run.label}` : ""}`.replace(/[^A-Za-z0-9_.-]+/g, "_");
    const scratch = join(scratchTop, `${slug}`);
    mkdirSync(scratch, { recursive: true });
    const result = await execute(run, scratch, join(logs, `${slug}.log`));
    results.set(run, result);
    const n = count(result.leaves);
    done++;
    console.log(`[${String(done).padStart(String(total).length)}/${total}] ${n.fail ? "FAIL" : "ok  "} ${run.program}${run.label ? ` ${run.label}` : ""}  ` +
      `(${n.pass} pass, ${n.skip} skip, ${n.fail} fail; ${result.seconds.toFixed(1)} s)`);
  }
}
function count(leaves) {
  const n = { pass: 0, skip: 0, fail: 0 };
  for (const l of leaves) n[l.status]++;
  return n;
}
await Promise.all(Array.from({ length: Math.max(1, opts.jobs) }, worker));
rmSync(scratchTop, { recursive: true, force: true });

// Compare the failures with the expected ones.
const unexpected = [];
const known = [];
const table = new Map();
const row = (p) => table.get(p) ?? table.set(p, { program: p, runs: 0, pass: 0, skip: 0, fail: 0, known: 0, seconds: 0, stanzas: null, skipReasons: new Map() }).get(p);
const ranPrefixes = [];
for (const run of selected) {
  const t = row(run.program);
  if (run.skip) {
    t.skip++;
    t.skipReasons.set(`${run.label}: ${run.skip}`, 1);
    continue;
  }
  const result = results.get(run);
  ranPrefixes.push(`${run.program}${run.label ? ` ${run.label}` : ""}: `);
  t.runs++;
  t.seconds += result.seconds;
  if (result.stanzas) {
    t.stanzas ??= { ran: 0, skipped: 0 };
    t.stanzas.ran += result.stanzas.ran;
    t.stanzas.skipped += result.stanzas.skipped;
  }
  for (const leaf of result.leaves) {
    t[leaf.status]++;
    const id = leafId(run, leaf);
    if (leaf.status === "skip") {
      const reason = leaf.reason ?? "(no reason given)";
      t.skipReasons.set(reason, (t.skipReasons.get(reason) ?? 0) + 1);
    }
    if (leaf.status !== "fail") continue;
    const entry = expected.find((e) => e.pattern.test(id));
    if (entry) { entry.matched++; t.known++; known.push({ id, reason: entry.reason }); }
    else unexpected.push({ id, reason: leaf.reason, log: join(logs, `${`${run.program}${run.label ? `-${run.label}` : ""}`.replace(/[^A-Za-z0-9_.-]+/g, "_")}.log`) });
  }
}
// A listed failure that did not fail, among the runs that ran: stale.
const stale = expected.filter((e) => e.matched === 0 && ranPrefixes.some((p) => e.scope.test(p)));

const seconds = (Date.now() - started) / 1000;
const rows = [...table.values()];
const totals = rows.reduce((a, r) => ({ runs: a.runs + r.runs, pass: a.pass + r.pass, skip: a.skip + r.skip, fail: a.fail + r.fail, known: a.known + r.known }),
  { runs: 0, pass: 0, skip: 0, fail: 0, known: 0 });
const pad = (s, n, right = false) => (right ? String(s).padStart(n) : String(s).padEnd(n));
const width = Math.max(...rows.map((r) => r.program.length), 7) + 1;
console.log("");
console.log(`${pad("program", width)} ${pad("runs", 5, true)} ${pad("pass", 6, true)} ${pad("skip", 6, true)} ${pad("fail", 6, true)} ${pad("(known)", 8, true)} ${pad("time", 8, true)}`);
for (const r of rows) {
  const extra = r.stanzas ? `  evp stanzas: ${r.stanzas.ran} run, ${r.stanzas.skipped} skipped` : "";
  console.log(`${pad(r.program, width)} ${pad(r.runs, 5, true)} ${pad(r.pass, 6, true)} ${pad(r.skip, 6, true)} ${pad(r.fail, 6, true)} ${pad(r.known, 8, true)} ${pad(`${r.seconds.toFixed(0)} s`, 8, true)}${extra}`);
}
console.log(`${pad("total", width)} ${pad(totals.runs, 5, true)} ${pad(totals.pass, 6, true)} ${pad(totals.skip, 6, true)} ${pad(totals.fail, 6, true)} ${pad(totals.known, 8, true)} ${pad(`${seconds.toFixed(0)} s`, 8, true)}  (wall clock, ${opts.jobs} jobs)`);
if (opts.verbose) {
  console.log("\nskips by reason:");
  for (const r of rows) for (const [reason, n] of r.skipReasons) console.log(`  ${r.program}: ${n} x ${reason}`);
}
if (known.length > 0) {
  console.log(`\nknown failures (${relative(root, opts.expected)}):`);
  for (const k of known) console.log(`  ${k.id}  -- ${k.reason}`);
}
if (unexpected.length > 0) {
  console.log(`\nUNEXPECTED FAILURES (${unexpected.length}):`);
  for (const u of unexpected) console.log(`  ${u.id}${u.reason ? `  -- ${u.reason}` : ""}\n      log: ${u.log}`);
}
if (stale.length > 0) {
  console.log(`\nLISTED FAILURES THAT NO LONGER FAIL (remove them from ${relative(root, opts.expected)}):`);
  for (const s of stale) console.log(`  line ${s.line}: ${s.id}`);
}
if (opts.json) {
  writeFileSync(opts.json, JSON.stringify({
    seconds, jobs: opts.jobs, smoke: opts.smoke, totals,
    programs: rows.map(({ skipReasons, ...r }) => ({ ...r, skipReasons: Object.fromEntries(skipReasons) })),
    known, unexpected, stale: stale.map((s) => ({ id: s.id, line: s.line })),
  }, null, 2));
}
process.exit(unexpected.length > 0 || stale.length > 0 ? 1 : 0);
