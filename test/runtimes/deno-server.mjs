// Deno entry for test/runtimes/edge-tunnel.test.ts: the package's edge tunnel
// as a Deno server, its allowlist and origins from the environment
// (TUNNEL_ALLOW, TUNNEL_ORIGINS) as deployed; the limits under test from
// EDGE_LIMITS (JSON). Prints its port.
import { serveDenoTunnel } from "../../bindings/dist/edge/index.js";

const limits = JSON.parse(Deno.env.get("EDGE_LIMITS") ?? "{}");
const { port } = await serveDenoTunnel({ port: 0, maxFrameBytes: 128 * 1024, log: (line) => console.log(line), ...limits });
console.log(`listening ${port}`);
