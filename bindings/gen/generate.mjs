#!/usr/bin/env node
// Generates the FFI from bindings/gen/api.txt and the real OpenSSL headers of
// the pinned version, read for the wasm32 target:
//   wasm/exports.json                     the functions emcc exports
//   bindings/src/generated/ffi.ts         typed wrappers, one per function
//   bindings/src/generated/constants.ts   the listed constants, evaluated
//
//   node bindings/gen/generate.mjs [--check] [--prefix <openssl install prefix>]
//
// Function types come from clang's JSON AST of the headers (clang-14 with
// emcc's own target flags, so every type is the wasm32 ABI's). Constants are
// enumerated with `clang -dM -E` and evaluated by compiling a tiny program
// with emcc and running it under node: the values are the ones the wasm
// build sees. --check writes nothing and exits 1 if a committed file differs.
//
// A function that returns a pointer says who owns it (STYLE.md 3):
// Owned<"X509"> when the caller receives a reference it must free,
// Borrowed<"X509"> when the pointer stays the callee's (see `ownership`).
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, readdirSync, writeFileSync, rmSync, mkdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, dirname, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
const args = process.argv.slice(2);
const check = args.includes("--check");
const prefixArg = args.indexOf("--prefix");
const prefix = prefixArg >= 0 ? args[prefixArg + 1]
  : readFileSync(join(root, "wasm/build/openssl-prefix"), "utf8").trim();
const env = { ...process.env, NODE_PATH: process.env.NODE_PATH ?? "/usr/share/nodejs" };
const COMMAND = "node bindings/gen/generate.mjs   (run by `make generate`; `make test` checks it)";
const HEADERS = ["openssl/ssl.h", "openssl/err.h", "openssl/x509v3.h", "openssl/pem.h",
  "openssl/rand.h", "openssl/crypto.h", "openssl/bio.h", "openssl/evp.h",
  "openssl/objects.h", "openssl/asn1.h", "shim.h"];

function die(msg) { console.error(`generate: ${msg}`); process.exit(1); }

