// The package in every browser engine (Chromium, Firefox, WebKit: Debian's
// builds, test/helpers/browsers.mjs), on the main thread and in a module
// Worker: the runtime smoke test through the WebSocket tunnel to a local
// `openssl s_server -rev` (verify, exchange, close both ways), the README's
// `for await` loop over `tls.readable` (WebKit has no async iteration on
// ReadableStream of its own), the README's engine example with `using` as
// Vite and TypeScript compile it (WebKit has no Symbol.dispose), and a tour
// of the public API both ends in one page, to catch what an engine lacks.
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import type { Server } from "node:http";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { createTunnel, type Tunnel } from "../../bindings/src/tunnel/tunnel.js";
import { ENGINES, launch, type Browser, type Page } from "../helpers/browsers.mjs";
import { browserIt } from "../helpers/webkit-faults.js";
import { SERVER_NAME, identity } from "../helpers/harness.js";
import { SMOKE_EXPECTED, identityFiles, killAllPeers, revServer } from "../helpers/peers.js";
import { selfSigned } from "../helpers/pki.js";
import { serveDirectory } from "../helpers/static-server.mjs";

const root = resolve(import.meta.dirname, "../..");
const id = identity();
const files = identityFiles(id);
const clientId = selfSigned("client.test");
const coldIds = [{ name: "P-256", ...id }, { name: "P-384", ...selfSigned(SERVER_NAME, "ec-p384") }];
let site: { url: string; server: Server };
let tunnel: Tunnel;

// The README's engine example (`using ctx`, `using conn`), as an application
// would have it compiled for browsers without native `using`: by Vite (oxc)
// and by TypeScript (tsc), both to ES2022.
const USING_EXAMPLE = `
export async function readmeExample(lib: any, caPem: string) {
  const ossl = await lib.OpenSSL.load();
  let first = "";
  let kept: any;
  {
    using ctx = ossl.createContext({ role: "client", ca: caPem });
    using conn = ctx.createConnection({ servername: "example.org" });
    const r = conn.handshake();
    first = r.ret + " " + r.sslError;
    kept = { ctx, conn };
  }
  return { first, ctxDisposed: kept.ctx.disposed, connDisposed: kept.conn.disposed };
}`;
const usingBuilds: { vite: string; tsc: string } = { vite: "", tsc: "" };

