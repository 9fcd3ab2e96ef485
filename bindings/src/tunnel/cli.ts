#!/usr/bin/env node
/**
 * openssl-wasm-tunnel: the WebSocket-to-TCP relay as a command.
 *
 *   openssl-wasm-tunnel --listen 127.0.0.1:8080 --allow example.org:443 [--allow host:*]
 *                       [--origin http://localhost:5173] [--max-connections 64]
 *                       [--idle-timeout 300] [--max-frame 1048576]
 */
import { createTunnel } from "./tunnel.js";

function usage(message?: string): never {
  if (message) console.error(`openssl-wasm-tunnel: ${message}`);
  console.error("usage: openssl-wasm-tunnel --listen HOST:PORT --allow HOST:PORT|HOST:* [--allow ...] [--origin URL ...]\n" +
    "                           [--max-connections N] [--idle-timeout SECONDS] [--max-frame BYTES]");
  process.exit(2);
}

const args = process.argv.slice(2);
const allow: string[] = [];
const origins: string[] = [];
let listen = "127.0.0.1:8080";
let maxConnections: number | undefined;
let idleTimeoutMs: number | undefined;
let maxFrameBytes: number | undefined;
for (let i = 0; i < args.length; i++) {
  const a = args[i]!;
  const value = () => args[++i] ?? usage(`${a} needs a value`);
  if (a === "--allow") allow.push(value());
  else if (a === "--origin") origins.push(value());
  else if (a === "--listen") listen = value();
  else if (a === "--max-connections") maxConnections = Number(value());
  else if (a === "--idle-timeout") idleTimeoutMs = Number(value()) * 1000;
  else if (a === "--max-frame") maxFrameBytes = Number(value());
  else if (a === "--help" || a === "-h") usage();
  else usage(`unknown argument ${a}`);
}
if (allow.length === 0) usage("at least one --allow is required: the tunnel reaches nothing else");
const m = /^(.*):(\d+)$/.exec(listen);
if (!m) usage(`--listen wants HOST:PORT, got ${listen}`);

const tunnel = await createTunnel({
  allow, host: m[1]!.replace(/^\[|\]$/g, ""), port: Number(m[2]),
  ...(origins.length ? { origins } : {}),
  ...(maxConnections !== undefined ? { maxConnections } : {}),
  ...(idleTimeoutMs !== undefined ? { idleTimeoutMs } : {}),
  ...(maxFrameBytes !== undefined ? { maxFrameBytes } : {}),
  log: (line) => console.log(`${new Date().toISOString()} ${line}`),
}).catch((e: Error) => usage(e.message));
console.log(`openssl-wasm-tunnel listening on ${tunnel.url}/<host>:<port>; allowed: ${allow.join(", ")}`);
for (const sig of ["SIGINT", "SIGTERM"] as const) process.on(sig, () => void tunnel.close().then(() => process.exit(0)));