// ---- the reviewed list
function readList() {
  const list = { functions: [], constants: [] };
  let section = null;
  for (const raw of readFileSync(join(root, "bindings/gen/api.txt"), "utf8").split("\n")) {
    const line = raw.replace(/#.*/, "").trim();
    if (!line) continue;
    const m = /^\[(\w+)\]$/.exec(line);
    if (m) { section = m[1]; if (!(section in list)) die(`unknown section [${section}]`); continue; }
    if (!section) die(`"${line}" is outside a section`);
    if (list[section].includes(line)) die(`"${line}" is listed twice`);
    list[section].push(line);
  }
  return list;
}

const tmp = mkdtempSync(join(tmpdir(), "openssl-wasm-gen-"));
process.on("exit", () => rmSync(tmp, { recursive: true, force: true }));
const emccFlags = execFileSync("emcc", ["--cflags"], { env, encoding: "utf8" }).trim().split(/\s+/);
const includeFlags = [`-I${prefix}/include`, `-I${join(root, "wasm")}`];
const umbrella = join(tmp, "api.c");
writeFileSync(umbrella, HEADERS.map((h) => `#include <${h}>\n`).join(""));

function clang(extra, file) {
  return execFileSync("clang-14", [...emccFlags, ...includeFlags, ...extra, file],
    { env, encoding: "utf8", maxBuffer: 1 << 30, stdio: ["ignore", "pipe", "pipe"] });
}

// ---- function types from the AST
const BUILTIN32 = new Map([
  ["_Bool", "u"], ["char", "s"], ["signed char", "s"], ["unsigned char", "u"],
  ["short", "s"], ["unsigned short", "u"], ["int", "s"], ["unsigned int", "u"],
  ["long", "s"], ["unsigned long", "u"],
]);
// C parameter names that are reserved words in TypeScript.
const RESERVED = new Set(["in", "function", "delete", "new", "class", "default", "var", "let", "this", "type"]);
const BUILTIN64 = new Map([["long long", "s"], ["unsigned long long", "u"]]);

function functionTypes(names) {
  const ast = JSON.parse(clang(["-Xclang", "-ast-dump=json", "-fsyntax-only"], umbrella));
  const typedefs = new Map();
  const decls = new Map();
  for (const node of ast.inner) {
    if (node.kind === "TypedefDecl") {
      const d = node.type.desugaredQualType;
      typedefs.set(node.name, d && d !== node.name ? d : node.type.qualType);
    }
    if (node.kind === "FunctionDecl" && names.has(node.name) && !decls.has(node.name)) decls.set(node.name, node);
  }
  const missing = [...names].filter((n) => !decls.has(n));
  if (missing.length) die(`not declared in the OpenSSL headers or wasm/shim.h: ${missing.join(", ")}`);

  // A C type -> { kind: "void" | "i32" | "i64" | "f64" | "ptr", signed, brand, c }
  function classify(qual, desugared) {
    let t = (desugared ?? qual).replace(/\b(const|volatile|restrict)\b/g, "").replace(/\s+/g, " ").trim();
    for (let i = 0; i < 10 && typedefs.has(t); i++) {
      t = typedefs.get(t).replace(/\b(const|volatile|restrict)\b/g, "").replace(/\s+/g, " ").trim();
    }
    const c = qual.replace(/\s+/g, " ").trim();
    if (t === "void") return { kind: "void", c };
    if (/\(\*\)/.test(t)) return { kind: "ptr", brand: "fn", c };
    if (t.endsWith("*") || t.endsWith("]")) {
      let base = qual.replace(/\b(const|volatile|restrict)\b/g, "").replace(/\bstruct\s+/g, "")
        .replace(/\s+/g, " ").trim().replace(/\s*\*$/, "").replace(/\s*\[\d*\]$/, "").replace(/\s+\*/g, "*");
      return { kind: "ptr", brand: base, c };
    }
    if (t.startsWith("enum ")) return { kind: "i32", signed: true, c };
    if (BUILTIN32.has(t)) return { kind: "i32", signed: BUILTIN32.get(t) === "s", c };
    if (BUILTIN64.has(t)) return { kind: "i64", signed: BUILTIN64.get(t) === "s", c };
    if (t === "double" || t === "float") return { kind: "f64", c };
    die(`unsupported C type "${qual}" (${t})`);
  }

  return [...names].sort().map((name) => {
    const node = decls.get(name);
    const qual = node.type.qualType;
    const ret = qual.slice(0, qual.indexOf("(")).trim();
    const params = (node.inner ?? []).filter((n) => n.kind === "ParmVarDecl").map((p, i) => ({
      cName: p.name ?? `arg${i}`,
      name: RESERVED.has(p.name) ? `${p.name}_` : p.name ?? `arg${i}`, ...classify(p.type.qualType, p.type.desugaredQualType),
    }));
    return { name, ret: classify(ret), params };
  });
}

// ---- constants: enumerate with -dM -E, evaluate with emcc + node
function constants(patterns) {
  const defs = clang(["-dM", "-E"], umbrella);
  const objectLike = new Set();
  for (const line of defs.split("\n")) {
    const m = /^#define (\w+)(\(| |$)/.exec(line);
    if (m && m[2] !== "(") objectLike.add(m[1]);
  }
  const wanted = new Set();
  for (const p of patterns) {
    if (p.endsWith("*")) {
      const hits = [...objectLike].filter((n) => n.startsWith(p.slice(0, -1)));
      if (!hits.length) die(`no constant matches ${p}`);
      hits.forEach((n) => wanted.add(n));
    } else {
      if (!objectLike.has(p)) die(`constant ${p} is not defined by the headers`);
      wanted.add(p);
    }
  }
  // Keep only integer constant expressions: a first pass asks clang which
  // names fail `_Static_assert(((NAME) | 0) || 1)` (strings, aliases of functions).
  let names = [...wanted].sort();
  const probe = join(tmp, "probe.c");
  const head = HEADERS.map((h) => `#include <${h}>\n`).join("");
  const headLines = HEADERS.length;
  writeFileSync(probe, head + names.map((n) => `_Static_assert(((${n}) | 0) || 1, "");\n`).join(""));
  let diag = "";
  try { clang(["-fsyntax-only", "-ferror-limit=0", "-w"], probe); }
  catch (e) { diag = String(e.stderr); }
  const bad = new Set();
  for (const m of diag.matchAll(/probe\.c:(\d+):\d+: error/g)) bad.add(names[Number(m[1]) - headLines - 1]);
  const explicit = patterns.filter((p) => !p.endsWith("*") && bad.has(p));
  if (explicit.length) die(`not integer constants: ${explicit.join(", ")}`);
  names = names.filter((n) => !bad.has(n));

  const prog = join(tmp, "values.c");
  writeFileSync(prog, head + "#include <stdio.h>\n" +
    "#define V(n) printf(\"%s %d %d %llu\\n\", #n, (int)sizeof(n), (n) < 0, (unsigned long long)(n));\n" +
    "int main(void) {\n" + names.map((n) => `  V(${n})\n`).join("") + "  return 0;\n}\n");
  const out = join(tmp, "values.js");
  execFileSync("emcc", [...includeFlags, "-w", "-O0", "-sENVIRONMENT=node", "-sSINGLE_FILE=1", "-o", out, prog],
    { env, stdio: ["ignore", "ignore", "inherit"] });
  const text = execFileSync(process.execPath, [out], { encoding: "utf8" });
  return text.trim().split("\n").map((line) => {
    const [name, size, neg, u] = line.split(" ");
    let v = BigInt(u);
    if (neg === "1") v = BigInt.asIntN(Number(size) * 8, v);
    return { name, wide: Number(size) > 4, value: v };
  });
}

// ---- ownership of returned pointers
// OpenSSL's naming says who frees a returned pointer; the name decides, in
// this order, and a pointer-returning function that none of it decides stops
// the generator (add it to OWNERSHIP, after reading its man page).
//   1. OWNERSHIP below, for names whose convention is ambiguous or broken;
//   2. owned: *_new / *_new_*, *_dup / *_dup_*, *get1_*, d2i_* / *_d2i,
//      PEM_read_*: the caller frees the result (or, for d2i_/PEM_read_ given
//      an object to fill, owns it already);
//   3. borrowed: *get0_*, a `const T *` result (OpenSSL never hands over
//      ownership through const), the legacy *_get_* accessors (SSL_get_rbio,
//      X509_get_subject_name: internal pointers, valid while their parent is),
//      *_method and BIO_s_* (static tables).
// "plain" keeps Ptr<T>: ownership depends on the arguments.
const OWNERSHIP = new Map([
  // get_ names that hand over a reference (a classic trap): get1 semantics.
  ["X509_get_pubkey", "owned"],            // X509_get_pubkey(3): "the returned key must be freed up after use"; get0 borrows
  ["X509_REQ_get_pubkey", "owned"],        // as X509_get_pubkey
  ["X509_PUBKEY_get", "owned"],            // X509_PUBKEY_new(3): up-refs, "MUST be freed"; X509_PUBKEY_get0 borrows
  ["X509_REQ_get_extensions", "owned"],    // X509_REQ_get_extensions(3): "the caller is responsible for freeing the list"
  // Names without a get0/get1 marker.
  ["SSL_set_SSL_CTX", "borrowed"],         // SSL_set_SSL_CTX: returns the SSL's context now, not a new reference
  ["ow_sk_X509_value", "borrowed"],        // sk_X509_value: an element of the stack, owned by the stack
  ["X509_NAME_oneline", "plain"],
  ["ow_http_events", "borrowed"],          // wasm/http.c: its static event array          // X509_NAME_print_ex(3): a new string (OPENSSL_free) when buf is NULL, else buf
]);
const OWNED = [/(^|_)new($|_)/, /(^|_)dup($|_)/, /(^|_)get1_/, /(^|_)d2i($|_)/, /^PEM_read_/];
const BORROWED = [/(^|_)get0_/, /(^|_)get_/, /_method$/, /^BIO_s_/];

/** "owned" | "borrowed" | "plain" for a function's returned pointer. */
function ownership(f) {
  const name = f.name.replace(/^ow_/, "");
  if (OWNERSHIP.has(f.name)) return OWNERSHIP.get(f.name);
  if (OWNED.some((re) => re.test(name))) return "owned";
  if (/^const\b/.test(f.ret.c) || BORROWED.some((re) => re.test(name))) return "borrowed";
  die(`${f.name} returns a pointer whose owner its name does not say: add it to OWNERSHIP in bindings/gen/generate.mjs`);
}

// ---- where our own (ow_*) functions are defined: wasm/*.c
const ourSources = readdirSync(join(root, "wasm")).filter((n) => n.endsWith(".c")).sort()
  .map((n) => ({ file: `wasm/${n}`, text: readFileSync(join(root, "wasm", n), "utf8") }));
function definedIn(name) {
  // a definition starts in column 0 with its return type, and is not a
  // prototype or an extern declaration (those end with ");")
  const head = new RegExp(`^(?!extern\\b)[A-Za-z][\\w\\s*]*\\b${name}\\(`);
  const defines = (text) => text.split("\n").some((l) => head.test(l) && !/\);\s*$/.test(l));
  const hits = ourSources.filter((s) => defines(s.text)).map((s) => s.file);
  if (hits.length !== 1) die(`${name}: defined in ${hits.length ? hits.join(", ") : "none of wasm/*.c"}`);
  return hits[0];
}

