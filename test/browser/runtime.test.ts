// Chromium smoke test: the package in a real browser (Debian's Chromium),
// through the WebSocket tunnel to a local `openssl s_server -rev`, on the
// main thread and in a module Worker: verify, exchange, close both ways.
import { resolve } from "node:path";
import type { Server } from "node:http";
import type { Browser } from "playwright-core";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { createTunnel, type Tunnel } from "../../bindings/src/tunnel/tunnel.js";
import { launchChromium } from "../helpers/chromium.js";
import { SERVER_NAME, identity } from "../helpers/harness.js";
import { freePort, identityFiles, killAllPeers, startPeer } from "../helpers/peers.js";
import { serveDirectory } from "../helpers/static-server.js";

const root = resolve(import.meta.dirname, "../..");
const id = identity();
const files = identityFiles(id);
let browser: Browser;
let site: { url: string; server: Server };
let tunnel: Tunnel;

beforeAll(async () => {
  site = await serveDirectory(root);
  tunnel = await createTunnel({ allow: ["127.0.0.1:*"], origins: [site.url] });
  browser = await launchChromium();
});
afterAll(async () => {
  await browser?.close();
  await tunnel?.close();
  site?.server.close();
});
afterEach(() => killAllPeers());

async function revServer(): Promise<number> {
  const port = await freePort();
  await startPeer("openssl", ["s_server", "-accept", `127.0.0.1:${port}`, "-cert", files.cert, "-key", files.key,
    "-naccept", "1", "-rev"], /ACCEPT/);
  return port;
}

// (the group depends on the peer: Debian's s_server is OpenSSL 3.0, without ML-KEM)
const expected = {
  protocol: "TLSv1.3", verifyResult: 0, peer: `/CN=${SERVER_NAME}`,
  reply: "emitnur eht morf gnip\n", shutdown: [0, 1], ending: "clean",
};

describe("Chromium", () => {
  it("main thread: through the tunnel, verifies, exchanges, closes both ways (0, then 1)", async () => {
    const port = await revServer();
    const page = await browser.newPage();
    const errors: string[] = [];
    page.on("pageerror", (e) => errors.push(String(e)));
    await page.goto(`${site.url}/test/browser/blank.html`);
    await page.waitForFunction(() => (window as unknown as { smokeReady?: boolean }).smokeReady === true);
    const result = await page.evaluate((cfg) => (window as unknown as { runSmoke(c: unknown): Promise<unknown> }).runSmoke(cfg),
      { url: `${tunnel.url}/127.0.0.1:${port}`, caPem: id.certPem, servername: SERVER_NAME });
    expect(errors).toEqual([]);
    expect(result).toMatchObject(expected);
    await page.close();
  });

  it("module Worker: the same, off the main thread", async () => {
    const port = await revServer();
    const page = await browser.newPage();
    await page.goto(`${site.url}/test/browser/blank.html`);
    const reply = await page.evaluate(({ url, caPem, servername }) => new Promise((done) => {
      const worker = new Worker("/test/browser/smoke-worker.mjs", { type: "module" });
      worker.onmessage = (e) => done(e.data);
      worker.onerror = (e) => done({ ok: false, error: e.message });
      worker.postMessage({ url, caPem, servername });
    }), { url: `${tunnel.url}/127.0.0.1:${port}`, caPem: id.certPem, servername: SERVER_NAME }) as { ok: boolean; result?: unknown; error?: string };
    expect(reply.error).toBeUndefined();
    expect(reply.result).toMatchObject(expected);
    await page.close();
  });
});
