#!/usr/bin/env bash
# Build OpenSSL's own test programs for wasm32 with Emscripten, once per
# configuration, in a cache outside the repository (like wasm/build-openssl.sh).
#
# Usage: wasm/openssl-tests/build.sh [--smoke | --print-dir | --print-flags]
#
# Builds every test program wasm/openssl-tests/run.mjs runs, or with --smoke
# only those of its smoke subset (`make test`); both sets share one tree, so
# the rest of the programs are built on top of a smoke build when asked for.
#
# The Configure flags are the product's (wasm/configure-flags.txt) with the
# changes of wasm/openssl-tests/configure-delta.txt applied; our patches are
# applied to the source as for the product. The programs are linked with
# wasm/openssl-tests/link-flags.txt and run under Node on the real
# filesystem (wasm/openssl-tests/run.mjs).
#
# The cache key covers everything that affects the output: the pinned
# version and tarball hash, our patches, both flag files and the link flags
# with the files they name, the emcc version, this script and our C files
# compiled into libcrypto (wasm/crypto/). Prints nothing
# on a cache hit (a no-op); writes the directory of the built OpenSSL tree
# into wasm/build/openssl-tests-dir (only when it changes).
set -euo pipefail

root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
here=wasm/openssl-tests
export NODE_PATH=${NODE_PATH:-/usr/share/nodejs}   # emcc's JS optimizer needs Debian's acorn

die() { echo "openssl-tests: error: $*" >&2; exit 1; }
command -v emcc >/dev/null || die "emcc not found: apt-get install -y emscripten"

# One argument per line, comments and blank lines dropped (as wasm/build-openssl.sh reads its flags).
lines() { sed -e 's/#.*//' -e 's/[[:space:]]*$//' -e '/^[[:space:]]*$/d' -e 's/^[[:space:]]*//' "$1"; }

# The product's flags with the delta applied: "remove <flag>" drops a line
# (which must be there), "add <flag>" appends one.
flags() {
  local -a base delta
  local line op arg i found
  mapfile -t base < <(lines wasm/configure-flags.txt)
  mapfile -t delta < <(lines $here/configure-delta.txt)
  for line in "${delta[@]}"; do
    read -r op arg <<< "$line"
    case $op in
      remove)
        found=
        for i in "${!base[@]}"; do
          if [ "${base[$i]}" = "$arg" ]; then unset 'base[i]'; found=1; fi
        done
        [ -n "$found" ] || die "$here/configure-delta.txt: '$arg' is not in wasm/configure-flags.txt"
        ;;
      add) base+=("$arg") ;;
      *) die "$here/configure-delta.txt: '$line': expected 'remove <flag>' or 'add <flag>'" ;;
    esac
  done
  printf '%s\n' "${base[@]}"
}

# The link flags, with repository paths made absolute (OpenSSL's Makefile
# links from its own tree).
link_flags() { lines $here/link-flags.txt | sed -e "s|=wasm/|=$root/wasm/|"; }

# Files the link flags name (--pre-js, --js-library) are inputs too.
link_inputs() { lines $here/link-flags.txt | sed -n -e 's|^--[a-z-]*=\(wasm/.*\)|\1|p'; }

if [ "${1:-}" = "--print-flags" ]; then flags; exit 0; fi
set=all
if [ "${1:-}" = "--smoke" ]; then set=smoke; fi

# The programs the recipes run (see run.mjs), by make target; tls13secretstest
# (90-test_tls13secrets.t, in the smoke set) is built by build_tls13secretstest.
smoke_programs=(test/evp_test test/recordlentest test/servername_test test/ssl_test)
all_programs=("${smoke_programs[@]}" test/sslapitest test/ssl_old_test
  apps/openssl  # 80-test_ssl_old.t makes its certificates with it; 30-test_evp.t and 80-test_ocsp.t run it
  test/sslbuffertest test/sslcorrupttest test/cipherlist_test test/ciphername_test test/cipherbytes_test
  test/clienthellotest test/tls13ccstest test/tls13encryptiontest test/tls13groupselection_test
  test/ssl_ctx_test test/ssl_test_ctx_test test/rpktest test/ocspapitest)

