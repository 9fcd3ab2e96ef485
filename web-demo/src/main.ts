// The page: controls, and a view of what the TLS session (src/session.ts,
// here or in a Worker) reports.
import { setupHttpPanel, setupWebSocketPanel } from "./http-panels";
import { createSession } from "./session";
import type { CloseMode, Command, DemoConfig, DemoEvent, HandshakeView } from "./types";

const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;
const el = (tag: string, text?: string, cls?: string) => {
  const e = document.createElement(tag);
  if (text !== undefined) e.textContent = text;
  if (cls) e.className = cls;
  return e;
};

const ui = {
  server: $<HTMLSelectElement>("server"), version: $<HTMLSelectElement>("version"), group: $<HTMLSelectElement>("group"),
  alpn: $<HTMLInputElement>("alpn"), verify: $<HTMLInputElement>("verify"), worker: $<HTMLInputElement>("worker"),
  connect: $<HTMLButtonElement>("connect"), reconnect: $<HTMLButtonElement>("reconnect"), status: $("status"),
  handshake: $("handshake"), chain: $<HTMLTableElement>("chain"), message: $<HTMLInputElement>("message"),
  send: $<HTMLButtonElement>("send"), http: $<HTMLButtonElement>("http"), received: $("received"),
  close: $<HTMLButtonElement>("close"), timeline: $("timeline"), verdict: $("verdict"), error: $("error"),
};

let config: DemoConfig;
let connected = false;
let sessionSaved = false;
let send: (cmd: Command) => void;
let usingWorker: boolean | undefined;
let worker: Worker | undefined;

/** The session runs where the toggle says; switching drops the saved session (it lives there). */
function session(): (cmd: Command) => void {
  const wantWorker = ui.worker.checked;
  if (wantWorker === usingWorker) return send;
  worker?.terminate();
  worker = undefined;
  sessionSaved = false;
  if (wantWorker) {
    worker = new Worker(new URL("./worker.ts", import.meta.url), { type: "module" });
    worker.onmessage = (e: MessageEvent<DemoEvent>) => onEvent(e.data);
    worker.onerror = (e) => onEvent({ type: "error", title: "Worker error", message: e.message });
    const w = worker;
    send = (cmd) => w.postMessage(cmd);
  } else {
    const run = createSession(onEvent, "main thread");
    send = (cmd) => void run(cmd);
  }
  usingWorker = wantWorker;
  return send;
}

function showError(title: string, message: string) {
  ui.error.replaceChildren(el("strong", `${title}: `), document.createTextNode(message));
  ui.error.hidden = false;
}

function setConnected(on: boolean) {
  connected = on;
  ui.send.disabled = ui.http.disabled = ui.close.disabled = !on;
  ui.reconnect.disabled = on || !sessionSaved;
}

function showHandshake(v: HandshakeView) {
  const facts: [string, string][] = [
    ["Protocol", v.protocol], ["Cipher", v.cipher], ["Key exchange", v.group ?? "—"], ["ALPN", v.alpnProtocol ?? "none"],
    ["Verification", v.verified ? "verified: certificate and host name OK"
      : v.verification === "disabled" ? "DISABLED: nothing about the server was checked" : `failed (${v.verifyResultString})`],
    ["Session reused", v.sessionReused ? "reused" : "no (full handshake)"], ["Handshake time", `${v.ms} ms`],
    ["Running on", v.thread],
  ];
  ui.handshake.replaceChildren(...facts.flatMap(([k, val]) => [el("dt", k), el("dd", val, k === "Session reused" && v.sessionReused ? "good" : undefined)]));
  const body = ui.chain.tBodies[0]!;
  body.replaceChildren(...v.chain.map((c, i) => {
    const tr = el("tr");
    tr.append(el("td", String(i)), el("td", c.subject), el("td", c.issuer), el("td", `${c.notBefore} – ${c.notAfter}`), el("td", `${c.keyType} ${c.keyBits}`));
    return tr;
  }));
  ui.chain.hidden = v.chain.length === 0;
}

function onEvent(e: DemoEvent) {
  switch (e.type) {
    case "busy":
      ui.connect.disabled = e.busy;
      break;
    case "connected":
      ui.status.textContent = `Connected to ${ui.server.selectedOptions[0]?.textContent}.`;
      showHandshake(e.view);
      setConnected(true);
      break;
    case "data":
      ui.received.textContent += e.text;
      ui.received.scrollTop = ui.received.scrollHeight;
      break;
    case "timeline": {
      const li = el("li", undefined, `t-${e.kind}`);
      li.append(el("span", e.text, "what"));
      if (e.detail) li.append(el("span", e.detail, "detail"));
      ui.timeline.append(li);
      break;
    }
    case "closed":
      sessionSaved = e.sessionSaved;
      ui.verdict.textContent = `Verdict: ${e.verdict}` + (e.resumable ? " — the session is resumable."
        : " — OpenSSL will not resume this session.");
      ui.verdict.className = `verdict v-${e.ending}`;
      ui.verdict.hidden = false;
      ui.status.textContent = "Closed.";
      setConnected(false);
      break;
    case "error":
      showError(e.title, e.message);
      if (!connected) ui.status.textContent = "Not connected.";
      break;
  }
}

function connect(resume: boolean) {
  ui.error.hidden = true;
  ui.received.textContent = "";
  ui.timeline.replaceChildren();
  ui.verdict.hidden = true;
  ui.status.textContent = "Connecting…";
  const run = session();
  if (resume && !sessionSaved) resume = false;
  run({
    type: "connect", config,
    options: {
      serverId: ui.server.value, version: ui.version.value as never, groups: ui.group.value,
      alpn: ui.alpn.value, verify: ui.verify.checked, resume,
    },
  });
}

async function main() {
  const response = await fetch("/api/config");
  if (!response.ok) {
    showError("No demo configuration", "start the page with `make demo`");
    return;
  }
  config = { ...(await response.json()), origin: location.origin };
  ui.server.replaceChildren(...config.servers.map((s) => {
    const o = el("option", s.label) as HTMLOptionElement;
    o.value = s.id;
    return o;
  }));
  ui.connect.onclick = () => connect(false);
  ui.reconnect.onclick = () => connect(true);
  ui.send.onclick = () => send({ type: "send", text: ui.message.value });
  ui.message.onkeydown = (e) => { if (e.key === "Enter" && connected) ui.send.click(); };
  ui.http.onclick = () => send({ type: "http" });
  ui.close.onclick = () => {
    const mode = (document.querySelector("input[name=mode]:checked") as HTMLInputElement).value as CloseMode;
    send({ type: "close", mode });
  };
  ui.worker.onchange = () => { if (!connected) ui.reconnect.disabled = true; };
  setupHttpPanel(config);
  setupWebSocketPanel(config);
  document.body.dataset.ready = "true";
}

void main();
