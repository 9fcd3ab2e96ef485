// Entry for Deno and Bun: `<runtime> test/runtimes/tls-websocket-entry.mjs`,
// with WS_URL and WSS_URL (echo servers), WS_CA (a PEM), WS_SERVERNAME and
// WS_TUNNEL in the environment. TlsWebSocket with the runtime's default
// connector (its own TCP), ws:// and wss://, then wss:// through the tunnel
// (the runtime's own WebSocket). Prints one JSON line.
import { TlsWebSocket, tunnelConnector } from "../../bindings/dist/index.js";

const env = (k) => (globalThis.Deno ? Deno.env.get(k) : process.env[k]);
const tls = { ca: env("WS_CA"), servername: env("WS_SERVERNAME") };

function echo(url, options) {
  return new Promise((resolve, reject) => {
    const ws = new TlsWebSocket(url, ["echo"], options);
    let data;
    ws.onopen = () => ws.send(`hello over ${url.slice(0, url.indexOf(":"))}`);
    ws.onmessage = (e) => {
      data = e.data;
      ws.close(1000, "bye");
    };
    ws.onerror = (e) => reject(e.error);
    ws.onclose = (e) => resolve({ data, protocol: ws.protocol, code: e.code, wasClean: e.wasClean });
  });
}

const results = [
  await echo(env("WS_URL"), {}),
  await echo(env("WSS_URL"), tls),
  await echo(env("WSS_URL"), { ...tls, connector: tunnelConnector(env("WS_TUNNEL")) }),
];
console.log(JSON.stringify({ runtime: globalThis.Deno ? "deno" : "bun", results }));
