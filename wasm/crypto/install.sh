#!/usr/bin/env bash
# Copies openssl-wasm's constant-time symmetric crypto (this directory's C
# files, header and build.info) into an unpacked OpenSSL source tree as
# crypto/wasm/, before Configure. Used by wasm/build-openssl.sh and
# wasm/openssl-tests/build.sh, whose cache keys cover these files.
#
# Usage: wasm/crypto/install.sh <openssl-source-dir>
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
src=${1:?usage: wasm/crypto/install.sh <openssl-source-dir>}
[ -f "$src/crypto/build.info" ] || { echo "install.sh: $src is not an OpenSSL source tree" >&2; exit 1; }
mkdir -p "$src/crypto/wasm"
cp "$here"/*.c "$here"/*.h "$here/build.info" "$src/crypto/wasm/"
