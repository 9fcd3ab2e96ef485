# openssl-wasm: real OpenSSL 3.5 compiled to WebAssembly.
#
#   make          build wasm/dist/openssl.{mjs,wasm} and the TypeScript bindings
#   make test     build, check the generated FFI, run every test
#   make test-openssl  OpenSSL's own tests (sslapitest, ssl_test, evp_test, ...) built for
#                 wasm with our Configure flags, under Node: pass/skip/fail per program (a few minutes)
#   make demo     build and run the demo
#   make size     raw / gzip / brotli size of the wasm, against the budget
#   make bench    handshakes/s and MB/s: native Node tls, C on wasm, the engine; the browsers; fetch through the tunnel
#   make bench-ct dudect-style timing test of the constant-time AES-GCM, ChaCha20-Poly1305 (wasm/crypto/)
#   make fuzz     mutation fuzzing of the engine's input path, the tunnel, the edge tunnel and the HTTP parser (FUZZ_ARGS="--inputs N --seconds S --seed N")
#   make soak     10,000 sequential and 1,000 concurrent TlsSockets through the tunnel (SOAK_ARGS)
#   make generate regenerate the FFI from bindings/gen/api.txt and the headers
#   make docs     the API reference from the TSDoc comments (TypeDoc) into docs/api/ (DOCS_OUT); a warning fails it
#   make clean    remove build outputs (the OpenSSL cache outside the repo stays)

SHELL := /bin/bash
.DELETE_ON_ERROR:
export NODE_PATH ?= /usr/share/nodejs

DIST := wasm/dist
LINK_FLAGS = $(shell sed -e 's/\#.*//' wasm/link-flags.txt)
OPENSSL_PREFIX = $(shell cat wasm/build/openssl-prefix)
TS_SOURCES := $(shell find bindings/src -name '*.ts' 2>/dev/null)
# Our own C, linked with OpenSSL's libraries (wasm/shim.h declares what each exports).
C_SOURCES := wasm/shim.c wasm/bio.c wasm/ocsp.c wasm/http.c
# llhttp's C parser (llhttp-src/fetch.sh: pinned, verified, cached outside the
# repo), compiled into the same module for wasm/http.c.
LLHTTP_DIR = $(shell cat wasm/build/llhttp-dir)
LLHTTP_SOURCES = $(LLHTTP_DIR)/src/llhttp.c $(LLHTTP_DIR)/src/api.c $(LLHTTP_DIR)/src/http.c

.PHONY: all setup openssl openssl-tests-smoke generate check-generated docs size test test-openssl demo demo-build bench bench-ct fuzz soak clean FORCE
all: $(DIST)/openssl.mjs $(DIST)/roots.der wasm/build/bindings.stamp

# Debian and npm packages (a no-op once installed).
setup:
	@scripts/setup.sh

# OpenSSL's static libraries, built once per configuration into a cache
# outside the repo (wasm/build-openssl.sh). On a cache hit this takes well
# under a second and leaves wasm/build/openssl-prefix untouched.
wasm/build/openssl-prefix: FORCE | setup
	@wasm/build-openssl.sh

openssl: wasm/build/openssl-prefix

# The directory of the verified llhttp sources (a no-op once cached).
wasm/build/llhttp-dir: llhttp-src/llhttp.pin llhttp-src/fetch.sh
	@mkdir -p wasm/build
	llhttp-src/fetch.sh > $@.part && mv $@.part $@

# OpenSSL's own test programs, built for wasm with the product's Configure
# flags and patches (plus the changes in wasm/openssl-tests/configure-delta.txt),
# once per configuration, in the same cache (wasm/openssl-tests/build.sh):
# the smoke set for `make test` here, all of them for `make test-openssl`.
# A no-op once built; wasm/build/openssl-tests-dir names the build.
openssl-tests-smoke: | setup
	@wasm/openssl-tests/build.sh --smoke

# The FFI: export list, typed functions and constants, from the real headers.
# The build regenerates it when its inputs change; `make test` first checks
# that the committed files are what the generator makes.
GENERATED := wasm/exports.json bindings/src/generated/ffi.ts bindings/src/generated/constants.ts
wasm/build/generated.stamp: bindings/gen/api.txt bindings/gen/generate.mjs wasm/shim.h $(C_SOURCES) wasm/build/openssl-prefix
	node bindings/gen/generate.mjs
	@touch $@

generate: wasm/build/openssl-prefix
	node bindings/gen/generate.mjs
	@touch wasm/build/generated.stamp

check-generated: wasm/build/openssl-prefix
	node bindings/gen/generate.mjs --check

wasm/build/exports.txt: wasm/build/generated.stamp wasm/exports.json
	@mkdir -p wasm/build
	node -e 'process.stdout.write(JSON.stringify(require("./wasm/exports.json").functions))' > $@

