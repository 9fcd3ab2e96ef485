// The page's two higher-level panels, on the main thread: an HTTPS request
// through createFetch (the package's fetch over TlsSocket, with its
// keep-alive pool), and a wss:// echo through TlsWebSocket. Both reach the
// demo's servers through the tunnel: URLs keep the certificate's host name
// (the TLS servername and Host header), while the connector sends that name's
// connections to 127.0.0.1, the only address the tunnel allows.
import { TlsWebSocket, createFetch, tlsInfo, tunnelConnector, type Connector, type Fetch } from "openssl-tls-wasm";
import type { DemoConfig } from "./types";

const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;
const el = (tag: string, text?: string, cls?: string) => {
  const e = document.createElement(tag);
  if (text !== undefined) e.textContent = text;
  if (cls) e.className = cls;
  return e;
};

/** Characters of a response body shown; the rest is counted, not shown. */
const BODY_SHOWN = 4000;

/** `Name: message`, then each cause the same way: typed errors say what failed, their causes why. */
export function errorText(e: unknown): string {
  const parts: string[] = [];
  for (let c: unknown = e, depth = 0; c !== undefined && c !== null && depth < 5; c = (c as Error).cause, depth++) {
    const err = c as Error;
    parts.push(err instanceof Error || (typeof err === "object" && "message" in err) ? `${err.name ?? "Error"}: ${err.message}` : String(c));
    if (typeof c !== "object") break;
  }
  return parts.join("\n  caused by ");
}

/** The tunnel, with the certificate's host name sent to 127.0.0.1 (same port). */
function demoConnector(config: DemoConfig): Connector {
  const tunnel = tunnelConnector(config.tunnel);
  return (destination, options) =>
    tunnel(destination.host === config.servername ? { host: "127.0.0.1", port: destination.port } : destination, options);
}

/** "Name: value" lines; a line without a colon is a TypeError the page shows. */
function parseHeaders(text: string): [string, string][] {
  return text.split("\n").map((l) => l.trim()).filter(Boolean).map((line) => {
    const colon = line.indexOf(":");
    if (colon <= 0) throw new TypeError(`header line without "Name:": ${line}`);
    return [line.slice(0, colon).trim(), line.slice(colon + 1).trim()];
  });
}

function facts(dl: HTMLElement, rows: [string, string, string?][]) {
  dl.replaceChildren(...rows.flatMap(([k, v, cls]) => [el("dt", k), el("dd", v, cls)]));
}

/** The typed error's name in bold, then its message and causes. */
function showError(box: HTMLElement, e: unknown) {
  const text = errorText(e);
  const colon = text.indexOf(": ");
  box.replaceChildren(el("strong", text.slice(0, colon + 2)), document.createTextNode(text.slice(colon + 2)));
  box.hidden = false;
}

export function setupHttpPanel(config: DemoConfig) {
  const ui = {
    method: $<HTMLSelectElement>("http-method"), url: $<HTMLInputElement>("http-url"), headers: $<HTMLTextAreaElement>("http-headers"),
    body: $<HTMLTextAreaElement>("http-body"), send: $<HTMLButtonElement>("http-send"), closePool: $<HTMLButtonElement>("http-close-pool"),
    status: $("http-status"), tls: $("http-tls"), responseHeaders: $("http-response-headers"), responseBody: $("http-response-body"),
    error: $("http-error"), routes: $("http-routes"),
  };
  const connector = demoConnector(config);
  const newFetch = (): Fetch => createFetch({ connector, tls: { ca: config.caPem } });
  let fetch = newFetch();
  /** Which request's view is on screen: a late `closed` of an older one does not overwrite it. */
  let shown = 0;

  ui.url.value = config.httpsUrl;
  ui.routes.replaceChildren(...["", "json", "chunked", "gzip", "redirect", "echo"].map((r) => {
    const o = el("option") as HTMLOptionElement;
    o.value = new URL(r, config.httpsUrl).href;
    return o;
  }));
  const bodyAllowed = () => {
    const m = ui.method.value;
    ui.body.disabled = m === "GET" || m === "HEAD";
  };
  ui.method.onchange = bodyAllowed;
  bodyAllowed();

  ui.send.onclick = async () => {
    const id = ++shown;
    ui.error.hidden = true;
    ui.send.disabled = true;
    ui.status.textContent = `${ui.method.value} ${ui.url.value} …`;
    ui.tls.replaceChildren();
    ui.responseHeaders.textContent = "";
    ui.responseBody.textContent = "";
    const started = performance.now();
    try {
      const method = ui.method.value;
      const init: RequestInit = { method, headers: parseHeaders(ui.headers.value) };
      if (!ui.body.disabled && ui.body.value) init.body = ui.body.value;
      const response = await fetch(ui.url.value, init);
      const text = await response.text();
      const ms = Math.round(performance.now() - started);
      ui.status.textContent = `${response.status} ${response.statusText}` + ` · ${ms} ms`
        + (response.redirected ? ` · redirected to ${response.url}` : "");
      ui.status.className = `status http-${response.ok ? "ok" : "bad"}`;
      ui.responseHeaders.textContent = [...response.headers].map(([k, v]) => `${k}: ${v}`).join("\n");
      ui.responseBody.textContent = text.length > BODY_SHOWN
        ? `${text.slice(0, BODY_SHOWN)}\n… (${text.length - BODY_SHOWN} more characters not shown)` : text || "(empty body)";
      const info = tlsInfo(response);
      if (!info) {
        facts(ui.tls, [["TLS", "none (http:)"]]);
        return;
      }
      const rows: [string, string, string?][] = [
        ["Protocol", info.protocol], ["Cipher", info.cipher], ["Key exchange", info.group ?? "—"], ["ALPN", info.alpnProtocol ?? "none"],
        ["Verification", info.verification === "verified" ? "verified: certificate and host name OK" : `${info.verification} (${info.verifyResultString})`],
        ["Chain", info.peerChain.map((c) => c.subject).join("  ←  ") || "—"],
        ["Connection reused", info.connectionReused ? "yes (kept alive in the pool)" : "no (a new connection)", info.connectionReused ? "good" : undefined],
        ["Session resumed", info.sessionReused ? "yes (abbreviated handshake)" : "no (full handshake)", info.sessionReused ? "good" : undefined],
        ["Connection", "open, kept alive (idle connections close after 30 s)"],
      ];
      facts(ui.tls, rows);
      void info.closed.then((c) => {
        if (shown !== id) return;
        const dd = [...ui.tls.querySelectorAll("dt")].find((dt) => dt.textContent === "Connection")?.nextElementSibling;
        if (dd) {
          dd.textContent = `ended: ${c.ending}`;
          dd.className = c.ending === "clean" ? "good" : "";
        }
      }, () => {});
    } catch (e) {
      if (shown === id) {
        ui.status.textContent = "Failed.";
        ui.status.className = "status";
        showError(ui.error, e);
      }
    } finally {
      ui.send.disabled = false;
    }
  };
  ui.url.onkeydown = (e) => { if (e.key === "Enter" && !ui.send.disabled) ui.send.click(); };
  ui.closePool.onclick = async () => {
    ui.closePool.disabled = true;
    const old = fetch;
    fetch = newFetch();
    try {
      await old.close();
    } finally {
      ui.closePool.disabled = false;
    }
  };
}

