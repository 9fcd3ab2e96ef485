// The web demo in Chromium (web-demo/, started as `make demo` starts it):
// for each server and each close mode, on the main thread and in a Worker,
// connect, exchange, close, and check the shutdown timeline and verdict
// against SHUTDOWN.md; verification failures and a refused destination show
// readable errors; a clean close lets the next connection resume.
import { mkdirSync } from "node:fs";
import { join, resolve } from "node:path";
import type { Browser, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { launchChromium } from "../helpers/chromium.js";

const root = resolve(import.meta.dirname, "../..");
const shots = join(root, "test-results");
type Demo = { url: string; stop: () => Promise<void> };
let demo: Demo;
let browser: Browser;

beforeAll(async () => {
  mkdirSync(shots, { recursive: true });
  const { startDemo } = await import("../../web-demo/serve.mjs" as string);
  demo = await startDemo({ port: 0, log: () => {} });
  browser = await launchChromium();
}, 120_000);
afterAll(async () => {
  await browser?.close();
  await demo?.stop();
});

async function open(worker: boolean, viewport = { width: 1280, height: 800 }): Promise<Page> {
  const page = await browser.newPage({ viewport });
  await page.goto(`${demo.url}/`);
  await page.waitForSelector("body[data-ready=true]");
  if (worker) await page.check("#worker");
  return page;
}

async function connect(page: Page, server: string, options: { group?: string; version?: string } = {}) {
  await page.selectOption("#server", server);
  if (options.group) await page.selectOption("#group", options.group);
  if (options.version) await page.selectOption("#version", options.version);
  await page.click("#connect");
  await page.waitForFunction(() => {
    const status = document.getElementById("status")!.textContent!;
    return status.startsWith("Connected") || !document.getElementById("error")!.hidden;
  });
}

async function facts(page: Page): Promise<Record<string, string>> {
  return page.$$eval("#handshake dt", (dts) => Object.fromEntries(dts.map((dt) => [dt.textContent!, dt.nextElementSibling!.textContent!])));
}

async function closeWith(page: Page, mode: string): Promise<{ timeline: string[]; verdict: string }> {
  await page.check(`input[name=mode][value=${mode}]`);
  await page.click("#close");
  await page.waitForSelector("#verdict:not([hidden])", { timeout: 20_000 });
  return {
    timeline: await page.$$eval("#timeline .what", (els) => els.map((e) => e.textContent!)),
    verdict: (await page.textContent("#verdict"))!,
  };
}

const has = (timeline: string[], pattern: RegExp) => timeline.some((t) => pattern.test(t));

const SERVERS = [
  { id: "wasm", kind: "echo" }, { id: "node", kind: "echo" }, { id: "www", kind: "www" },
] as const;
const MODES = ["bidirectional", "unidirectional", "quiet", "peer", "kill"] as const;

for (const worker of [false, true]) {
  describe(worker ? "in a Worker" : "on the main thread", () => {
    for (const server of SERVERS) {
      for (const mode of MODES) {
        it(`${server.id} server, ${mode} close`, async () => {
          const page = await open(worker);
          await connect(page, server.id);
          expect(await page.isHidden("#error"), await page.textContent("#error") ?? "").toBe(true);
          const f = await facts(page);
          expect(f["Running on"]).toBe(worker ? "Worker" : "main thread");
          expect(f["Verification"]).toMatch(/^verified/);
          if (server.id === "wasm") expect(f["Key exchange"]).toBe("X25519MLKEM768");
          if (server.kind === "echo") {
            await page.fill("#message", "hello from the test");
            await page.click("#send");
            await page.waitForFunction(() => document.getElementById("received")!.textContent!.includes("hello from the test"));
          }
          const { timeline, verdict } = await closeWith(page, mode);
          if (mode === "bidirectional") {
            // SSL_shutdown 0, the peer's close_notify, SSL_shutdown 1: clean two-way
            expect(timeline.findIndex((t) => /^SSL_shutdown\(\) = 0/.test(t))).toBeLessThan(timeline.findIndex((t) => /alert received: close notify/.test(t)));
            expect(has(timeline, /^SSL_shutdown\(\) = 1/)).toBe(true);
            expect(verdict).toMatch(/clean two-way close/);
          } else if (mode === "unidirectional") {
            expect(has(timeline, /^SSL_shutdown\(\) = 0/)).toBe(true);
            expect(has(timeline, /alert sent: close notify/)).toBe(true);
            expect(verdict).toMatch(/one-way close/);
          } else if (mode === "quiet") {
            expect(has(timeline, /^SSL_shutdown\(\) = 1/)).toBe(true);
            expect(has(timeline, /alert sent/)).toBe(false);
            expect(verdict).toMatch(/one-way close/);
          } else if (mode === "peer") {
            expect(has(timeline, /alert received: close notify/)).toBe(true);
            expect(has(timeline, /^SSL_read\(\) = 0 SSL_ERROR_ZERO_RETURN/)).toBe(true);
            expect(has(timeline, /^SSL_shutdown\(\) = 1/)).toBe(true);
            expect(verdict).toMatch(/clean two-way close/);
          } else {
            expect(has(timeline, /^SSL_read\(\) = 0 SSL_ERROR_SSL/)).toBe(true);
            expect(verdict).toMatch(/truncated/);
            expect(await page.textContent("#error")).toMatch(/truncated/i);
          }
          if (!worker && server.id === "wasm" && mode === "bidirectional") {
            await page.screenshot({ path: join(shots, "demo-closed-bidirectional.png"), fullPage: true });
          }
          await page.close();
        });
      }
    }

    it("shows resumption after a clean close, and none after an unclean one", async () => {
      const page = await open(worker);
      await connect(page, "node");
      await closeWith(page, "bidirectional");
      await page.click("#reconnect");
      await page.waitForFunction(() => document.getElementById("status")!.textContent!.startsWith("Connected"));
      expect((await facts(page))["Session reused"]).toBe("reused");
      await closeWith(page, "kill");
      expect(await page.isEnabled("#reconnect")).toBe(true);
      await page.click("#reconnect");
      await page.waitForFunction(() => document.getElementById("status")!.textContent!.startsWith("Connected"));
      expect((await facts(page))["Session reused"]).toMatch(/^no/);
      await page.close();
    });
  });
}

describe("errors in the page", () => {
  it("an expired certificate, a wrong host name and a refused destination each show a readable error", async () => {
    const page = await open(false);
    await connect(page, "expired");
    expect(await page.textContent("#error")).toMatch(/Certificate verification failed: certificate has expired/);
    await connect(page, "wronghost");
    expect(await page.textContent("#error")).toMatch(/Certificate verification failed: hostname mismatch/);
    await connect(page, "refused");
    expect(await page.textContent("#error")).toMatch(/The tunnel refused the connection: destination not allowed/);
    await page.screenshot({ path: join(shots, "demo-error.png"), fullPage: true });
    await page.close();
  });

  it("connected state, and a phone-sized viewport", async () => {
    const page = await open(false);
    await connect(page, "wasm");
    await page.screenshot({ path: join(shots, "demo-connected.png"), fullPage: true });
    await page.close();
    const phone = await open(false, { width: 390, height: 844 });
    await connect(phone, "node");
    const overflow = await phone.evaluate(() => document.documentElement.scrollWidth > window.innerWidth);
    expect(overflow).toBe(false);
    await phone.screenshot({ path: join(shots, "demo-phone.png"), fullPage: true });
    await phone.close();
  });
});