$(DIST)/openssl.mjs: wasm/build/openssl-prefix wasm/build/llhttp-dir wasm/build/exports.txt $(C_SOURCES) wasm/shim.h \
		wasm/library.js wasm/pre.js wasm/link-flags.txt wasm/openssl.d.mts
	@mkdir -p $(DIST)
	emcc -Iwasm -I$(OPENSSL_PREFIX)/include -I$(LLHTTP_DIR)/include $(C_SOURCES) $(LLHTTP_SOURCES) \
	  $(OPENSSL_PREFIX)/lib/libssl.a $(OPENSSL_PREFIX)/lib/libcrypto.a \
	  $(strip $(LINK_FLAGS)) -o $@
	cp wasm/openssl.d.mts $(DIST)/openssl.d.mts
	cp $(LLHTTP_DIR)/LICENSE-MIT $(DIST)/LICENSE-llhttp   # llhttp's MIT notice ships with the wasm that contains it
	@test -f $(DIST)/openssl.wasm

# The default root store (Mozilla's roots from Debian's ca-certificates).
$(DIST)/roots.der: scripts/roots.mjs | setup
	node scripts/roots.mjs $(DIST)

# From an empty bindings/dist each time (tsc recompiles everything anyway),
# so a renamed or deleted source leaves no stale module for npm pack to ship;
# the stamp lives outside it for the same reason.
wasm/build/bindings.stamp: wasm/build/generated.stamp $(TS_SOURCES) tsconfig.json $(DIST)/openssl.mjs | setup
	rm -rf bindings/dist
	npx tsc -p .
	@touch $@

# The API reference (docs/typedoc.config.mjs: entry points, validation).
# TypeDoc needs the TypeScript compiler API, which TypeScript 7 does not have:
# it runs on its own pinned TypeScript 6 in docs/node_modules (installed by
# setup), never the root's. Its warnings (an undocumented or unexported
# symbol, a broken link) are errors.
DOCS_OUT ?= docs/api
docs: wasm/build/bindings.stamp | setup
	docs/node_modules/.bin/typedoc --options docs/typedoc.config.mjs --out $(DOCS_OUT)

size: $(DIST)/openssl.mjs
	@scripts/size.sh $(DIST)/openssl.wasm

# check-generated runs before the build could regenerate anything. The
# OpenSSL test programs are built here (not inside vitest) for the smoke
# subset in test/build/openssl-tests.test.ts.
test: check-generated
	@$(MAKE) --no-print-directory all
	@$(MAKE) --no-print-directory openssl-tests-smoke
	npx tsc -p test
	npx tsc -p web-demo
	@mkdir -p test-results
	npx vitest run --reporter=default --reporter=json --outputFile.json=test-results/vitest.json \
	  || { node scripts/test-failures.mjs test-results/vitest.json; exit 1; }

# All of OpenSSL's own tests that apply to our configuration, with the table
# of results; fails on a failure not in wasm/openssl-tests/expected-failures.txt.
test-openssl: | setup
	@wasm/openssl-tests/build.sh
	node wasm/openssl-tests/run.mjs

# The web demo: servers, tunnel and page on loopback (web-demo/serve.mjs);
# demo-build serves a static production build the same way.
demo: all
	node web-demo/serve.mjs

demo-build: all
	node web-demo/serve.mjs --static

# Benchmarks in one run: native Node tls, a C program on this wasm OpenSSL
# (bench/c/bench.c, same flags), and the TypeScript engine; figures and ratios;
# then the same engine workload and TlsSocket through the tunnel in Chromium,
# Firefox and WebKit, beside Node (bench/browser.mjs).
bench: all
	node bench/run.mjs

# Constant time, measured (bench/ct.mjs): Welch's t-test on fixed vs random
# keys and plaintexts for AES-GCM, ChaCha20-Poly1305 and single-block AES,
# with controls that leak by design (CT_RUNS=N runs per target).
bench-ct: all
	node bench/ct.mjs

# Fuzzing (test/fuzz/fuzz.mjs): a million mutated inputs per target by
# default (client, server, and the tunnel's parsing, plus 20,000 live
# connections to a tunnel: --tunnel-live), within an hour per target;
# loopback only; a failing input is written to test/fuzz/crashers/.
FUZZ_ARGS ?= --inputs 1000000 --seconds 3600
fuzz: all
	node test/fuzz/fuzz.mjs $(FUZZ_ARGS)

# Soak and load (test/soak/soak.mjs): TlsSocket clients through the tunnel
# CLI to Node's tls, with random splits, delays and aborts; loopback only.
SOAK_ARGS ?= --sequential 10000 --concurrent 1000 --bytes 1048576
soak: all
	node test/soak/soak.mjs $(SOAK_ARGS)

clean:
	rm -rf wasm/build wasm/dist bindings/dist bench/build docs/api
