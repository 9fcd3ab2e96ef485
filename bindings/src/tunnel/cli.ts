#!/usr/bin/env node
/**
 * openssl-tls-wasm-tunnel: the WebSocket-to-TCP relay as a command.
 *
 *   openssl-tls-wasm-tunnel --listen 127.0.0.1:8080 --allow example.org:443 [--allow host:*]
 *                       [--origin http://localhost:5173] [--max-connections 64] ...
 *
 * Every numeric flag is checked here (a whole number; 0 only where it means
 * "off"): Number("x") is NaN, and a NaN limit compares false and so switches
 * the limit off. `--help` lists every flag with its default.
 *
 * SIGTERM or SIGINT: drain (stop taking tunnels, /healthz 503, live tunnels
 * go on for up to --drain-timeout, then close 1001), exit 0. A second
 * signal closes everything at once. Exit 1: cannot listen; 2: bad usage.
 */
import { createTunnel, TUNNEL_DEFAULTS, type Tunnel, type TunnelOptions } from "./tunnel.js";

/** setTimeout's limit in seconds (2^31 - 1 ms): a longer timeout would fire at once. */
const MAX_SECONDS = Math.floor(2_147_483_647 / 1000);
const DEFAULT_LISTEN = "127.0.0.1:8080";
const DEFAULT_DRAIN_SECONDS = 30;

type NumericOption = "maxConnections" | "maxConnectionsPerClient" | "maxPending" | "maxPendingPerClient" |
  "upgradeTimeoutMs" | "idleTimeoutMs" | "maxFrameBytes" | "maxBytesPerSecond" | "highWaterMark" | "maxBufferedBytes" |
  "drainTimeoutMs";

interface NumericFlag {
  option: NumericOption;
  /** What the value counts; seconds become milliseconds. */
  unit: "N" | "SECONDS" | "BYTES" | "BYTES/S";
  /** What 0 means, where 0 is allowed. */
  zero?: string;
  help: string;
  default: string;
}

const seconds = (ms: number) => `${ms / 1000}`;
const NUMERIC_FLAGS: Record<string, NumericFlag> = {
  "--max-connections": { option: "maxConnections", unit: "N", help: "live tunnels in total", default: `${TUNNEL_DEFAULTS.maxConnections}` },
  "--max-connections-per-client": { option: "maxConnectionsPerClient", unit: "N", help: "live tunnels per client address (IPv6: per /64)", default: `${TUNNEL_DEFAULTS.maxConnectionsPerClient}` },
  "--max-pending": { option: "maxPending", unit: "N", help: "connections not (yet) tunnels, in total", default: `${TUNNEL_DEFAULTS.maxPending}` },
  "--max-pending-per-client": { option: "maxPendingPerClient", unit: "N", help: "connections not (yet) tunnels, per client address", default: `${TUNNEL_DEFAULTS.maxPendingPerClient}` },
  "--upgrade-timeout": { option: "upgradeTimeoutMs", unit: "SECONDS", help: "destroy a connection not a tunnel by then", default: seconds(TUNNEL_DEFAULTS.upgradeTimeoutMs) },
  "--idle-timeout": { option: "idleTimeoutMs", unit: "SECONDS", zero: "never", help: "close a tunnel idle this long (1001)", default: seconds(TUNNEL_DEFAULTS.idleTimeoutMs) },
  "--max-frame": { option: "maxFrameBytes", unit: "BYTES", help: "largest WebSocket message (1009 beyond)", default: `${TUNNEL_DEFAULTS.maxFrameBytes}` },
  "--bandwidth": { option: "maxBytesPerSecond", unit: "BYTES/S", zero: "unlimited", help: "all tunnels, both directions", default: "0" },
  "--high-water-mark": { option: "highWaterMark", unit: "BYTES", help: "per tunnel and direction: pause the sender beyond it", default: `${TUNNEL_DEFAULTS.highWaterMark}` },
  "--max-buffered": { option: "maxBufferedBytes", unit: "BYTES", help: "per tunnel and direction: close 4003 beyond it", default: "high-water mark + max frame + 2097152" },
  "--drain-timeout": { option: "drainTimeoutMs", unit: "SECONDS", zero: "close at once", help: "on SIGTERM, let live tunnels finish this long", default: `${DEFAULT_DRAIN_SECONDS}` },
};

const LOG_FORMATS = ["text", "json", "none"] as const;
type LogFormat = (typeof LOG_FORMATS)[number];

function usageText(): string {
  const row = (flag: string, text: string) => `  ${flag.padEnd(40)}${text}`;
  return [
    "usage: openssl-tls-wasm-tunnel --allow HOST:PORT|HOST:* [--allow ...] [options]",
    row("--listen HOST:PORT", `where to listen (default ${DEFAULT_LISTEN}; port 0: any free port)`),
    row("--allow HOST:PORT|HOST:*", "a destination clients may reach; repeat for more; required"),
    row("--origin URL", "an Origin allowed to connect; repeat for more; default: any"),
    ...Object.entries(NUMERIC_FLAGS).map(([flag, f]) =>
      row(`${flag} ${f.unit}`, `${f.help} (default ${f.default}${f.zero ? `; 0: ${f.zero}` : ""})`)),
    row("--log text|json|none", "events on stdout: text lines, one JSON object per line, or none (default text)"),
  ].join("\n");
}

function usage(message?: string): never {
  if (message) console.error(`openssl-tls-wasm-tunnel: ${message}`);
  console.error(usageText());
  process.exit(2);
}

