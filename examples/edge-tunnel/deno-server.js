// The same tunnel as a Deno server: TUNNEL_ALLOW, TUNNEL_WISP and
// TUNNEL_ORIGINS from the environment, PORT to listen on (default 8080).
import { serveDenoTunnel } from "openssl-tls-wasm/edge";

const { port } = await serveDenoTunnel({
  port: Number(Deno.env.get("PORT") ?? 8080),
  log: (line) => console.log(line),
});
console.log(`tunnel listening on ws://127.0.0.1:${port}/<host>:<port> (Wisp: ws://127.0.0.1:${port}/)`);
