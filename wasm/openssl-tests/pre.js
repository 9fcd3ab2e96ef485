// --pre-js for OpenSSL's test programs (wasm/openssl-tests/link-flags.txt).
//
// Emscripten gives a program a fixed, made-up environment (USER=web_user,
// ...); OpenSSL's tests read real variables: HARNESS_OSSL_LEVEL and
// OPENSSL_TEST_RAND_SEED (test/testutil/driver.c), TEST_CERTS_DIR and
// CTLOG_FILE (expanded by the ssl_test .cnf files), OPENSSL_CONF, CN2
// (test/ca-and-certs.cnf). Copy Node's environment in before main() runs.
Module["preRun"] = [function () {
  for (var name in process.env) ENV[name] = process.env[name];
}];