async function compileUsingExample(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), "openssl-wasm-using-"));
  try {
    const entry = join(dir, "example.ts");
    writeFileSync(entry, USING_EXAMPLE);
    const { build } = await import("vite");
    const out = await build({
      configFile: false, logLevel: "silent", root: dir,
      build: { write: false, target: "es2022", minify: false, lib: { entry, formats: ["es"], fileName: "example" } },
    }) as { output: { code?: string }[] }[];
    usingBuilds.vite = out[0]!.output[0]!.code!;
    execFileSync(join(root, "node_modules/.bin/tsc"), ["--ignoreConfig", "--target", "es2022", "--module", "es2022",
      "--lib", "es2022,esnext.disposable", "--outDir", join(dir, "tsc"), entry], { stdio: "pipe" });
    usingBuilds.tsc = readFileSync(join(dir, "tsc/example.js"), "utf8");
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

beforeAll(async () => {
  site = await serveDirectory(root);
  tunnel = await createTunnel({ allow: ["127.0.0.1:*"], origins: [site.url] });
  await compileUsingExample();
}, 60_000);
afterAll(async () => {
  await tunnel?.close();
  site?.server.close();
});
afterEach(() => killAllPeers());

/** A fresh s_server -rev (helpers/peers.ts), through the tunnel. */
async function revServerUrl(): Promise<string> {
  return `${tunnel.url}/127.0.0.1:${await revServer(files)}`;
}

const expected = { ...SMOKE_EXPECTED, peer: `/CN=${SERVER_NAME}` };

type Reply = { ok: boolean; result?: unknown; error?: string };
type Where = "main thread" | "Worker";

/** Runs one of the page's tests (smoke-page.mjs) on the main thread or in a module Worker (smoke-worker.mjs). */
async function run(page: Page, where: Where, test: "smoke" | "readme" | "tour", options: object): Promise<unknown> {
  if (where === "main thread") {
    const fn = { smoke: "runSmoke", readme: "runReadmeLoop", tour: "runTour" }[test];
    const result = await page.evaluate(({ fn, options }) => (window as unknown as Record<string, (o: unknown) => Promise<unknown>>)[fn]!(options),
      { fn, options });
    expect(await page.evaluate(() => (window as unknown as { pageErrors: string[] }).pageErrors)).toEqual([]);
    return result;
  }
  const reply = await page.evaluate((message) => new Promise<Reply>((done) => {
    const worker = new Worker("/test/browser/smoke-worker.mjs", { type: "module" });
    worker.onmessage = (e) => { done(e.data); worker.terminate(); };
    worker.onerror = (e) => done({ ok: false, error: `worker error: ${e.message}` });
    worker.postMessage(message);
  }), { test, ...options });
  expect(reply.error).toBeUndefined();
  return reply.result;
}

describe.each(ENGINES)("%s", (engine) => {
  let browser: Browser;
  // WebKit's known page fault: a test it hits runs once more (test/helpers/webkit-faults.ts)
  const test = browserIt(engine);
  let page: Page;

  beforeAll(async () => {
    browser = await launch(engine);
    console.log(`${engine}: ${browser.name} ${browser.version}, driven by ${browser.driver}`);
  }, 60_000);
  afterAll(async () => {
    await browser?.close();
  });

  async function open(): Promise<Page> {
    page = await browser.newPage();
    await page.goto(`${site.url}/test/browser/blank.html`);
    await page.waitFor(() => (window as unknown as { smokeReady?: boolean }).smokeReady === true);
    return page;
  }
  afterEach(async () => {
    await page?.close();
  });

  for (const where of ["main thread", "Worker"] as const) {
    test(`${where}: through the tunnel, verifies, exchanges, closes both ways (0, then 1)`, async () => {
      const url = await revServerUrl();
      const result = await run(await open(), where, "smoke", { url, caPem: id.certPem, servername: SERVER_NAME });
      expect(result).toMatchObject(expected);
    });

    test(`${where}: the README's \`for await (const chunk of tls.readable)\` reads to the peer's close_notify`, async () => {
      const url = await revServerUrl();
      const result = await run(await open(), where, "readme", { url, caPem: id.certPem, servername: SERVER_NAME }) as Record<string, unknown>;
      expect(result).toMatchObject({ protocol: "TLSv1.3", verifyResult: 0, received: "EMDAER eht morf gnip\n", ending: "clean" });
      expect(result.steps).toContain("SSL_shutdown 1");
      // WebKitGTK 2.50 has no ReadableStream async iteration: there the loop ran on iterable.ts
      if (engine === "webkit") expect(result.engineAsyncIteration).toBe(false);
    });

    test(`${where}: the public API both ends in one ${where === "Worker" ? "Worker" : "page"} (memoryPair)`, async () => {
      const t = await run(await open(), where, "tour", {
        server: id, client: clientId, servername: SERVER_NAME,
      }) as Record<string, Record<string, unknown>>;
      console.log(`${engine} ${where}: ${JSON.stringify(t.engineGlobals)}`);
      expect(t.version).toMatch(/^OpenSSL 3\.5\./);
      expect(t.engine).toMatchObject({
        first: "-1 want_read", handshakeDone: true, protocol: "TLSv1.3", group: "X25519MLKEM768", verifyResult: 0,
        read: "engine hello", shutdown: [0, 1], disposeMethod: "function", undefinedKey: false, useAfterFree: "UseAfterFreeError",
      });
      expect(t.loop).toMatchObject({
        protocol: "TLSv1.3", alpn: "http/1.1", group: "X25519MLKEM768", verifyResult: 0, serverSawClientCert: "/CN=client.test",
        received: "one two three", ending: "clean", serverEnding: "clean", lockedAfter: false,
        // the fallback is on the instance exactly where the engine has none
        ownIterator: !t.engineGlobals!.readableStreamAsyncIterator,
      });
      expect(t.loop!.chunks).toBeGreaterThanOrEqual(1);
      expect(t.resumed).toMatchObject({ sessionReused: true });
      expect(t.breakEarly).toEqual({ got: "first", lockedAfter: false });
      expect(t.truncation).toEqual({ error: "TlsTruncationError", ending: "truncated" });
      expect(t.verification).toMatchObject({ error: "CertificateVerificationError", verifyResult: 18 });
      expect(t.failures).toEqual({ abort: "aborted by the page", timeout: "TlsTimeoutError handshake" });
      expect(t.roots).toMatchObject({ selfOk: true, defaultResult: "self-signed certificate", randomNonZero: true });
      expect(t.roots!.count).toBeGreaterThan(100);
    });
  }

  // WebKit's baseline wasm compiler (JSC's BBQ, 2.50.6) computed ecp_nistp256.c's
  // 64-bit-limb P-256 wrongly now and then while a page's code was cold, when
  // point_add called __multi3: ECDSA verifications failed in 6 of 25 fresh pages
  // under load (patch 0006, wasm/configure-flags.txt). Fresh pages, each doing
  // handshakes from a cold module, both ends in the page, with ECDSA P-256 and
  // P-384 certificates (signing and verifying) and each key exchange. WebKit
  // still fails now and then (below).
  it("ECDSA P-256 and P-384 from a cold module: every handshake in fresh pages verifies (WebKit: its known cold-page faults at most twice)", async () => {
    const results: string[] = [];
    const pages = engine === "webkit" ? 16 : 4;
    for (let i = 0; i < pages; i++) {
      const page = await open();
      try {
        results.push(...await page.evaluate((o) => (window as unknown as { runColdHandshakes(o: unknown): Promise<string[]> }).runColdHandshakes(o),
          { ids: coldIds, servername: SERVER_NAME, groups: ["X25519", "P-256", "X25519MLKEM768"], perGroup: 5 }));
      } catch (e) {
        if (engine !== "webkit") throw e;
        results.push(`lost page: ${(e as Error).message}`);
      } finally {
        await page.close().catch(() => {});
      }
    }
    const failures = results.filter((r) => r !== "ok");
    if (engine === "webkit") {
      // Left of the JavaScriptCore fault after patch 0006 (README, "WebKit's baseline wasm
      // compiler"), in cold pages only: now and then the first P-384 signature does not verify,
      // the module traps (`unreachable`), or the page's result never comes back (WebKitWebDriver:
      // "Could not parse script result"). On 2026-11-27 one of these came in 6 of 19 runs of this
      // test, never more than one a run; never in Chromium or Firefox. Those, at most twice (each
      // spoiling at most its page), and nothing else: every other handshake verifies.
      const known = /^(P-384 [\w-]+: -1 ssl handshake failed: bad signature$|trap: Unreachable code should not be executed\b|lost page: WebKitWebDriver .*Could not parse script result)/;
      expect(failures.filter((f) => !known.test(f))).toEqual([]);
      expect(failures.length).toBeLessThanOrEqual(2);
      expect(results.filter((r) => r === "ok").length).toBeGreaterThanOrEqual((pages - failures.length) * 30);
    } else {
      expect(failures).toEqual([]);
      expect(results).toHaveLength(pages * 30);
    }
  }, 120_000);

  test("the README's engine example with `using`, as Vite and TypeScript compile it", async () => {
    const page = await open();
    const runIt = (code: string, polyfill: boolean) => page.evaluate((o) =>
      (window as unknown as { runUsingExample(o: unknown): Promise<unknown> }).runUsingExample(o), { code, caPem: id.certPem, polyfill });
    const hasSymbolDispose = await page.evaluate(() => typeof Symbol.dispose === "symbol");
    const disposed = { first: "-1 want_read", ctxDisposed: true, connDisposed: true };
    // Vite (oxc), like esbuild and Babel, falls back to Symbol.for("Symbol.dispose"): works everywhere
    expect(await runIt(usingBuilds.vite, false)).toEqual({ ok: true, value: disposed });
    // TypeScript's helper needs Symbol.dispose itself: WebKit 2.50 has none
    expect(await runIt(usingBuilds.tsc, false)).toEqual(hasSymbolDispose
      ? { ok: true, value: disposed } : { ok: false, error: "TypeError: Symbol.dispose is not defined." });
    if (engine === "webkit") expect(hasSymbolDispose).toBe(false);
    expect(await runIt(usingBuilds.tsc, true)).toEqual({ ok: true, value: disposed });
  });
});
