// The tunnel's Wisp endpoint as the Wisp server of third-party clients in
// Debian's Chromium, each making plain http:// requests through
// `wisp: true` to a local HTTP server: libcurl.js (npm `libcurl.js`: its own
// Wisp client and curl in wasm; a destination the allowlist refuses fails
// in curl, the tunnel's CLOSE 0x48 reported as an empty reply) and
// epoxy-tls (npm `@mercuryworkshop/epoxy-tls`, Rust in wasm). Both are built
// for the web only (libcurl.js refuses Node), hence a browser.
import { once } from "node:events";
import { readFileSync } from "node:fs";
import * as http from "node:http";
import type { AddressInfo } from "node:net";
import { resolve } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTunnel, type Tunnel, type TunnelEvent } from "../../bindings/src/tunnel/tunnel.js";
import { launch, type Browser } from "../helpers/browsers.mjs";

const LIBCURL = resolve(import.meta.dirname, "../../node_modules/libcurl.js/libcurl_full.js");
const EPOXY = resolve(import.meta.dirname, "../../node_modules/@mercuryworkshop/epoxy-tls/pkg/epoxy-module-bundled.js");

let target: http.Server;
let site: http.Server;
let tunnel: Tunnel;
let browser: Browser;
const events: TunnelEvent[] = [];

async function listen(server: http.Server): Promise<number> {
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  return (server.address() as AddressInfo).port;
}

beforeAll(async () => {
  target = http.createServer((req, res) => {
    let body = 0;
    req.on("data", (d: Buffer) => (body += d.length));
    req.on("end", () => res.end(`hello from ${req.method} ${req.url} (${body} bytes)`));
  });
  const targetPort = await listen(target);
  const scripts: Record<string, Buffer> = { "/libcurl_full.js": readFileSync(LIBCURL), "/epoxy.js": readFileSync(EPOXY) };
  site = http.createServer((req, res) => {
    const script = scripts[req.url ?? ""];
    if (script) return void res.writeHead(200, { "Content-Type": "text/javascript" }).end(script);
    res.writeHead(200, { "Content-Type": "text/html" }).end('<!doctype html><script src="/libcurl_full.js"></script>' +
      '<script type="module">import epoxy from "/epoxy.js"; window.epoxy = epoxy;</script>');
  });
  await listen(site);
  tunnel = await createTunnel({ allow: [`127.0.0.1:${targetPort}`], wisp: true, onEvent: (e) => events.push(e) });
  browser = await launch("chromium");
}, 60_000);

afterAll(async () => {
  await browser?.close();
  await tunnel?.close();
  target?.close();
  site?.close();
});

describe("libcurl.js and epoxy-tls in Chromium, through the tunnel's Wisp endpoint", () => {
  it("libcurl.js: GET and POST over http://, a refused destination fails; epoxy-tls: GET", async () => {
    const page = await browser.newPage();
    await page.goto(`http://127.0.0.1:${(site.address() as AddressInfo).port}/`);
    const targetUrl = `http://127.0.0.1:${(target.address() as AddressInfo).port}`;
    const out = await page.evaluate(async ({ ws, url }: { ws: string; url: string }) => {
      // A top-level const of the page's classic script: a global binding, not a property of globalThis.
      const curl = (0, eval)("libcurl") as {
        load_wasm(): Promise<void>; set_websocket(url: string): void;
        fetch(url: string, init?: { method?: string; body?: string }): Promise<Response>;
      };
      await curl.load_wasm();
      curl.set_websocket(ws);
      const get = await curl.fetch(`${url}/via-libcurl`);
      const post = await curl.fetch(`${url}/post`, { method: "POST", body: "x".repeat(100_000) });
      const refused = await curl.fetch("http://127.0.0.1:9/").then(() => "no error", (e: unknown) => String(e));
      return { get: [get.status, await get.text()], post: [post.status, await post.text()], refused };
    }, { ws: `${tunnel.url}/`, url: targetUrl });
    expect(out.get).toEqual([200, "hello from GET /via-libcurl (0 bytes)"]);
    expect(out.post).toEqual([200, "hello from POST /post (100000 bytes)"]);
    expect(out.refused).not.toBe("no error");
    expect(events.some((e) => e.event === "connected" && typeof e.stream === "number")).toBe(true);
    expect(events.find((e) => e.event === "refused")).toMatchObject({ target: "127.0.0.1:9", code: 0x48 });

    // epoxy-tls 1.5 (its v1 API: EpoxyClient(wsUrl, userAgent, redirectLimit)).
    await page.waitFor(() => typeof (window as unknown as { epoxy?: unknown }).epoxy === "function");
    const viaEpoxy = await page.evaluate(async ({ ws, url }: { ws: string; url: string }) => {
      type Client = { fetch(url: string, init: object): Promise<Response> };
      const load = (window as unknown as { epoxy: () => Promise<{ EpoxyClient: new (ws: string, ua: string, redirects: number) => Client }> }).epoxy;
      const { EpoxyClient } = await load();
      const client = await new EpoxyClient(ws, navigator.userAgent, 10);
      const r = await client.fetch(`${url}/via-epoxy`, { method: "GET" });
      return [r.status, await r.text()];
    }, { ws: `${tunnel.url}/`, url: targetUrl });
    expect(viaEpoxy).toEqual([200, "hello from GET /via-epoxy (0 bytes)"]);
    await browser.close();
    // The browser gone, its WebSocket and streams are too.
    for (let i = 0; i < 300 && (tunnel.connections > 0 || tunnel.streams > 0); i++) await new Promise((r) => setTimeout(r, 10));
    expect([tunnel.connections, tunnel.streams]).toEqual([0, 0]);
  }, 60_000);
});