export function setupWebSocketPanel(config: DemoConfig) {
  const ui = {
    url: $<HTMLInputElement>("ws-url"), protocols: $<HTMLInputElement>("ws-protocols"), connect: $<HTMLButtonElement>("ws-connect"),
    disconnect: $<HTMLButtonElement>("ws-disconnect"), message: $<HTMLInputElement>("ws-message"), send: $<HTMLButtonElement>("ws-send"),
    status: $("ws-status"), facts: $("ws-facts"), log: $("ws-log"), error: $("ws-error"),
  };
  const connector = demoConnector(config);
  let ws: TlsWebSocket | undefined;
  ui.url.value = config.wssUrl;

  const log = (text: string, cls: string) => {
    ui.log.append(el("span", `${text}\n`, cls));
    ui.log.scrollTop = ui.log.scrollHeight;
  };
  const setOpen = (open: boolean) => {
    ui.connect.disabled = open;
    ui.disconnect.disabled = ui.send.disabled = !open;
  };

  ui.connect.onclick = () => {
    ui.error.hidden = true;
    ui.log.replaceChildren();
    facts(ui.facts, []);
    ui.connect.disabled = true;
    ui.status.textContent = "Connecting…";
    ui.status.className = "status";
    let handshakeMs: number | undefined;
    const protocols = ui.protocols.value.split(",").map((s) => s.trim()).filter(Boolean);
    let socket: TlsWebSocket;
    try {
      socket = new TlsWebSocket(ui.url.value, protocols, {
        connector, ca: config.caPem,
        onTrace: (e) => {
          if (e.type === "handshake") handshakeMs = Math.round(e.ms);
          else if (e.type === "alert" && e.name === "close notify") log(`TLS close_notify ${e.direction}`, "ws-tls");
        },
      });
    } catch (e) {
      // a bad URL or subprotocol: SyntaxError, as the browser's WebSocket throws
      ui.status.textContent = "Not connected.";
      ui.connect.disabled = false;
      showError(ui.error, e);
      return;
    }
    ws = socket;
    socket.onopen = () => {
      ui.status.textContent = `Open: ${socket.url}`;
      facts(ui.facts, [
        ["Subprotocol", socket.protocol || "none"], ["Extensions", socket.extensions || "none"],
        ["TLS handshake", handshakeMs === undefined ? "—" : `${handshakeMs} ms (OpenSSL in this page)`],
      ]);
      setOpen(true);
    };
    socket.onmessage = (e) => log(`← ${typeof e.data === "string" ? e.data : "(binary)"}`, "ws-in");
    socket.onerror = (e) => showError(ui.error, (e as Event & { error?: unknown }).error ?? new Error("WebSocket error"));
    socket.onclose = (e) => {
      if (ws === socket) ws = undefined;
      setOpen(false);
      ui.status.textContent = `Closed: ${e.code}${e.reason ? ` ${e.reason}` : ""} (${e.wasClean ? "clean" : "not clean"})`;
      ui.status.className = `status ws-${e.wasClean ? "clean" : "unclean"}`;
      log(`closed: code ${e.code}${e.reason ? `, reason "${e.reason}"` : ""}, wasClean ${e.wasClean}`, e.wasClean ? "ws-close" : "ws-close-unclean");
    };
  };
  ui.send.onclick = () => {
    if (!ws) return;
    ws.send(ui.message.value);
    log(`→ ${ui.message.value}`, "ws-out");
  };
  ui.message.onkeydown = (e) => { if (e.key === "Enter" && !ui.send.disabled) ui.send.click(); };
  ui.disconnect.onclick = () => {
    ui.disconnect.disabled = ui.send.disabled = true;
    ui.status.textContent = "Closing…";
    ws?.close(1000, "done");
  };
}
