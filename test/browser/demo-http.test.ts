// The web demo's fetch and TlsWebSocket panels (web-demo/src/http-panels.ts)
// in every browser engine (Chromium, Firefox, WebKit), against the demo's
// own HTTPS and wss:// servers through its tunnel, driven through the page's
// controls as a user would: a GET shows 200 and the TLS details, a second
// GET to the same origin goes on the kept-alive connection (which closes
// cleanly when the pool is closed), a POST to /echo
// comes back, a gzip body is decoded, a redirect is followed, a refused
// destination shows the typed error; the wss:// panel echoes a message and
// closes cleanly with 1000. Also a phone-sized viewport after both panels.
import { mkdirSync } from "node:fs";
import { join, resolve } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ENGINES, launch, type Browser, type Page, type Viewport } from "../helpers/browsers.mjs";
import { browserIt } from "../helpers/webkit-faults.js";

const root = resolve(import.meta.dirname, "../..");
const shots = join(root, "test-results");
type Demo = { url: string; services: { id: string; url: string }[]; stop: () => Promise<void> };
let demo: Demo;
let httpsUrl: string;
const demoLog: string[] = [];
const recentLog = () => `\n  demo log, last lines:\n    ${demoLog.slice(-15).join("\n    ")}`;

beforeAll(async () => {
  mkdirSync(shots, { recursive: true });
  const { startDemo } = await import("../../web-demo/serve.mjs" as string);
  demo = await startDemo({ port: 0, log: (line: string) => { demoLog.push(line); if (demoLog.length > 200) demoLog.shift(); } });
  httpsUrl = demo.services.find((s) => s.id === "https")!.url;
}, 120_000);
afterAll(async () => {
  await demo?.stop();
});

// ---- the page's controls, as a user works them (as in demo.test.ts)

async function click(page: Page, selector: string): Promise<void> {
  await page.waitFor((sel) => {
    const e = document.querySelector<HTMLButtonElement>(sel);
    return !!e && !e.disabled && e.getClientRects().length > 0 && !e.closest("[hidden]");
  }, selector);
  await page.evaluate((sel) => document.querySelector<HTMLElement>(sel)!.click(), selector);
}

async function choose(page: Page, selector: string, value: string): Promise<void> {
  const ok = await page.evaluate(({ selector, value }) => {
    const s = document.querySelector<HTMLSelectElement>(selector)!;
    if (![...s.options].some((o) => o.value === value)) return false;
    s.value = value;
    s.dispatchEvent(new Event("input", { bubbles: true }));
    s.dispatchEvent(new Event("change", { bubbles: true }));
    return true;
  }, { selector, value });
  expect(ok, `${selector} has an option ${value}`).toBe(true);
}

/** Types into a text field or textarea (replacing its text). */
async function fill(page: Page, selector: string, text: string): Promise<void> {
  await page.evaluate(({ selector, text }) => {
    const i = document.querySelector<HTMLInputElement | HTMLTextAreaElement>(selector)!;
    i.focus();
    i.value = text;
    i.dispatchEvent(new Event("input", { bubbles: true }));
    i.dispatchEvent(new Event("change", { bubbles: true }));
  }, { selector, text });
}

const textOf = (page: Page, selector: string) => page.evaluate((sel) => document.querySelector(sel)!.textContent ?? "", selector);

