// make bench: each symmetric primitive alone (bench/c/prims.c through EVP on
// 16 KiB buffers, in C on this wasm OpenSSL) beside Node's native OpenSSL
// doing the same, to show where AES-GCM's and ChaCha20-Poly1305's time goes
// (the bitsliced AES-CTR, GHASH, ChaCha20, Poly1305). Each wasm figure comes
// after a warm-up long enough for V8 to have tiered the code up.
import { createCipheriv } from "node:crypto";
import { buildEmccModule, instantiateEmccModule } from "./c-module.mjs";

const SIZE = 16384;
const key = Buffer.alloc(32, 1), iv = Buffer.alloc(16, 2), buf = Buffer.alloc(SIZE);
const aead = (name, k, aadOnly) => () => {
  const c = createCipheriv(name, k, iv.subarray(0, 12), { authTagLength: 16 });
  if (aadOnly) c.setAAD(buf); else c.update(buf);
  c.final();
};
/** [id in prims.c, label, native equivalent or null] */
export const PRIMS = [
  ["aes-128-ctr", "AES-128-CTR (the bitsliced AES alone)", () => createCipheriv("aes-128-ctr", key.subarray(0, 16), iv).update(buf)],
  ["gmac", "GHASH alone (AES-128-GCM, AAD only)", aead("aes-128-gcm", key.subarray(0, 16), true)],
  ["aes-128-gcm", "AES-128-GCM", aead("aes-128-gcm", key.subarray(0, 16), false)],
  ["aes-256-gcm", "AES-256-GCM", aead("aes-256-gcm", key, false)],
  ["chacha20", "ChaCha20", () => createCipheriv("chacha20", key, iv).update(buf)],
  ["poly1305", "Poly1305", null],
  ["chacha20-poly1305", "ChaCha20-Poly1305", aead("chacha20-poly1305", key, false)],
];

/** MB/s of `f`, which processes `bytes` per call. */
function rate(f, seconds, bytes = SIZE) {
  let n = 0;
  const t0 = performance.now();
  let t;
  do { f(); n++; } while ((t = performance.now() - t0) < seconds * 1000);
  return (n * bytes) / 1e6 / (t / 1000);
}

const PER_CALL = 4; // buffers per prims_run() call

/** MB/s per primitive, wasm and native: [{ id, label, wasm, native }]. */
export async function runPrims({ warmup = 2.5, seconds = 1.5, log = (m) => console.error(`bench: ${m}`) } = {}) {
  const M = await instantiateEmccModule(buildEmccModule({ name: "prims", exportName: "createPrims", exports: ["_prims_run", "_malloc"], log }), "prims.wasm");
  const out = [];
  for (const [id, label, native] of PRIMS) {
    const bytes = new TextEncoder().encode(id + "\0");
    const p = M._malloc(bytes.length);
    M.HEAPU8.set(bytes, p);
    const step = () => { if (M._prims_run(p, PER_CALL) !== 0) throw new Error(`prims.wasm: ${id} failed`); };
    log(`primitives: ${id} ...`);
    rate(step, warmup, PER_CALL * SIZE);
    out.push({ id, label, wasm: rate(step, seconds, PER_CALL * SIZE), native: native ? (rate(native, 0.3), rate(native, seconds)) : null });
  }
  return out;
}

export function printPrims(rows) {
  console.log("\nSymmetric primitives alone, 16 KiB per call (C through EVP on this wasm OpenSSL; native: Node's OpenSSL), MB/s:");
  const w = Math.max(...rows.map((r) => r.label.length));
  for (const r of rows) {
    const n = r.native ? r.native.toFixed(0).padStart(7) : "      -";
    const ratio = r.native ? `${(r.wasm / r.native).toFixed(2)}x` : "-";
    console.log(`  ${r.label.padEnd(w)}  wasm ${r.wasm.toFixed(1).padStart(7)}  native ${n}  ${ratio}`);
  }
}
