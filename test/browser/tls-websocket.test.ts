// TlsWebSocket in every browser engine (Chromium, Firefox, WebKit), on the
// main thread: wss:// through the tunnel (the page's own WebSocket) to the
// `ws` package's echo server over https; text, a Blob and an ArrayBuffer
// both ways, a subprotocol, a clean close with a code and a reason.
import { once } from "node:events";
import * as https from "node:https";
import type * as net from "node:net";
import { resolve } from "node:path";
import type { Server } from "node:http";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { WebSocketServer } from "ws";
import { createTunnel, type Tunnel } from "../../bindings/src/tunnel/tunnel.js";
import { ENGINES, launch, type Browser } from "../helpers/browsers.mjs";
import { browserIt } from "../helpers/webkit-faults.js";
import { SERVER_NAME, identity } from "../helpers/harness.js";
import { serveDirectory } from "../helpers/static-server.mjs";

const root = resolve(import.meta.dirname, "../..");
const id = identity();
let site: { url: string; server: Server };
let tunnel: Tunnel;
const wss = https.createServer({ cert: id.certPem, key: id.keyPem });
const closes: { code: number; reason: string }[] = [];

beforeAll(async () => {
  new WebSocketServer({ server: wss, handleProtocols: (offered) => (offered.has("chat") ? "chat" : false) }).on("connection", (ws) => {
    ws.on("error", () => {});
    ws.on("message", (data, isBinary) => ws.send(data, { binary: isBinary }));
    ws.on("close", (code, reason) => closes.push({ code, reason: reason.toString() }));
  });
  wss.listen(0, "127.0.0.1");
  await once(wss, "listening");
  site = await serveDirectory(root);
  tunnel = await createTunnel({ port: 0, allow: [`127.0.0.1:${(wss.address() as net.AddressInfo).port}`], origins: [site.url], log: () => {} });
}, 60_000);
afterAll(async () => {
  await tunnel?.close();
  site?.server.close();
  wss.closeAllConnections();
  wss.close();
});

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

  test("main thread: wss:// through the tunnel; text, Blob and ArrayBuffer echoed, subprotocol, a clean close", async () => {
    const page = await browser.newPage();
    try {
      await page.goto(`${site.url}/test/browser/blank.html`);
      const result = await page.evaluate(async ({ url, tunnelUrl, ca, servername }) => {
        // import() by a Function, so the test runner leaves it for the page to resolve
        const lib = await (new Function("u", "return import(u)"))("/bindings/dist/index.js");
        const ws = new lib.TlsWebSocket(url, ["chat"], { connector: lib.tunnelConnector(tunnelUrl), ca, servername });
        const events: string[] = [];
        const next = () => new Promise<MessageEvent>((r) => ws.addEventListener("message", r, { once: true }));
        ws.onerror = (e: { error: Error }) => events.push(`error ${e.error}`);
        await new Promise((r, j) => {
          ws.onopen = r;
          ws.onclose = () => j(new Error(`closed before open: ${events.join("; ")}`));
        });
        ws.onclose = null;
        const out: Record<string, unknown> = { protocol: ws.protocol, extensions: ws.extensions };
        ws.send("héllo");
        out.text = (await next()).data;
        ws.send(new Blob([new Uint8Array([1, 2, 3])]));
        const blob = (await next()).data as Blob;
        out.blob = [blob instanceof Blob, ...new Uint8Array(await blob.arrayBuffer())];
        ws.binaryType = "arraybuffer";
        ws.send(new Uint8Array([4, 5]).buffer);
        out.buffer = [...new Uint8Array((await next()).data as ArrayBuffer)];
        const closing = new Promise<{ code: number; reason: string; wasClean: boolean }>((r) => (ws.onclose = r));
        ws.close(4000, "page done");
        const c = await closing;
        out.close = { code: c.code, reason: c.reason, wasClean: c.wasClean, readyState: ws.readyState };
        out.events = events;
        return out;
      }, { url: `wss://127.0.0.1:${(wss.address() as net.AddressInfo).port}/`, tunnelUrl: tunnel.url, ca: id.certPem, servername: SERVER_NAME });
      expect(result).toEqual({
        protocol: "chat", extensions: "", text: "héllo", blob: [true, 1, 2, 3], buffer: [4, 5],
        close: { code: 4000, reason: "page done", wasClean: true, readyState: 3 }, events: [],
      });
      // The server's own close event may come a moment after the page's (the tunnel relays the last bytes).
      await expect.poll(() => closes.at(-1), { timeout: 5000 }).toEqual({ code: 4000, reason: "page done" });
    } finally {
      await page.close();
    }
  }, 60_000);
});