describe.each(ENGINES)("%s", (engine) => {
  let browser: Browser;
  // WebKit's known page fault: a test it hits runs once more (test/helpers/webkit-faults.ts)
  const test = browserIt(engine);
  beforeAll(async () => {
    browser = await launch(engine);
  }, 60_000);
  afterAll(async () => {
    await browser?.close();
  });

  async function open(viewport: Viewport = { width: 1280, height: 800 }): Promise<Page> {
    const page = await browser.newPage(viewport);
    await page.goto(`${demo.url}/`);
    await page.waitFor(() => document.body.dataset.ready === "true");
    return page;
  }

  /** Sends the request the panel's controls describe; resolves with what the panel then shows. */
  async function request(page: Page, method: string, url: string, body?: string) {
    await choose(page, "#http-method", method);
    await fill(page, "#http-url", url);
    if (body !== undefined) await fill(page, "#http-body", body);
    await click(page, "#http-send");
    await page.waitFor(() => {
      const sent = !(document.getElementById("http-send") as HTMLButtonElement).disabled;
      return sent && (/^\d{3} /.test(document.getElementById("http-status")!.textContent!) || !document.getElementById("http-error")!.hidden);
    });
    return page.evaluate(() => ({
      status: document.getElementById("http-status")!.textContent!,
      error: document.getElementById("http-error")!.hidden ? "" : document.getElementById("http-error")!.textContent!,
      tls: Object.fromEntries([...document.querySelectorAll("#http-tls dt")].map((dt) => [dt.textContent!, dt.nextElementSibling!.textContent!])),
      headers: document.getElementById("http-response-headers")!.textContent!,
      body: document.getElementById("http-response-body")!.textContent!,
    }));
  }

  /** Connects the wss:// panel, sends `message`, waits for its echo, disconnects; resolves with the panel's log and status. */
  async function echo(page: Page, message: string) {
    await click(page, "#ws-connect");
    await page.waitFor(() => !(document.getElementById("ws-send") as HTMLButtonElement).disabled || !document.getElementById("ws-error")!.hidden);
    expect(await textOf(page, "#ws-error"), `${engine}${recentLog()}`).toBe("");
    const facts = await page.evaluate(() =>
      Object.fromEntries([...document.querySelectorAll("#ws-facts dt")].map((dt) => [dt.textContent!, dt.nextElementSibling!.textContent!])));
    await fill(page, "#ws-message", message);
    await click(page, "#ws-send");
    await page.waitFor((m) => document.getElementById("ws-log")!.textContent!.includes(`← ${m}`), message);
    await click(page, "#ws-disconnect");
    await page.waitFor(() => document.getElementById("ws-status")!.textContent!.startsWith("Closed"));
    return { facts, status: await textOf(page, "#ws-status"), log: await textOf(page, "#ws-log"), error: await textOf(page, "#ws-error") };
  }

  test("HTTPS panel: a GET shows 200 and the TLS details, the next GET reuses the connection", async () => {
    const page = await open();
    const first = await request(page, "GET", httpsUrl);
    expect(first.error, `${engine}${recentLog()}`).toBe("");
    expect(first.status).toMatch(/^200 OK/);
    expect(first.tls["Protocol"]).toBe("TLSv1.3");
    expect(first.tls["Cipher"]).toMatch(/^TLS_/);
    expect(first.tls["ALPN"]).toBe("http/1.1");
    expect(first.tls["Verification"]).toMatch(/^verified/);
    expect(first.tls["Chain"]).toMatch(/CN=localhost/);
    expect(first.tls["Connection reused"]).toMatch(/^no/);
    expect(first.headers).toMatch(/^content-type: text\/html/m);
    expect(first.body).toMatch(/request 1 on this connection/);
    const second = await request(page, "GET", httpsUrl);
    expect(second.status).toMatch(/^200 OK/);
    expect(second.tls["Connection reused"]).toMatch(/^yes/);
    expect(second.body).toMatch(/request 2 on this connection/);
    // the pool's idle connection ends with close_notify both ways
    await click(page, "#http-close-pool");
    await page.waitFor(() => /^ended: /.test([...document.querySelectorAll("#http-tls dt")].find((dt) => dt.textContent === "Connection")!.nextElementSibling!.textContent!));
    expect(await page.evaluate(() => [...document.querySelectorAll("#http-tls dt")].find((dt) => dt.textContent === "Connection")!.nextElementSibling!.textContent)).toBe("ended: clean");
    await page.close();
  });

  test("HTTPS panel: a POST to /echo comes back; gzip is decoded; a redirect is followed; a refused destination shows the typed error", async () => {
    const page = await open();
    const posted = await request(page, "POST", new URL("echo", httpsUrl).href, "posted from the demo test");
    expect(posted.error, `${engine}${recentLog()}`).toBe("");
    const echoed = JSON.parse(posted.body) as { method: string; headers: Record<string, string>; body: string };
    expect(echoed.method).toBe("POST");
    expect(echoed.body).toBe("posted from the demo test");
    expect(echoed.headers["x-demo"]).toBe("hello"); // from the headers textarea

    const gz = await request(page, "GET", new URL("gzip", httpsUrl).href);
    expect(gz.headers).toMatch(/^content-encoding: gzip/m);
    expect(gz.body).toMatch(/^line 1: this body was gzipped by the server and decoded by createFetch/);
    expect(gz.body).toMatch(/more characters not shown/); // 15 KB of text, truncated for display
    expect(gz.tls["Connection reused"]).toMatch(/^yes/);

    const redirected = await request(page, "GET", new URL("redirect", httpsUrl).href);
    expect(redirected.status).toMatch(/^200 OK .*redirected to https:\/\/localhost:\d+\/$/);

    const refused = await request(page, "GET", "https://localhost:1/");
    expect(refused.status).toBe("Failed.");
    expect(refused.error).toMatch(/WebSocketClosedError: .*destination not allowed/);
    await page.close();
  });

  test("wss:// panel: echoes a message, then closes cleanly with 1000", async () => {
    const page = await open();
    const r = await echo(page, "hello from the demo test");
    expect(r.facts["Subprotocol"]).toBe("echo");
    expect(r.log).toContain("→ hello from the demo test");
    expect(r.log).toContain("← hello from the demo test");
    expect(r.log).toMatch(/closed: code 1000, reason "done", wasClean true/);
    expect(r.status).toBe("Closed: 1000 done (clean)");
    expect(r.error).toBe("");
    await page.close();
  });

  test("both panels used, on a desktop and a phone-sized viewport: no sideways scrolling", async () => {
    for (const [name, viewport] of [["desktop", { width: 1280, height: 800 }], ["phone", { width: 390, height: 844 }]] as const) {
      const page = await open(viewport);
      await request(page, "GET", httpsUrl);
      const posted = await request(page, "POST", new URL("echo", httpsUrl).href, "{\"hello\": \"over real TLS\"}");
      expect(posted.status).toMatch(/^200 OK/);
      await echo(page, "hello over wss://");
      const { width, overflow } = await page.evaluate(() => ({
        width: window.innerWidth, overflow: document.documentElement.scrollWidth > window.innerWidth,
      }));
      // WebKit's MiniBrowser window cannot be made that narrow: there the narrowest it allows (about 450 px)
      if (name === "phone") expect(width).toBeLessThanOrEqual(engine === "webkit" ? 480 : 390);
      expect(overflow).toBe(false);
      await page.screenshot(join(shots, `demo-http-${name}-${engine}.png`));
      await page.close();
    }
  });
});
