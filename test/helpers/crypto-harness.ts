/**
 * test/crypto/harness.c, built with emcc against this project's wasm
 * OpenSSL (wasm/build/openssl-prefix: the libraries the module links) with
 * the module's link flags, into wasm/build/crypto-harness/. It reaches the
 * symmetric primitives directly (EVP by cipher name, AES blocks, the
 * bitsliced CTR, ChaCha20, and the references patches/0003 keeps), which
 * the module's API does not export. Rebuilt when the harness, the
 * libraries or the link flags change (about 20 s).
 */
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "../..");
const at = (p: string) => join(root, p);
const OUT = at("wasm/build/crypto-harness");
const EXPORTS = ["_h_cipher", "_h_mac", "_h_aes", "_h_aes_ctr32", "_h_chacha20", "_malloc", "_free"];

/** wasm/link-flags.txt without the module's own name and exports (as bench/c-module.mjs does). */
function linkFlags(): string[] {
  const replaced = [/^-sEXPORT_NAME=/, /^-sEXPORTED_FUNCTIONS=/, /^-sEXPORTED_RUNTIME_METHODS=/];
  return readFileSync(at("wasm/link-flags.txt"), "utf8").split("\n")
    .map((l) => l.replace(/#.*/, "").trim()).filter(Boolean).flatMap((l) => l.split(/\s+/))
    .filter((f) => !replaced.some((re) => re.test(f)));
}

/** Builds the harness unless it is up to date; returns the path of its .mjs. */
export function buildHarness(): string {
  const prefix = readFileSync(at("wasm/build/openssl-prefix"), "utf8").trim();
  const libs = [`${prefix}/lib/libssl.a`, `${prefix}/lib/libcrypto.a`];
  const js = join(OUT, "harness.mjs");
  const wasm = join(OUT, "harness.wasm");
  const stamp = join(OUT, "harness.cmd");
  const args = [`-I${prefix}/include`, "test/crypto/harness.c", ...libs, ...linkFlags(),
    "-sEXPORT_NAME=createHarness", `-sEXPORTED_FUNCTIONS=${JSON.stringify(EXPORTS)}`, "-sEXPORTED_RUNTIME_METHODS=[]",
    "-o", js];
  const inputs = ["test/crypto/harness.c", "wasm/library.js", "wasm/pre.js", "wasm/link-flags.txt"].map(at).concat(libs);
  const fresh = [js, wasm, stamp].every(existsSync) && readFileSync(stamp, "utf8") === JSON.stringify(args)
    && inputs.every((f) => statSync(f).mtimeMs <= statSync(wasm).mtimeMs);
  if (fresh) return js;
  mkdirSync(OUT, { recursive: true });
  const r = spawnSync("emcc", args, {
    cwd: root, encoding: "utf8", timeout: 300_000,
    env: { ...process.env, NODE_PATH: process.env.NODE_PATH || "/usr/share/nodejs" },
  });
  if (r.error || r.status !== 0) throw new Error(`emcc failed: ${r.error?.message ?? r.stderr}`);
  writeFileSync(stamp, JSON.stringify(args));
  return js;
}

interface HarnessModule {
  HEAPU8: Uint8Array;
  _malloc(n: number): number;
  _free(p: number): void;
  _h_cipher(name: number, enc: number, key: number, iv: number, ivlen: number, aad: number, aadlen: number,
    inp: number, inlen: number, out: number, tag: number, taglen: number, chunk: number, padding: number): number;
  _h_mac(name: number, key: number, keylen: number, msg: number, msglen: number, out: number, outcap: number): number;
  _h_aes(ref: number, enc: number, key: number, bits: number, inp: number, out: number, n: number): number;
  _h_aes_ctr32(key: number, bits: number, ivec: number, inp: number, out: number, blocks: number): number;
  _h_chacha20(ref: number, key: number, counter: number, inp: number, out: number, len: number): void;
}

export interface CipherArgs {
  key: Uint8Array;
  iv?: Uint8Array;
  aad?: Uint8Array;
  input: Uint8Array;
  /** AEAD: the tag length to produce (encrypt) or the tag to check (decrypt). */
  tagLength?: number;
  tag?: Uint8Array;
  /** Feed AAD and input in pieces of this many bytes (0: at once). */
  chunk?: number;
  /** Byte offset of the input and output buffers from malloc's 16-byte alignment. */
  offset?: number;
  padding?: boolean;
}

export interface Harness {
  /** An EVP cipher by name; "bad-tag" when an AEAD tag does not verify. */
  cipher(name: string, enc: boolean, a: CipherArgs): { output: Uint8Array; tag: Uint8Array } | "bad-tag";
  /** An EVP MAC by name (e.g. POLY1305) over msg. */
  mac(name: string, key: Uint8Array, msg: Uint8Array): Uint8Array;
  /** AES on whole blocks: this project's AES_encrypt/AES_decrypt, or (ref) the T-table code. */
  aes(ref: boolean, enc: boolean, key: Uint8Array, input: Uint8Array, offset?: number): Uint8Array;
  /** AES_ctr32_encrypt on whole blocks. */
  aesCtr32(key: Uint8Array, ivec: Uint8Array, input: Uint8Array, offset?: number): Uint8Array;
  /** ChaCha20_ctr32 (counter: 16 bytes, block counter then nonce), ours or (ref) OpenSSL's C one. */
  chacha20(ref: boolean, key: Uint8Array, counter: Uint8Array, input: Uint8Array, offset?: number): Uint8Array;
}

export async function loadHarness(): Promise<Harness> {
  const js = buildHarness();
  const { default: create } = await import(pathToFileURL(js).href) as { default: (o: object) => Promise<HarnessModule> };
  const compiled = await WebAssembly.compile(await readFile(js.replace(/\.mjs$/, ".wasm")));
  // Emscripten 3.1.6 would fetch() a file path under Node: hand it the compiled module (as the bindings do).
  const M = await create({
    instantiateWasm(imports: WebAssembly.Imports, receive: (i: WebAssembly.Instance, m: WebAssembly.Module) => void) {
      void WebAssembly.instantiate(compiled, imports).then((i) => receive(i, compiled));
      return {};
    },
  });

  /** Runs f with the byte arrays copied into the heap (at `offset` past 16-byte alignment), then frees them. */
  function withHeap<T>(arrays: (Uint8Array | number)[], offset: number, f: (ptrs: number[]) => T): T {
    const ptrs: number[] = [];
    try {
      for (const a of arrays) {
        const n = typeof a === "number" ? a : a.length;
        const p = M._malloc(n + 32);
        if (!p) throw new Error("harness: malloc failed");
        ptrs.push(p);
        if (typeof a !== "number") M.HEAPU8.set(a, p + offset);
      }
      return f(ptrs.map((p) => p + offset));
    } finally {
      for (const p of ptrs) M._free(p);
    }
  }
  const cstr = (s: string) => new TextEncoder().encode(s + "\0");
  const read = (p: number, n: number) => M.HEAPU8.slice(p, p + n);

  return {
    cipher(name, enc, a) {
      const iv = a.iv ?? new Uint8Array(0), aad = a.aad ?? new Uint8Array(0);
      const tagLength = a.tag?.length ?? a.tagLength ?? 0;
      return withHeap([cstr(name), a.key, iv, aad, a.input, a.input.length + 32, a.tag ?? tagLength], a.offset ?? 0,
        ([pn, pk, piv, paad, pin, pout, ptag]) => {
          const n = M._h_cipher(pn, enc ? 1 : 0, pk, piv, iv.length, paad, aad.length, pin, a.input.length, pout, ptag,
            tagLength, a.chunk ?? 0, a.padding === false ? 0 : 1);
          if (n === -2) return "bad-tag" as const;
          if (n < 0) throw new Error(`h_cipher ${name} failed (${n})`);
          return { output: read(pout, n), tag: read(ptag, tagLength) };
        });
    },
    mac(name, key, msg) {
      return withHeap([cstr(name), key, msg, 64], 0, ([pn, pk, pm, pout]) => {
        const n = M._h_mac(pn, pk, key.length, pm, msg.length, pout, 64);
        if (n < 0) throw new Error(`h_mac ${name} failed`);
        return read(pout, n);
      });
    },
    aes(ref, enc, key, input, offset = 0) {
      return withHeap([key, input, input.length], offset, ([pk, pin, pout]) => {
        if (M._h_aes(ref ? 1 : 0, enc ? 1 : 0, pk, key.length * 8, pin, pout, input.length / 16) !== 0)
          throw new Error("h_aes failed");
        return read(pout, input.length);
      });
    },
    aesCtr32(key, ivec, input, offset = 0) {
      return withHeap([key, ivec, input, input.length], offset, ([pk, piv, pin, pout]) => {
        if (M._h_aes_ctr32(pk, key.length * 8, piv, pin, pout, input.length / 16) !== 0) throw new Error("h_aes_ctr32 failed");
        return read(pout, input.length);
      });
    },
    chacha20(ref, key, counter, input, offset = 0) {
      return withHeap([key, counter, input, input.length], offset, ([pk, pc, pin, pout]) => {
        M._h_chacha20(ref ? 1 : 0, pk, pc, pin, pout, input.length);
        return read(pout, input.length);
      });
    },
  };
}
