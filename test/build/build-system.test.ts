// The build's promises (issue 2): a tarball that is not the pinned one is
// refused before anything is built; the OpenSSL cache key follows the
// Configure flags and our C files compiled into libcrypto (wasm/crypto/);
// no OpenSSL source or binary is tracked in git. The same for llhttp
// (llhttp-src/): a tarball that is not the pinned one is refused.
import { execFileSync, spawnSync } from "node:child_process";
import { copyFileSync, cpSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { afterAll, describe, expect, it } from "vitest";

const root = resolve(import.meta.dirname, "../..");
const scratch = mkdtempSync(join(tmpdir(), "openssl-wasm-build-test-"));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

const prefix = readFileSync(join(root, "wasm/build/openssl-prefix"), "utf8").trim();
const [version] = readFileSync(join(root, "openssl-src/openssl.pin"), "utf8").trim().split(/\s+/);
const cachedTarball = join(resolve(prefix, "../.."), "tarballs", `openssl-${version}.tar.gz`);

describe("fetching the OpenSSL source", () => {
  it("refuses a tarball whose SHA-256 is not the pinned one, with a clear message, and builds nothing", () => {
    const corrupt = join(scratch, `openssl-${version}.tar.gz`);
    copyFileSync(cachedTarball, corrupt);
    const bytes = readFileSync(corrupt);
    bytes[1000] ^= 0xff;
    writeFileSync(corrupt, bytes);
    const cache = join(scratch, "cache");
    // a copy of the build scripts with an edited flag, so the configuration
    // is not in any cache and a build would really start
    const tree = join(scratch, "tree");
    cpSync(join(root, "openssl-src"), join(tree, "openssl-src"), { recursive: true });
    cpSync(join(root, "wasm"), join(tree, "wasm"), {
      recursive: true, filter: (src) => !/\/wasm\/(build|dist)(\/|$)/.test(src),
    });
    const r = spawnSync(join(tree, "wasm/build-openssl.sh"), [], {
      env: { ...process.env, OPENSSL_TARBALL: corrupt, OPENSSL_WASM_CACHE: cache },
      encoding: "utf8",
    });
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/SHA-256 mismatch/);
    expect(r.stderr).toMatch(/refusing to build from .*it is not the pinned OpenSSL/);
    expect(existsSync(join(cache, "openssl"))).toBe(false); // nothing built
    expect(existsSync(join(tree, "wasm/build/openssl-prefix"))).toBe(false);
  });

  it("accepts the pinned tarball from a local path (offline use)", () => {
    const cache = join(scratch, "cache-ok");
    const out = execFileSync(join(root, "openssl-src/fetch.sh"), {
      env: { ...process.env, OPENSSL_TARBALL: cachedTarball, OPENSSL_WASM_CACHE: cache },
      encoding: "utf8",
    });
    expect(out.trim()).toBe(join(cache, "tarballs", `openssl-${version}.tar.gz`));
  });
});

describe("fetching llhttp", () => {
  const [llhttpVersion, nodeVersion] = readFileSync(join(root, "llhttp-src/llhttp.pin"), "utf8").trim().split(/\s+/);
  const cachedNode = join(resolve(prefix, "../.."), "tarballs", `nodejs_${nodeVersion}.orig.tar.xz`);

  it("refuses a tarball whose SHA-256 is not the pinned one, and extracts nothing", () => {
    const corrupt = join(scratch, `nodejs_${nodeVersion}.orig.tar.xz`);
    copyFileSync(cachedNode, corrupt);
    const bytes = readFileSync(corrupt);
    bytes[1000] ^= 0xff;
    writeFileSync(corrupt, bytes);
    const cache = join(scratch, "llhttp-cache");
    const r = spawnSync(join(root, "llhttp-src/fetch.sh"), [], {
      env: { ...process.env, LLHTTP_TARBALL: corrupt, OPENSSL_WASM_CACHE: cache }, encoding: "utf8",
    });
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/SHA-256 mismatch/);
    expect(r.stderr).toMatch(/refusing .*: it is not the pinned nodejs/);
    expect(existsSync(join(cache, "llhttp")) && readdirSync(join(cache, "llhttp")).length).toBeFalsy();
  });

  it("accepts the pinned tarball from a local path (offline use) and extracts llhttp's C parser", () => {
    const cache = join(scratch, "llhttp-cache-ok");
    const out = execFileSync(join(root, "llhttp-src/fetch.sh"), {
      env: { ...process.env, LLHTTP_TARBALL: cachedNode, OPENSSL_WASM_CACHE: cache }, encoding: "utf8",
    }).trim();
    expect(out.startsWith(join(cache, "llhttp", `${llhttpVersion}-`))).toBe(true);
    expect(readdirSync(join(out, "src")).sort()).toEqual(["api.c", "http.c", "llhttp.c"]);
    expect(readFileSync(join(out, "include/llhttp.h"), "utf8")).toMatch(new RegExp(`#define LLHTTP_VERSION_MAJOR ${llhttpVersion!.split(".")[0]}\\b`));
    expect(existsSync(join(out, "LICENSE-MIT"))).toBe(true);
  });
});

