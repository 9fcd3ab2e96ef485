#!/usr/bin/env bash
# Fetch the pinned OpenSSL release tarball, verify its SHA-256 and print the
# path of the verified copy in the cache.
#
#   openssl-src/fetch.sh                       # from Debian's source archive
#   OPENSSL_TARBALL=/path/openssl-3.5.x.tar.gz openssl-src/fetch.sh   # offline
#
# The tarball comes from Debian's source archive (trixie), whose
# openssl_<v>.orig.tar.gz is the upstream release tarball byte for byte.
# The mirror is read from this machine's apt configuration: no host name is
# written in this repository. apt runs with a private sources list and
# package-list directory inside the cache, so the system's apt state is not
# touched and root is not needed.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
read -r version sha256 < "$here/openssl.pin"
cache=${OPENSSL_WASM_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/openssl-wasm}
dest="$cache/tarballs/openssl-$version.tar.gz"
suite=${OPENSSL_DEBIAN_SUITE:-trixie}

say() { echo "fetch: $*" >&2; }
die() { echo "fetch: error: $*" >&2; exit 1; }

bump_help() {
  cat >&2 <<HELP
fetch: To move to another OpenSSL 3.5.x release, edit the one line in
fetch:   openssl-src/openssl.pin   ("<version> <sha256 of openssl-<version>.tar.gz>")
fetch: The versions Debian's $suite source archive offers are listed by
fetch:   apt-cache showsrc openssl   (with a deb-src entry for $suite), and the
fetch: SHA-256 of each orig tarball is in its "Checksums-Sha256" field; compare it
fetch: with the one published on the OpenSSL release page before pinning it.
fetch: Or build from a tarball you have: OPENSSL_TARBALL=/path/to/openssl-$version.tar.gz make
HELP
}

verify() { # file -> 0 if its SHA-256 is the pinned one
  local got
  got=$(sha256sum "$1" | cut -d' ' -f1)
  if [ "$got" != "$sha256" ]; then
    say "SHA-256 mismatch for $1"
    say "  expected $sha256 (openssl-src/openssl.pin, OpenSSL $version)"
    say "  got      $got"
    return 1
  fi
}

if [ -n "${OPENSSL_TARBALL:-}" ]; then
  [ -f "$OPENSSL_TARBALL" ] || die "OPENSSL_TARBALL=$OPENSSL_TARBALL: no such file"
  verify "$OPENSSL_TARBALL" || die "refusing to build from $OPENSSL_TARBALL: it is not the pinned OpenSSL $version tarball"
  mkdir -p "$(dirname "$dest")"
  cp "$OPENSSL_TARBALL" "$dest.part" && mv "$dest.part" "$dest"
  echo "$dest"; exit 0
fi

if [ -f "$dest" ]; then
  if verify "$dest"; then echo "$dest"; exit 0; fi
  say "removing the cached copy that does not match"; rm -f "$dest"
fi

# The Debian mirror this machine already uses, from deb822 .sources files or
# one-line sources.list entries (the first plain Debian archive found).
mirror() {
  local f
  for f in /etc/apt/sources.list.d/*.sources; do
    [ -f "$f" ] || continue
    # deb822: a stanza whose Suites name a release (not -security) and whose
    # URIs end in /debian.
    awk 'BEGIN{RS=""; FS="\n"}
      /(^|\n)Suites:[^\n]*[a-z]+( |$)/ && !/Suites:[^\n]*-security/ {
        for (i=1;i<=NF;i++) if ($i ~ /^URIs:/) { split($i, a, /[ \t]+/);
          for (j=2;j in a;j++) if (a[j] ~ /\/debian\/?$/) { print a[j]; exit } } }' "$f"
  done
  cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null |
    awk '$1=="deb" || $1=="deb-src" { for (i=2;i<=NF;i++) if ($i !~ /^\[/ && $i ~ /\/debian\/?$/) { print $i; break } }'
}
uri=$(mirror 2>/dev/null | head -n1 || true)
[ -n "$uri" ] || die "no Debian mirror found in /etc/apt/sources.list{,.d}; download openssl-$version.tar.gz yourself and run OPENSSL_TARBALL=/path/to/it make"

apt_dir="$cache/apt"
mkdir -p "$apt_dir/lists/partial" "$cache/tarballs"
echo "deb-src $uri $suite main" > "$apt_dir/sources.list"
apt_opts=(-o "Dir::Etc::sourcelist=$apt_dir/sources.list" -o "Dir::Etc::sourceparts=-"
          -o "Dir::State::Lists=$apt_dir/lists" -o "Dir::Cache=$apt_dir/cache"
          -o "APT::Sandbox::User=root" -q)
mkdir -p "$apt_dir/cache/archives/partial"
say "reading the $suite source index from the configured mirror"
apt-get "${apt_opts[@]}" update >&2 || die "apt-get update of the $suite source index failed"

# Debian versions of openssl whose upstream part is the pinned version.
mapfile -t debvers < <(apt-cache "${apt_opts[@]}" showsrc openssl 2>/dev/null |
  awk -v v="$version" '/^Version:/ && index($2, v "-") == 1 { print $2 }' | sort -ru)
if [ ${#debvers[@]} -eq 0 ]; then
  say "OpenSSL $version is no longer in Debian's $suite source archive."
  bump_help; exit 1
fi

work=$(mktemp -d "$cache/tarballs/dl.XXXXXX")
trap 'rm -rf "$work"' EXIT
for dv in "${debvers[@]}"; do
  say "downloading openssl $dv (orig tarball only)"
  if (cd "$work" && apt-get "${apt_opts[@]}" source --download-only --tar-only "openssl=$dv" >&2); then
    break
  fi
done
got="$work/openssl_$version.orig.tar.gz"
if [ ! -f "$got" ]; then
  say "the mirror lists OpenSSL $version but would not serve its tarball"
  bump_help; exit 1
fi
verify "$got" || die "refusing the downloaded tarball: it is not the pinned OpenSSL $version"
mv "$got" "$dest"
say "verified openssl-$version.tar.gz ($sha256)"
echo "$dest"
