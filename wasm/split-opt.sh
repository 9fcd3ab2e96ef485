#!/usr/bin/env bash
# wasm/split-opt.sh SRC: after Configure, compile the sources listed in
# wasm/speed-sources.txt with -O3 and leave every other one at the last -O
# of wasm/configure-flags.txt (-Oz): speed where the time goes, size
# elsewhere. It appends -O3 to those objects' compile commands in SRC's
# Makefile (the last -O wins). Fails if a listed prefix matches nothing.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
src=$1
mapfile -t prefixes < <(sed -e 's/#.*//' -e 's/[[:space:]]*$//' -e '/^[[:space:]]*$/d' "$root/wasm/speed-sources.txt")
node - "$src/Makefile" "${prefixes[@]}" <<'JS'
const fs = require("node:fs");
const [file, ...prefixes] = process.argv.slice(2);
const used = new Set();
let n = 0;
const out = fs.readFileSync(file, "utf8").split("\n").map((line) => {
  const m = /^\t\$\(CC\) (.*) -c -o \$@ (\S+\.c)$/.exec(line);
  if (!m) return line;
  const hit = prefixes.find((p) => m[2].startsWith(p));
  if (!hit) return line;
  used.add(hit);
  n++;
  return line.replace(/ -c -o \$@ /, " -O3 -c -o $@ ");
});
const unused = prefixes.filter((p) => !used.has(p));
if (unused.length) { console.error(`split-opt: no source matches ${unused.join(", ")}`); process.exit(1); }
fs.writeFileSync(file, out.join("\n"));
console.error(`split-opt: ${n} objects at -O3, the rest at the configured -O`);
JS
