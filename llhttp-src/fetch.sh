#!/usr/bin/env bash
# Fetch llhttp's C parser (the one Node and undici use), verify it and print
# the directory of the verified copy in the cache (include/llhttp.h,
# src/{llhttp,api,http}.c, LICENSE-MIT).
#
#   llhttp-src/fetch.sh                                     # from Debian's source archive
#   LLHTTP_TARBALL=/path/nodejs_<v>.orig.tar.xz llhttp-src/fetch.sh   # offline
#
# llhttp.pin holds one line: "<llhttp version> <nodejs upstream version in
# Debian> <SHA-256 of nodejs_<that>.orig.tar.xz>". Why Node's source package:
# llhttp's own sources are TypeScript (llparse) that generate the C parser;
# the generated C is what llhttp releases and what Node vendors in
# deps/llhttp. Debian's node-llhttp (built from the node-undici source
# package) ships llhttp's TypeScript sources and regenerates the C at build
# time, and the mirror this machine uses does not serve that package's files
# (404); Debian's nodejs orig tarball is Node's release tarball (minus
# non-free parts), with deps/llhttp as released. Same fetch as
# openssl-src/fetch.sh: the mirror comes from this machine's apt
# configuration (no host name written in this repository), apt runs with a
# private sources list and lists directory in the cache, no root needed.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
read -r version nodever sha256 < "$here/llhttp.pin"
cache=${OPENSSL_WASM_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/openssl-wasm}
tarball="$cache/tarballs/nodejs_$nodever.orig.tar.xz"
dest="$cache/llhttp/$version-${sha256:0:16}"
suite=${OPENSSL_DEBIAN_SUITE:-trixie}

say() { echo "llhttp-fetch: $*" >&2; }
die() { echo "llhttp-fetch: error: $*" >&2; exit 1; }

verify() { # file -> 0 if its SHA-256 is the pinned one
  local got
  got=$(sha256sum "$1" | cut -d' ' -f1)
  if [ "$got" != "$sha256" ]; then
    say "SHA-256 mismatch for $1"
    say "  expected $sha256 (llhttp-src/llhttp.pin, nodejs $nodever)"
    say "  got      $got"
    return 1
  fi
}

# The parser files, extracted once from the verified tarball.
extract() {
  local work
  work=$(mktemp -d "$cache/llhttp/x.XXXXXX")
  tar -xJf "$tarball" -C "$work" --strip-components=3 \
    "node-v${nodever%%+*}/deps/llhttp/include" "node-v${nodever%%+*}/deps/llhttp/src" \
    "node-v${nodever%%+*}/deps/llhttp/LICENSE-MIT"
  grep -q "#define LLHTTP_VERSION_MAJOR ${version%%.*}\$" "$work/include/llhttp.h" ||
    die "nodejs $nodever does not ship llhttp $version (see its deps/llhttp/include/llhttp.h)"
  rm -rf "$dest"; mv "$work" "$dest"
}

if [ -f "$dest/src/llhttp.c" ]; then echo "$dest"; exit 0; fi
mkdir -p "$cache/tarballs" "$cache/llhttp"

if [ -n "${LLHTTP_TARBALL:-}" ]; then
  [ -f "$LLHTTP_TARBALL" ] || die "LLHTTP_TARBALL=$LLHTTP_TARBALL: no such file"
  verify "$LLHTTP_TARBALL" || die "refusing $LLHTTP_TARBALL: it is not the pinned nodejs $nodever orig tarball"
  cp "$LLHTTP_TARBALL" "$tarball.part" && mv "$tarball.part" "$tarball"
fi

if [ -f "$tarball" ] && ! verify "$tarball"; then
  say "removing the cached copy that does not match"; rm -f "$tarball"
fi

if [ ! -f "$tarball" ]; then
  # The Debian mirror this machine already uses (as openssl-src/fetch.sh).
  mirror() {
    local f
    for f in /etc/apt/sources.list.d/*.sources; do
      [ -f "$f" ] || continue
      awk 'BEGIN{RS=""; FS="\n"}
        /(^|\n)Suites:[^\n]*[a-z]+( |$)/ && !/Suites:[^\n]*-security/ {
          for (i=1;i<=NF;i++) if ($i ~ /^URIs:/) { split($i, a, /[ \t]+/);
            for (j=2;j in a;j++) if (a[j] ~ /\/debian\/?$/) { print a[j]; exit } } }' "$f"
    done
    cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null |
      awk '$1=="deb" || $1=="deb-src" { for (i=2;i<=NF;i++) if ($i !~ /^\[/ && $i ~ /\/debian\/?$/) { print $i; break } }'
  }
  uri=$(mirror 2>/dev/null | head -n1 || true)
  [ -n "$uri" ] || die "no Debian mirror found in /etc/apt/sources.list{,.d}; get nodejs_$nodever.orig.tar.xz yourself and run LLHTTP_TARBALL=/path/to/it make"

  # Its own apt directory: openssl-src/fetch.sh may run at the same time.
  apt_dir="$cache/apt-llhttp"
  mkdir -p "$apt_dir/lists/partial" "$apt_dir/cache/archives/partial"
  echo "deb-src $uri $suite main" > "$apt_dir/sources.list"
  apt_opts=(-o "Dir::Etc::sourcelist=$apt_dir/sources.list" -o "Dir::Etc::sourceparts=-"
            -o "Dir::State::Lists=$apt_dir/lists" -o "Dir::Cache=$apt_dir/cache"
            -o "APT::Sandbox::User=root" -q)
  say "reading the $suite source index from the configured mirror"
  apt-get "${apt_opts[@]}" update >&2 || die "apt-get update of the $suite source index failed"
  # Debian versions of nodejs whose upstream part is the pinned one (a
  # security update keeps the same orig tarball).
  mapfile -t debvers < <(apt-cache "${apt_opts[@]}" showsrc nodejs 2>/dev/null |
    awk -v v="$nodever" '/^Version:/ && index($2, v "-") == 1 { print $2 }' | sort -ru)
  [ ${#debvers[@]} -gt 0 ] || die "nodejs $nodever is no longer in Debian's $suite source archive: pin another (apt-cache showsrc nodejs; its deps/llhttp/include/llhttp.h gives the llhttp version, its Checksums-Sha256 field the hash)"
  work=$(mktemp -d "$cache/tarballs/dl.XXXXXX")
  trap 'rm -rf "$work"' EXIT
  for dv in "${debvers[@]}"; do
    say "downloading nodejs $dv (orig tarballs only) for its deps/llhttp"
    if (cd "$work" && apt-get "${apt_opts[@]}" source --download-only --tar-only "nodejs=$dv" >&2); then break; fi
  done
  [ -f "$work/nodejs_$nodever.orig.tar.xz" ] || die "the mirror lists nodejs $nodever but would not serve its orig tarball"
  verify "$work/nodejs_$nodever.orig.tar.xz" || die "refusing the downloaded tarball: it is not the pinned nodejs $nodever"
  mv "$work/nodejs_$nodever.orig.tar.xz" "$tarball"
  say "verified nodejs_$nodever.orig.tar.xz ($sha256)"
fi

extract
echo "$dest"