# tls13secretstest (90-test_tls13secrets.t). OpenSSL builds it only with
# shared libraries: it compiles ssl/tls13_enc.c, crypto/packet.c and
# crypto/quic_vlint.c into the program next to mocks of internal libssl
# functions, and a static link finds each of those symbols twice. Here the
# same sources are compiled the same way (test/build.info), with every
# symbol they share with libssl.a and libcrypto.a renamed: the program's
# tls13_enc.c calls its mocks, and the libraries stay as they are.
build_tls13secretstest() {
  local cc cflags cppflags binldflags exlibs objs=() renames=() f o
  mkvar() { make -s --no-print-directory -f Makefile -f <(printf '%s\n' 'print-%: ; @echo $($*)') LDFLAGS="$ldflags" "print-$1"; }
  cc=$(mkvar CC); cflags=$(mkvar BIN_CFLAGS); cppflags=$(mkvar BIN_CPPFLAGS)
  binldflags=$(mkvar BIN_LDFLAGS); exlibs=$(mkvar BIN_EX_LIBS)
  compile() {
    objs=()
    for f in test/tls13secretstest.c ssl/tls13_enc.c crypto/packet.c crypto/quic_vlint.c; do
      o=test/tls13secretstest-bin-$(basename "$f" .c).o
      # shellcheck disable=SC2086 # flag lists
      $cc -I. -Iinclude -Iapps/include $cflags $cppflags -DOPENSSL_NO_KTLS "${renames[@]}" -c -o "$o" "$f"
      objs+=("$o")
    done
  }
  defined() { emnm --defined-only --extern-only "$@" 2>/dev/null | awk 'NF == 3 { print $3 }' | sort -u; }
  compile
  mapfile -t renames < <(comm -12 <(defined "${objs[@]}") <(defined libssl.a libcrypto.a) | sed 's/.*/-D&=tls13secretstest_&/')
  [ ${#renames[@]} -gt 0 ] || die "tls13secretstest: found no symbols to rename"
  compile
  # shellcheck disable=SC2086
  $cc $cflags -L. $binldflags -o test/tls13secretstest "${objs[@]}" -lssl test/libtestutil.a -lcrypto $exlibs
}

emcc_version=$(emcc --version 2>/dev/null | sed -n 1p)  # sed reads to the end: no SIGPIPE under pipefail
flags >/dev/null   # a stale delta fails here, before anything else
key=$( { cat openssl-src/openssl.pin; cat openssl-src/patches/*.patch; cat $here/patches/*.patch; flags; echo "--";
         link_flags | sed -e "s|$root/||"; for f in $(link_inputs); do cat "$f"; done; echo "$emcc_version"; cat "$0";
         for f in wasm/crypto/*.c wasm/crypto/*.h wasm/crypto/build.info wasm/crypto/install.sh; do echo "== $f"; cat "$f"; done;
         sed -e 's/#.*//' -e 's/[[:space:]]*$//' -e '/^$/d' wasm/speed-sources.txt; cat wasm/split-opt.sh; } |
       sha256sum | cut -c1-16)
read -r version _ < openssl-src/openssl.pin
cache=${OPENSSL_WASM_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/openssl-wasm}
dir="$cache/openssl-tests/$version-$key"

record() { # write wasm/build/openssl-tests-dir only if it changed
  mkdir -p wasm/build
  if [ "$(cat wasm/build/openssl-tests-dir 2>/dev/null)" != "$dir" ]; then
    echo "$dir" > wasm/build/openssl-tests-dir
  fi
}

if [ "${1:-}" = "--print-dir" ]; then echo "$dir"; exit 0; fi
if [ -f "$dir/.complete-$set" ]; then record; exit 0; fi

# One build per configuration at a time (two worktrees may ask at once).
mkdir -p "$cache/openssl-tests"
exec 9> "$dir.lock"
flock 9
if [ -f "$dir/.complete-$set" ]; then record; exit 0; fi

src="$dir/tree"
ldflags=$(link_flags | tr '\n' ' ')
jobs=$(nproc)
if [ ! -f "$dir/.configured" ]; then
  tarball=$(openssl-src/fetch.sh)
  echo "openssl-tests: configuring OpenSSL $version's tests for wasm32 ($emcc_version) in $dir" >&2
  rm -rf "$dir"
  mkdir -p "$dir"
  tar -xzf "$tarball" -C "$dir"
  mv "$dir/openssl-$version" "$src"
  # Our patches, as for the product; then the test build's own (apps and
  # test programs only, each says why).
  for p in openssl-src/patches/*.patch $here/patches/*.patch; do
    patch -d "$src" -p1 --quiet --forward < "$p"
  done
  wasm/crypto/install.sh "$src"   # our constant-time AES, GHASH, ChaCha20, as for the product
  mapfile -t cfg < <(flags)
  # In the tree (not out of it): the recipes and the runner find data files
  # and programs side by side, as OpenSSL's `make test` does.
  (cd "$src" && ./Configure "${cfg[@]}" CC=emcc AR=emar RANLIB=emranlib \
     --prefix=/nonexistent --openssldir=/nonexistent >&2 &&
     "$root/wasm/split-opt.sh" . && make -j"$jobs" build_generated >&2)   # -O3 where the product has it
  flags > "$dir/configure-flags"
  lines wasm/configure-flags.txt > "$dir/product-configure-flags"
  link_flags > "$dir/link-flags"
  echo "$emcc_version" > "$dir/emcc-version"
  touch "$dir/.configured"
fi

echo "openssl-tests: building the $set set of OpenSSL's test programs in $dir" >&2
if [ "$set" = smoke ]; then programs=("${smoke_programs[@]}"); else programs=("${all_programs[@]}"); fi
(
  cd "$src"
  # The link flags as a make variable: Configure refuses LDFLAGS= next to
  # the compiler flags of wasm/configure-flags.txt (-O3).
  make -j"$jobs" LDFLAGS="$ldflags" "${programs[@]}" >&2
  [ -f test/tls13secretstest ] || build_tls13secretstest >&2
)
touch "$dir/.complete-smoke" "$dir/.complete-$set"
record
echo "openssl-tests: done" >&2