// ---- emit
const banner = (what) => `// ${what}\n// GENERATED by ${COMMAND}.\n// Do not edit: change bindings/gen/api.txt or the generator instead.\n`;

function tsType(t) {
  switch (t.kind) {
    case "void": return "void";
    case "i32": case "f64": return "number";
    case "i64": return "bigint";
    case "ptr": return t.brand === "void" || t.brand === "fn" ? "AnyPtr" : `Ptr<${JSON.stringify(t.brand)}>`;
  }
}
function tsReturnType(f) {
  const t = f.ret;
  if (t.kind !== "ptr" || t.brand === "void" || t.brand === "fn") return tsType(t);
  const how = ownership(f);
  if (how === "plain") return tsType(t);
  return `${how === "owned" ? "Owned" : "Borrowed"}<${JSON.stringify(t.brand)}>`;
}
function emitFFI(fns) {
  const lines = [banner("Typed FFI over the wasm exports: one function per entry of bindings/gen/api.txt."), `
/** A pointer into the wasm heap, branded with the C type it points to. */
export type Ptr<T extends string> = number & { readonly __ptr: T };
/** Any pointer (C \`void *\` and function pointers). */
export type AnyPtr = number & { readonly __ptr: string };
/** The null pointer. */
export const NULL = 0 as AnyPtr & Ptr<never>;

declare const ownership: unique symbol;
/**
 * A pointer the caller now owns and must free (or hand on): returned by
 * OpenSSL's *_new, *_dup, get1_*, d2i_* and PEM_read_* functions. Assignable
 * to Ptr<T>; not to Borrowed<T>.
 */
export type Owned<T extends string> = Ptr<T> & { readonly [ownership]?: "owned" };
/**
 * A pointer that stays its callee's (get0_* and other accessors, static
 * tables): never freed by the caller, valid while its parent is. Assignable
 * to Ptr<T>; not to Owned<T>.
 */
export type Borrowed<T extends string> = Ptr<T> & { readonly [ownership]?: "borrowed" };

/** The raw exports of the Emscripten module ("_" + C name). */
export type RawExports = Record<string, (...args: never[]) => unknown>;

/**
 * The OpenSSL functions openssl-wasm exports, typed for the wasm32 ABI:
 * 32-bit integers and pointers are numbers, 64-bit integers are bigints.
 * Functions named like an OpenSSL macro are wasm/shim.h's ow_* wrappers.
 * A returned pointer is Owned<T> (the caller frees it), Borrowed<T> (it
 * does not), or plain Ptr<T> where that depends on the arguments.
 */
export interface FFI {`];
  for (const f of fns) {
    const api = f.name.replace(/^ow_/, "");
    const sig = `${f.ret.c} ${f.name}(${f.params.map((p) => `${p.c} ${p.cName}`).join(", ") || "void"})`;
    lines.push(`  /** \`${sig}\`${f.name.startsWith("ow_") ? ` (${definedIn(f.name)})` : ""} */`);
    lines.push(`  ${api}(${f.params.map((p) => `${p.name}: ${tsType(p)}`).join(", ")}): ${tsReturnType(f)};`);
  }
  lines.push("}", "", "/** Binds the typed FFI to a module's raw exports. */",
    "export function bindFFI(m: RawExports): FFI {",
    "  // eslint-disable-next-line @typescript-eslint/no-explicit-any",
    "  const e = m as Record<string, any>;", "  return {");
  for (const f of fns) {
    const api = f.name.replace(/^ow_/, "");
    const raw = `e._${f.name}`;
    // Unsigned results come back from wasm as signed: convert them.
    if (f.ret.kind === "i32" && !f.ret.signed) {
      const ps = f.params.map((p) => p.name).join(", ");
      lines.push(`    ${api}: (${ps}) => ${raw}(${ps}) >>> 0,`);
    } else if (f.ret.kind === "i64" && !f.ret.signed) {
      const ps = f.params.map((p) => p.name).join(", ");
      lines.push(`    ${api}: (${ps}) => BigInt.asUintN(64, ${raw}(${ps})),`);
    } else {
      lines.push(`    ${api}: ${raw},`);
    }
  }
  lines.push("  };", "}", "");
  return lines.join("\n");
}
function emitConstants(consts) {
  const lines = [banner("OpenSSL constants, as the pinned headers define them for wasm32."), ""];
  for (const c of consts) lines.push(`export const ${c.name} = ${c.value}${c.wide ? "n" : ""};`);
  lines.push("");
  return lines.join("\n");
}
function emitExports(fns) {
  return JSON.stringify({
    generated: `GENERATED by ${COMMAND}. Do not edit.`,
    functions: ["_malloc", "_free", ...fns.map((f) => `_${f.name}`)],
  }, null, 2) + "\n";
}

const list = readList();
const fns = functionTypes(new Set(list.functions));
const outputs = {
  "wasm/exports.json": emitExports(fns),
  "bindings/src/generated/ffi.ts": emitFFI(fns),
  "bindings/src/generated/constants.ts": emitConstants(constants(list.constants)),
};
let drift = [];
for (const [rel, text] of Object.entries(outputs)) {
  const path = join(root, rel);
  let old = null;
  try { old = readFileSync(path, "utf8"); } catch { /* new file */ }
  if (old === text) continue;
  if (check) { drift.push(rel); continue; }
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, text);
  console.error(`generate: wrote ${rel}`);
}
if (drift.length) {
  die(`generated files differ from what is committed: ${drift.join(", ")}\n` +
    "generate: run `make generate` and commit the result");
}
