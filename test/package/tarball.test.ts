// What `npm pack` puts in the tarball users install: the compiled bindings
// (exactly one .js, .d.ts and source map per source file, nothing stale), the
// wasm with its loader, types and the default root store, the README and
// package.json; no tests, sources, examples or build leftovers; every entry
// point and relative import resolving inside it; a sane size.
import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, relative } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { pack, root, type Packed } from "./pack.js";

const scratch = mkdtempSync(join(tmpdir(), "openssl-tls-wasm-pack-"));
let packed: Packed;
/** The tarball's paths (without the leading "package/"), from tar itself. */
let paths: string[];
/** Where the tarball is extracted. */
let unpacked: string;

beforeAll(async () => {
  packed = await pack(scratch);
  paths = execFileSync("tar", ["-tzf", packed.file], { encoding: "utf8" }).trim().split("\n")
    .map((p) => p.replace(/^package\//, "")).filter((p) => !p.endsWith("/")).sort();
  unpacked = join(scratch, "unpacked");
  mkdirSync(unpacked);
  execFileSync("tar", ["-xzf", packed.file, "-C", unpacked, "--strip-components=1"]);
}, 120_000);
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

/** Every .ts under bindings/src (relative, without the extension). */
function sources(dir = join(root, "bindings/src")): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = join(dir, e.name);
    if (e.isDirectory()) return sources(p);
    return e.name.endsWith(".ts") && !e.name.endsWith(".d.ts") ? [relative(join(root, "bindings/src"), p).slice(0, -3)] : [];
  });
}

const WASM_DIST = ["LICENSE-llhttp", "openssl.d.mts", "openssl.mjs", "openssl.wasm", "roots.der", "roots.json"].map((f) => `wasm/dist/${f}`);

describe("npm pack", () => {
  it("lists the same files as tar finds in the tarball", () => {
    expect(packed.files.map((f) => f.path).sort()).toEqual(paths);
  });

  it("holds the compiled bindings, the wasm with its loader, types and root store, README and package.json, and nothing else", () => {
    const bindings = sources().flatMap((s) => [`bindings/dist/${s}.js`, `bindings/dist/${s}.d.ts`, `bindings/dist/${s}.js.map`]);
    const expected = [...bindings, ...WASM_DIST, "README.md", "package.json"].sort();
    // Each extra path is a leftover (a stale module of a renamed source: run `make`, which empties bindings/dist first).
    expect(paths.filter((p) => !expected.includes(p)), "in the tarball, not expected").toEqual([]);
    expect(expected.filter((p) => !paths.includes(p)), "expected, not in the tarball").toEqual([]);
    for (const p of paths) {
      expect(p, "no tests, sources, examples or dotfiles").not.toMatch(/(^|\/)(test|examples|bench|web-demo|openssl-src|scripts|node_modules|src)\/|(^|\/)\.|\.tgz$|\.test\./);
    }
  });

  it("has every export target, the types entry and the bin", () => {
    const pkg = JSON.parse(readFileSync(join(unpacked, "package.json"), "utf8"));
    const targets: string[] = [pkg.types, ...Object.values(pkg.bin as Record<string, string>)];
    const walk = (v: unknown): void => {
      if (typeof v === "string") targets.push(v);
      else if (v && typeof v === "object") Object.values(v).forEach(walk);
    };
    walk(pkg.exports);
    for (const t of targets) expect(paths, t).toContain(t.replace(/^\.\//, ""));
    expect(readFileSync(join(unpacked, pkg.bin["openssl-tls-wasm-tunnel"]), "utf8")).toMatch(/^#!\/usr\/bin\/env node\n/);
  });

  it("every relative import of a shipped module or declaration resolves to a file in the tarball", () => {
    const modules = paths.filter((p) => /\.(js|mjs|d\.ts|d\.mts)$/.test(p));
    let checked = 0;
    for (const m of modules) {
      const code = readFileSync(join(unpacked, m), "utf8");
      // import/export ... from, import(), and new URL("...", import.meta.url) (the wasm and the root store)
      for (const [, spec] of code.matchAll(/(?:from\s+|import\s*\(\s*|import\s+|new URL\(\s*)["'](\.{1,2}\/[^"']+)["']/g)) {
        const target = join(dirname(m), spec!);
        // a declaration may name the module ("./x.js") whose types are in x.d.ts
        const candidates = m.endsWith(".ts") ? [target, target.replace(/\.(m?)js$/, ".d.$1ts")] : [target];
        expect(candidates.some((c) => paths.includes(c)), `${m} imports ${spec}`).toBe(true);
        checked++;
      }
    }
    expect(checked).toBeGreaterThan(100);
  });

  it("source maps carry their sources (bindings/src is not shipped)", () => {
    for (const m of paths.filter((p) => p.endsWith(".js.map"))) {
      const map = JSON.parse(readFileSync(join(unpacked, m), "utf8")) as { sources: string[]; sourcesContent?: (string | null)[] };
      expect(map.sources.length, m).toBeGreaterThan(0);
      expect(map.sourcesContent?.length, m).toBe(map.sources.length);
      expect(map.sourcesContent!.every((s) => typeof s === "string" && s.length > 0), m).toBe(true);
    }
  });

  it("is a sane size: the wasm is most of it", () => {
    const size = (p: string) => packed.files.find((f) => f.path === p)!.size;
    const wasm = size("wasm/dist/openssl.wasm");
    console.log(`tarball: ${(packed.size / 1024).toFixed(0)} KiB packed, ${(packed.unpackedSize / 1024).toFixed(0)} KiB unpacked (${paths.length} files; openssl.wasm ${(wasm / 1024).toFixed(0)} KiB)`);
    expect(packed.size).toBeLessThan(1.5 * 1024 * 1024);
    expect(packed.unpackedSize).toBeLessThan(4 * 1024 * 1024);
    // (raise these when the wasm or the bindings grow for a reason)
    expect(wasm).toBeLessThan(2 * 1024 * 1024);
    expect(packed.unpackedSize - wasm).toBeLessThan(2 * 1024 * 1024); // 1.6 MiB with TlsWebSocket, Wisp and the edge tunnel (half of it source maps with their sources)
    for (const f of packed.files) if (f.path !== "wasm/dist/openssl.wasm") expect(f.size, f.path).toBeLessThan(256 * 1024);
    expect(existsSync(packed.file)).toBe(true);
  });
});
