#!/usr/bin/env bash
# Prints the wasm's raw, gzip -9 and brotli -q 11 sizes and enforces the
# brotli budget (650 KB = 650,000 bytes).
set -euo pipefail
wasm=${1:-wasm/dist/openssl.wasm}
budget=${WASM_BROTLI_BUDGET:-650000}
raw=$(stat -c %s "$wasm")
gz=$(gzip -9 -c "$wasm" | wc -c)
br=$(brotli -q 11 -c "$wasm" | wc -c)
printf '%-22s %10s\n' "$wasm" "bytes"
printf '  %-20s %10d\n' raw "$raw" "gzip -9" "$gz" "brotli -q 11" "$br"
printf '  %-20s %10d  (%d%% used)\n' "brotli budget" "$budget" $(( br * 100 / budget ))
if [ "$br" -gt "$budget" ]; then
  echo "size: brotli size $br exceeds the budget of $budget bytes" >&2
  exit 1
fi