describe("the OpenSSL build cache", () => {
  const printPrefix = (tree: string) =>
    execFileSync(join(tree, "wasm/build-openssl.sh"), ["--print-prefix"], { encoding: "utf8" }).trim();

  it("is keyed by the Configure flags: changing one flag selects a new build", () => {
    const tree = join(scratch, "flags");
    cpSync(join(root, "openssl-src"), join(tree, "openssl-src"), { recursive: true });
    cpSync(join(root, "wasm/build-openssl.sh"), join(tree, "wasm/build-openssl.sh"));
    cpSync(join(root, "wasm/configure-flags.txt"), join(tree, "wasm/configure-flags.txt"));
    cpSync(join(root, "wasm/crypto"), join(tree, "wasm/crypto"), { recursive: true });
    for (const f of ["wasm/speed-sources.txt", "wasm/split-opt.sh"]) cpSync(join(root, f), join(tree, f));
    expect(printPrefix(tree)).toBe(prefix); // same inputs, same cached build
    const flags = join(tree, "wasm/configure-flags.txt");
    writeFileSync(flags, readFileSync(flags, "utf8").replace(/^no-ct\b.*$/m, ""));
    expect(printPrefix(tree)).not.toBe(prefix);
    // comments are not part of the key
    writeFileSync(flags, readFileSync(join(root, "wasm/configure-flags.txt"), "utf8") + "\n# a comment\n");
    expect(printPrefix(tree)).toBe(prefix);
  });

  it("is keyed by our C files compiled into libcrypto (wasm/crypto/), not by their README", () => {
    const tree = join(scratch, "crypto");
    for (const p of ["openssl-src", "wasm/build-openssl.sh", "wasm/configure-flags.txt", "wasm/crypto", "wasm/speed-sources.txt", "wasm/split-opt.sh"])
      cpSync(join(root, p), join(tree, p), { recursive: true });
    expect(printPrefix(tree)).toBe(prefix);
    writeFileSync(join(tree, "wasm/crypto/README.md"), "changed\n");
    expect(printPrefix(tree)).toBe(prefix);
    const c = join(tree, "wasm/crypto/ghash-simd.c");
    writeFileSync(c, readFileSync(c, "utf8") + "\n");
    expect(printPrefix(tree)).not.toBe(prefix);
  });

  it("is keyed by which sources are compiled for speed (wasm/speed-sources.txt), not by its comments", () => {
    const tree = join(scratch, "speed");
    for (const p of ["openssl-src", "wasm/build-openssl.sh", "wasm/configure-flags.txt", "wasm/crypto", "wasm/speed-sources.txt", "wasm/split-opt.sh"])
      cpSync(join(root, p), join(tree, p), { recursive: true });
    expect(printPrefix(tree)).toBe(prefix);
    const list = join(tree, "wasm/speed-sources.txt");
    writeFileSync(list, readFileSync(list, "utf8") + "# a comment\n");
    expect(printPrefix(tree)).toBe(prefix);
    writeFileSync(list, readFileSync(list, "utf8").replace(/^crypto\/rsa\/rsa_ossl\.c\n/m, ""));
    expect(printPrefix(tree)).not.toBe(prefix);
  });

  it("records the flags and emcc version next to the cached libraries", () => {
    expect(readdirSync(join(prefix, "lib"))).toEqual(expect.arrayContaining(["libcrypto.a", "libssl.a"]));
    expect(readFileSync(join(prefix, "configure-flags"), "utf8")).toMatch(/^no-sock$/m);
    expect(readFileSync(join(prefix, "emcc-version"), "utf8")).toMatch(/^emcc .* 3\.1\.6/);
  });
});

describe("the repository", () => {
  it("tracks no OpenSSL source and no build outputs", () => {
    const files = execFileSync("git", ["ls-files"], { cwd: root, encoding: "utf8" }).split("\n");
    expect(files.filter((f) => /^openssl-src\/.*\.(c|h|pl|pm|in)$/.test(f))).toEqual([]);
    expect(files.filter((f) => /^llhttp-src\/.*\.(c|h)$/.test(f) || /(^|\/)llhttp\.[ch]$/.test(f))).toEqual([]);
    expect(files.filter((f) => /\.(wasm|a|o)$/.test(f))).toEqual([]);
    expect(files.filter((f) => /^wasm\/dist\//.test(f))).toEqual([]);
  });
});
