// The C baseline (bench/c/bench.c) as an Emscripten module: its build with
// emcc into bench/build/bench.{mjs,wasm}, and a loader that wraps its
// exported functions in the same interface as bench/engine.mjs's
// createBench(), so bench/compare.mjs can drive both alike, in one process.
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

const root = fileURLToPath(new URL("..", import.meta.url));
const at = (p) => join(root, p);
const BUILD_DIR = at("bench/build");
const MODULE_JS = join(BUILD_DIR, "bench.mjs");
const MODULE_WASM = join(BUILD_DIR, "bench.wasm");

const EXPORTS = ["_bench_setup", "_bench_full", "_bench_resumed", "_bench_bulk", "_bench_teardown", "_bench_error",
  "_malloc", "_free"];

// wasm/link-flags.txt makes the shipped module. Of its flags only these are
// about that module's identity and API, so they are replaced; every other
// one (optimization, memory, BigInt, no filesystem, the getentropy()
// library, the ES-module __dirname fix, the environments, ...) is used as
// is, so the C code runs the same OpenSSL code the same way as the engine.
const REPLACED = [/^-sEXPORT_NAME=/, /^-sEXPORTED_FUNCTIONS=/, /^-sEXPORTED_RUNTIME_METHODS=/];

function linkFlags() {
  return readFileSync(at("wasm/link-flags.txt"), "utf8")
    .split("\n")
    .map((line) => line.replace(/#.*/, "").trim())
    .filter(Boolean)
    .flatMap((line) => line.split(/\s+/))
    .filter((flag) => !REPLACED.some((re) => re.test(flag)));
}

/**
 * Builds bench/build/<name>.{mjs,wasm} from bench/c/<name>.c, linked with this
 * project's OpenSSL libraries and the module's link flags, when missing or
 * stale (throws if emcc fails). Returns the paths of the .mjs and .wasm.
 */
export function buildEmccModule({ name, exportName, exports, log = (m) => console.error(m) }) {
  const prefixFile = at("wasm/build/openssl-prefix");
  if (!existsSync(prefixFile)) throw new Error("no OpenSSL build yet (wasm/build/openssl-prefix): run `make` first");
  const prefix = readFileSync(prefixFile, "utf8").trim();
  const libs = [`${prefix}/lib/libssl.a`, `${prefix}/lib/libcrypto.a`];
  const js = join(BUILD_DIR, `${name}.mjs`), wasm = join(BUILD_DIR, `${name}.wasm`), stamp = join(BUILD_DIR, `${name}.cmd`);
  const moduleFlags = [`-sEXPORT_NAME=${exportName}`, `-sEXPORTED_FUNCTIONS=${JSON.stringify(exports)}`,
    "-sEXPORTED_RUNTIME_METHODS=[]"]; // the loaders use only HEAPU8 and the exports, like the bindings
  const args = [`-I${prefix}/include`, `bench/c/${name}.c`, ...libs, ...linkFlags(), ...moduleFlags, "-o", js];
  const command = JSON.stringify(args);

  const inputs = [`bench/c/${name}.c`, "wasm/library.js", "wasm/pre.js", "wasm/link-flags.txt"].map(at).concat(libs);
  const stale = ![js, wasm, stamp].every(existsSync)
    || readFileSync(stamp, "utf8") !== command
    || inputs.some((f) => statSync(f).mtimeMs > statSync(wasm).mtimeMs);
  if (stale) {
    log(`bench: building bench/build/${name}.{mjs,wasm} (emcc, about 15 s)`);
    mkdirSync(BUILD_DIR, { recursive: true });
    const r = spawnSync("emcc", args, {
      cwd: root,
      stdio: ["ignore", "inherit", "inherit"],
      env: { ...process.env, NODE_PATH: process.env.NODE_PATH || "/usr/share/nodejs" }, // emcc's JS optimizer needs Debian's acorn
      timeout: 300_000,
    });
    if (r.error || r.status !== 0) throw new Error(`emcc failed (${r.error?.message ?? `exit ${r.status}`})`);
    writeFileSync(stamp, command);
  }
  return { js, wasm };
}

/** Builds bench/build/bench.{mjs,wasm} when missing or stale (throws if emcc fails). */
export function buildCModule({ log = (m) => console.error(m) } = {}) {
  buildEmccModule({ name: "bench", exportName: "createBenchModule", exports: EXPORTS, log });
}

/**
 * Instantiates an Emscripten module built by buildEmccModule, handing it
 * the compiled wasm (as bindings/src/engine/load.ts does: Emscripten
 * 3.1.6's own loader would fetch() a file path under Node 20).
 */
export async function instantiateEmccModule({ js, wasm }, label) {
  const { default: create } = await import(pathToFileURL(js).href);
  const compiled = await WebAssembly.compile(await readFile(wasm));
  let failLoad;
  const failed = new Promise((_, reject) => (failLoad = reject));
  return Promise.race([
    create({
      instantiateWasm(imports, receiveInstance) {
        WebAssembly.instantiate(compiled, imports).then((instance) => receiveInstance(instance, compiled), failLoad);
        return {};
      },
      onAbort: (what) => failLoad(new Error(`${label} aborted: ${String(what)}`)),
      print: (t) => process.stderr.write(`${label}: ${t}\n`),
      printErr: (t) => process.stderr.write(`${label}: ${t}\n`),
    }),
    failed,
  ]);
}

/**
 * A fresh instance of the C module (its own heap), wrapped as
 *   setup({certPem, keyPem, group}), full(s), resumed(s), bulk(suite, s), dispose()
 * where each slice function returns the work it did (handshakes, or bytes)
 * and throws with OpenSSL's error queue if the C code reported a failure.
 */
export async function loadCBench() {
  if (!existsSync(MODULE_JS)) throw new Error("bench/build/bench.mjs is missing: buildCModule() first");
  const M = await instantiateEmccModule({ js: MODULE_JS, wasm: MODULE_WASM }, "bench.wasm");

  const encoder = new TextEncoder();
  const decoder = new TextDecoder();
  // C strings that live as long as the instance (a handful: PEMs, group, suite names).
  const strings = new Map();
  const cstring = (s) => {
    let p = strings.get(s);
    if (p === undefined) {
      const bytes = encoder.encode(s);
      p = M._malloc(bytes.length + 1);
      if (!p) throw new Error("bench.wasm: malloc failed");
      M.HEAPU8.set(bytes, p); // HEAPU8 is re-read: malloc may have grown memory
      M.HEAPU8[p + bytes.length] = 0;
      strings.set(s, p);
    }
    return p;
  };
  const error = () => {
    const h = M.HEAPU8;
    const p = M._bench_error();
    let end = p;
    while (h[end] !== 0) end++;
    return decoder.decode(h.subarray(p, end));
  };
  const check = (v) => {
    if (v < 0) throw new Error(error());
    return v;
  };

  return {
    setup({ certPem, keyPem, group }) {
      check(M._bench_setup(cstring(certPem), cstring(keyPem), cstring(group)));
      this.group = group;
    },
    full: (seconds) => check(M._bench_full(seconds)),
    resumed: (seconds) => check(M._bench_resumed(seconds)),
    bulk: (suite, seconds) => check(M._bench_bulk(cstring(suite), seconds)),
    dispose() {
      M._bench_teardown();
      for (const p of strings.values()) M._free(p);
      strings.clear();
    },
  };
}