/** A flag's value as a whole number, or a usage error saying what was wrong. */
function parseNumber(flag: string, spec: NumericFlag, text: string): number {
  const range = spec.zero ? `0 (${spec.zero}) or more` : "at least 1";
  const what = spec.unit === "SECONDS" ? "a whole number of seconds" : "a whole number";
  const n = /^\d+$/.test(text) ? Number(text) : Number.NaN;
  if (!Number.isSafeInteger(n) || (n === 0 && !spec.zero)) usage(`${flag} wants ${what}, ${range}, got ${JSON.stringify(text)}`);
  if (spec.unit !== "SECONDS") return n;
  if (n > MAX_SECONDS) usage(`${flag} is at most ${MAX_SECONDS} seconds, got ${text}`);
  return n * 1000;
}

interface CommandLine {
  options: TunnelOptions;
  drainTimeoutMs: number;
  log: LogFormat;
}

function parseCommandLine(args: readonly string[]): CommandLine {
  const allow: string[] = [];
  const origins: string[] = [];
  const numbers: Partial<Record<NumericOption, number>> = {};
  let listen = DEFAULT_LISTEN;
  let log: LogFormat = "text";
  for (let i = 0; i < args.length; i++) {
    // --flag=value is --flag value
    const [flag = "", inline] = args[i]!.startsWith("--") && args[i]!.includes("=")
      ? [args[i]!.slice(0, args[i]!.indexOf("=")), args[i]!.slice(args[i]!.indexOf("=") + 1)]
      : [args[i]!, undefined];
    const value = () => inline ?? args[++i] ?? usage(`${flag} needs a value`);
    const numeric = NUMERIC_FLAGS[flag];
    if (numeric) numbers[numeric.option] = parseNumber(flag, numeric, value());
    else if (flag === "--allow") allow.push(value());
    else if (flag === "--origin") origins.push(value());
    else if (flag === "--listen") listen = value();
    else if (flag === "--log") {
      const format = value();
      if (!(LOG_FORMATS as readonly string[]).includes(format)) usage(`--log wants text, json or none, got ${JSON.stringify(format)}`);
      log = format as LogFormat;
    } else if (flag === "--help" || flag === "-h") usage();
    else usage(`unknown argument ${flag}`);
  }
  if (allow.length === 0) usage("at least one --allow is required: the tunnel reaches nothing else");
  const m = /^(.+):(\d{1,5})$/.exec(listen);
  if (!m || Number(m[2]) > 65535) usage(`--listen wants HOST:PORT (port 0-65535), got ${JSON.stringify(listen)}`);
  const { drainTimeoutMs = DEFAULT_DRAIN_SECONDS * 1000, ...limits } = numbers;
  return {
    options: { allow, host: m[1]!.replace(/^\[|\]$/g, ""), port: Number(m[2]), ...(origins.length ? { origins } : {}), ...limits },
    drainTimeoutMs,
    log,
  };
}

/** createTunnel's message about an option, in the command's terms ("maxBufferedBytes" -> "--max-buffered"). */
function inFlagNames(message: string): string {
  let text = message.replace(/^tunnel: /, "");
  for (const [flag, { option, unit }] of Object.entries(NUMERIC_FLAGS)) {
    if (!new RegExp(`\\b${option}\\b`).test(text)) continue;
    text = text.replace(new RegExp(`\\b${option}\\b`, "g"), flag);
    if (unit === "SECONDS") text += " (in milliseconds)";
  }
  return text;
}

/** The tunnel's events on stdout in the chosen format. */
function logging(format: LogFormat): Pick<TunnelOptions, "log" | "onEvent"> {
  if (format === "json") return { onEvent: (e) => console.log(JSON.stringify(e)) };
  if (format === "text") return { log: (line) => console.log(`${new Date().toISOString()} ${line}`) };
  return {};
}

/** First signal: drain, then exit 0. A second one: close everything now. */
function exitOnSignals(tunnel: Tunnel, drainTimeoutMs: number): void {
  let stopping = false;
  const stop = () => {
    if (stopping) {
      void tunnel.close(); // cuts the drain short; the first close's promise then exits
      return;
    }
    stopping = true;
    tunnel.close({ drainTimeoutMs }).then(() => process.exit(0), (e: Error) => {
      console.error(`openssl-tls-wasm-tunnel: ${e.message}`);
      process.exit(1);
    });
  };
  process.on("SIGTERM", stop);
  process.on("SIGINT", stop);
}

const command = parseCommandLine(process.argv.slice(2));
const tunnel = await createTunnel({ ...command.options, ...logging(command.log) }).catch((e: Error) => {
  if (e instanceof TypeError || e instanceof RangeError) usage(inFlagNames(e.message));
  console.error(`openssl-tls-wasm-tunnel: cannot listen on ${command.options.host}:${command.options.port}: ${e.message}`);
  process.exit(1);
});
// Before saying it listens: whoever waits for that line may signal at once.
exitOnSignals(tunnel, command.drainTimeoutMs);
const allowed = command.options.allow.join(", ");
if (command.log === "json") {
  console.log(JSON.stringify({ ts: new Date().toISOString(), event: "listening", url: tunnel.url, allow: command.options.allow }));
} else {
  console.log(`openssl-tls-wasm-tunnel listening on ${tunnel.url}/<host>:<port>; allowed: ${allowed}`);
}
