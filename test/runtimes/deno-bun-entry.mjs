// Entry for Deno and Bun: `<runtime> test/runtimes/deno-bun-entry.mjs`, with
// SMOKE_PORT, SMOKE_CA (a PEM file), SMOKE_SERVERNAME, SMOKE_VIA (tcp|tunnel)
// and SMOKE_TUNNEL (ws://host:port) in the environment. Prints one JSON line.
import * as lib from "../../bindings/dist/index.js";
import { smoke } from "./smoke.mjs";

const env = (k) => (globalThis.Deno ? Deno.env.get(k) : process.env[k]);
const port = Number(env("SMOKE_PORT"));
const caPem = globalThis.Deno ? await Deno.readTextFile(env("SMOKE_CA")) : await Bun.file(env("SMOKE_CA")).text();
let transport;
if (env("SMOKE_VIA") === "tunnel") {
  transport = await lib.connectWebSocket(`${env("SMOKE_TUNNEL")}/127.0.0.1:${port}`); // the runtime's own WebSocket
} else if (globalThis.Deno) {
  transport = await lib.connectDeno("127.0.0.1", port);
} else {
  transport = await lib.connectBun("127.0.0.1", port);
}
const result = await smoke(lib, { transport, caPem, servername: env("SMOKE_SERVERNAME") });
console.log(JSON.stringify({ runtime: globalThis.Deno ? "deno" : "bun", ...result }));
