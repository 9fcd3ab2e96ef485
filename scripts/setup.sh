#!/usr/bin/env bash
# Installs what the build and tests need on a fresh Debian machine, once:
# Debian packages (only those missing) and the npm packages of package-lock.json
# and of docs/package-lock.json (TypeDoc and its TypeScript, for `make docs`).
# Run by `make` (and so by `make test` / `make demo`) and by .ci/run.
set -euo pipefail
cd "$(dirname "$0")/.."

# Node: package.json "engines" (>= 20.16: process.getBuiltinModule).
node -e 'const [a, b] = process.versions.node.split(".").map(Number);
  if (a < 20 || (a === 20 && b < 16)) { console.error(`setup: Node ${process.version} is too old: 20.16 or later is needed`); process.exit(1); }'

# command -> Debian package
need=(
  "emcc:emscripten"      # the wasm toolchain (3.1.6), with clang-14 for bindings/gen
  "clang-14:clang-14"
  "brotli:brotli"        # make size
  "openssl:openssl"      # test PKI and the s_server/s_client peers
  "gnutls-cli:gnutls-bin" # the gnutls-serv/gnutls-cli peers
  "go:golang-go"         # the Go crypto/tls peer (test/peers/go)
  "javac:openjdk-17-jdk-headless" # the Java JSSE peer (test/peers/java)
  "chromium:chromium"    # browser tests and bench (driven by playwright-core; no browser download)
  "firefox-esr:firefox-esr" # ... Firefox (driven by puppeteer-core over WebDriver BiDi)
  "WebKitWebDriver:webkit2gtk-driver" # ... WebKit: WebKitGTK's WebDriver and MiniBrowser
  "Xvfb:xvfb"            # ... the X server WebKitGTK's MiniBrowser draws on (it has no headless mode)
  "patch:patch"
  "/usr/share/ca-certificates/mozilla:ca-certificates" # the default root store's source (a path: update-ca-certificates is in /usr/sbin, not every PATH)
  "nginx:nginx"          # the nginx peer (test/interop/nginx.test.ts)
  "python3:python3"      # a listener that never accepts (test/helpers/unanswered.ts: connect timeouts)
)
missing=()
for pair in "${need[@]}"; do
  what="${pair%%:*}"
  if [[ "$what" == /* ]]; then [ -e "$what" ] || missing+=("${pair#*:}")
  else command -v "$what" >/dev/null 2>&1 || missing+=("${pair#*:}"); fi
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing Debian packages: ${missing[*]}" >&2
  sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -q >&2
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q --no-install-recommends "${missing[@]}" >&2
fi

# npm packages: reinstall only when a package-lock.json changed since the last install.
# docs/ is a package of its own: TypeDoc needs a TypeScript older than the root's 7.
for dir in . docs; do
  if [ ! -f "$dir/node_modules/.package-lock.json" ] || [ "$dir/package-lock.json" -nt "$dir/node_modules/.package-lock.json" ]; then
    echo "setup: npm ci in $dir" >&2
    (cd "$dir" && npm ci --no-audit --no-fund >&2)
  fi
done
