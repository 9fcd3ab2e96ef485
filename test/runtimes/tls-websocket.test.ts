// TlsWebSocket in Deno and Bun (the built package): their own TCP as the
// default connector, ws:// and wss://, and wss:// through the tunnel, each
// against the `ws` package's echo server.
import { execFile } from "node:child_process";
import { once } from "node:events";
import * as http from "node:http";
import * as https from "node:https";
import type * as net from "node:net";
import { join, resolve } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { WebSocketServer } from "ws";
import { createTunnel, type Tunnel } from "../../bindings/src/tunnel/tunnel.js";
import { SERVER_NAME, identity } from "../helpers/harness.js";

const run = promisify(execFile);
const root = resolve(import.meta.dirname, "../..");
const id = identity();
const servers = [https.createServer({ cert: id.certPem, key: id.keyPem }), http.createServer()];
let tunnel: Tunnel;
beforeAll(async () => {
  for (const server of servers) {
    new WebSocketServer({ server, handleProtocols: (offered) => [...offered][0] ?? false }).on("connection", (ws) => {
      ws.on("error", () => {});
      ws.on("message", (data, isBinary) => ws.send(data, { binary: isBinary }));
    });
    server.listen(0, "127.0.0.1");
    await once(server, "listening");
  }
  tunnel = await createTunnel({ port: 0, allow: [`127.0.0.1:${(servers[0]!.address() as net.AddressInfo).port}`], log: () => {} });
});
afterAll(async () => {
  await tunnel?.close();
  for (const server of servers) {
    server.closeAllConnections();
    server.close();
  }
});

const RUNTIMES: [string, string[]][] = [
  ["deno", [join(root, "node_modules/.bin/deno"), "run", "--allow-net", "--allow-read", "--allow-env"]],
  ["bun", [join(root, "node_modules/.bin/bun"), "run"]],
];

describe("TlsWebSocket in Deno and Bun", () => {
  for (const [name, [cmd, ...args]] of RUNTIMES) {
    it(`${name}: the default connector (ws://, wss://) and the tunnel; echo, subprotocol, a clean close`, async () => {
      const port = (i: number) => (servers[i]!.address() as net.AddressInfo).port;
      const { stdout } = await run(cmd!, [...args, join(root, "test/runtimes/tls-websocket-entry.mjs")], {
        cwd: root,
        timeout: 60_000,
        env: {
          ...process.env, NO_COLOR: "1", WS_URL: `ws://127.0.0.1:${port(1)}/`, WSS_URL: `wss://127.0.0.1:${port(0)}/`,
          WS_CA: id.certPem, WS_SERVERNAME: SERVER_NAME, WS_TUNNEL: tunnel.url,
        },
      });
      const result = JSON.parse(stdout.trim().split("\n").pop()!);
      expect(result.runtime).toBe(name);
      expect(result.results).toEqual([
        { data: "hello over ws", protocol: "echo", code: 1000, wasClean: true },
        { data: "hello over wss", protocol: "echo", code: 1000, wasClean: true },
        { data: "hello over wss", protocol: "echo", code: 1000, wasClean: true },
      ]);
    }, 90_000);
  }
});
