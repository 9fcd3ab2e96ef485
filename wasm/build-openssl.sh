#!/usr/bin/env bash
# Build OpenSSL's static libraries for wasm32 with Emscripten, once per
# configuration, in a cache outside the repository.
#
# Usage: wasm/build-openssl.sh [--print-prefix]
# Prints nothing on a cache hit; writes the install prefix into
# wasm/build/openssl-prefix (only when it changes, so make sees no change on
# a no-op run). The cache key covers everything that affects the output:
# the pinned version and tarball hash, our patches, the Configure flags,
# the emcc version, this script, and our own C files compiled into
# libcrypto (wasm/crypto/, copied into the tree by wasm/crypto/install.sh).
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
export NODE_PATH=${NODE_PATH:-/usr/share/nodejs}   # emcc's JS optimizer needs Debian's acorn

command -v emcc >/dev/null || { echo "build-openssl: emcc not found: apt-get install -y emscripten" >&2; exit 1; }

flags() { sed -e 's/#.*//' -e 's/[[:space:]]*$//' -e '/^[[:space:]]*$/d' -e 's/^[[:space:]]*//' wasm/configure-flags.txt; }
emcc_version=$(emcc --version 2>/dev/null | sed -n 1p)  # sed reads to the end: no SIGPIPE under pipefail
# wasm/crypto's sources, by name and content (its README.md is not an input)
crypto_sources() { for f in wasm/crypto/*.c wasm/crypto/*.h wasm/crypto/build.info wasm/crypto/install.sh; do echo "== $f"; cat "$f"; done; }
key=$( { cat openssl-src/openssl.pin; cat openssl-src/patches/*.patch; flags; echo "$emcc_version"; cat "$0"; crypto_sources;
         sed -e 's/#.*//' -e 's/[[:space:]]*$//' -e '/^$/d' wasm/speed-sources.txt; cat wasm/split-opt.sh; } | sha256sum | cut -c1-16)
read -r version _ < openssl-src/openssl.pin
cache=${OPENSSL_WASM_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/openssl-wasm}
prefix="$cache/openssl/$version-$key"

record() { # write wasm/build/openssl-prefix only if it changed
  mkdir -p wasm/build
  if [ "$(cat wasm/build/openssl-prefix 2>/dev/null)" != "$prefix" ]; then
    echo "$prefix" > wasm/build/openssl-prefix
  fi
}

# --print-prefix: say where this configuration is (or would be) cached.
if [ "${1:-}" = "--print-prefix" ]; then echo "$prefix"; exit 0; fi
if [ -f "$prefix/.complete" ]; then record; exit 0; fi

tarball=$(openssl-src/fetch.sh)
echo "build-openssl: building OpenSSL $version for wasm32 ($emcc_version) into $prefix" >&2
work=$(mktemp -d "${TMPDIR:-/tmp}/openssl-wasm-build.XXXXXX")
trap 'rm -rf "$work"' EXIT
tar -xzf "$tarball" -C "$work"
src="$work/openssl-$version"
for p in openssl-src/patches/*.patch; do
  patch -d "$src" -p1 --quiet --forward < "$p"
done
wasm/crypto/install.sh "$src"   # crypto/wasm/: constant-time AES, GHASH, ChaCha20 (patches/0003)
mapfile -t cfg < <(flags)
(
  cd "$src"
  # The Emscripten tools as compiler and archiver (emconfigure would also set
  # CROSS_COMPILE, which OpenSSL prepends to CC: "ememcc").
  ./Configure "${cfg[@]}" CC=emcc AR=emar RANLIB=emranlib \
    --prefix="$prefix.tmp" --openssldir=/nonexistent >&2
  "$root/wasm/split-opt.sh" "$src"   # -O3 for wasm/speed-sources.txt, the configured -O for the rest
  make -j"$(nproc)" build_libs >&2
  make install_dev >&2
)
rm -rf "$prefix"
mv "$prefix.tmp" "$prefix"
flags > "$prefix/configure-flags"
echo "$emcc_version" > "$prefix/emcc-version"
touch "$prefix/.complete"
record
echo "build-openssl: done" >&2
