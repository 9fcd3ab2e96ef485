#!/usr/bin/env node
/**
 * openssl-tls-wasm-tunnel: the WebSocket-to-TCP relay as a command.
 *
 *   openssl-tls-wasm-tunnel --listen 127.0.0.1:8080 --allow example.org:443 [--allow host:*]
 *                       [--allow *.example.org:443] [--allow public:443]
 *                       [--origin http://localhost:5173] [--max-connections 64] [--wisp] ...
 *
 * Flags go through util.parseArgs, strict and without positionals. An
 * unknown flag, a missing value, a positional argument, a value for --help,
 * or a single-value flag given twice (parseArgs would keep the last) is
 * refused in one line naming the flag (parseArgs' own messages can take
 * three lines, or name no flag). `--allow` and `--origin` repeat.
 *
 * Every numeric flag is checked here (a whole number; 0 only where it means
 * "off"; seconds within setTimeout's limit): Number("x") is NaN, and a NaN
 * limit compares false and so switches the limit off. `--help` prints every
 * flag with its default on stdout, exit 0.
 *
 * SIGTERM or SIGINT: drain (stop taking tunnels, /healthz 503, live tunnels
 * go on for up to --drain-timeout, then close 1001), exit 0. A second
 * signal closes everything at once. Exit 1: cannot listen; 2: bad usage
 * (the reason, then the usage, on stderr).
 */
import { parseArgs } from "node:util";
import { parseAllowRule } from "./destination.js";
import { TUNNEL_DEFAULTS } from "./options.js";
import type { Tunnel, TunnelOptions } from "./tunnel.js";

/** setTimeout's limit in seconds (2^31 - 1 ms): a longer timeout would fire at once. */
const MAX_SECONDS = Math.floor(2_147_483_647 / 1000);
const DEFAULT_LISTEN = "127.0.0.1:8080";
const DEFAULT_DRAIN_SECONDS = 30;

type NumericOption = "maxConnections" | "maxStreamsPerConnection" | "maxConnectionsPerClient" | "maxPending" | "maxPendingPerClient" |
  "upgradeTimeoutMs" | "idleTimeoutMs" | "maxFrameBytes" | "maxBytesPerSecond" | "highWaterMark" | "maxBufferedBytes" |
  "resolveTimeoutMs" | "connectTimeoutMs" | "drainTimeoutMs";

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
  "--max-streams-per-connection": { option: "maxStreamsPerConnection", unit: "N", help: "streams per Wisp WebSocket (CLOSE 0x49 beyond)", default: `${TUNNEL_DEFAULTS.maxStreamsPerConnection}` },
  "--max-connections-per-client": { option: "maxConnectionsPerClient", unit: "N", help: "live tunnels per client address (IPv6: per /64)", default: `${TUNNEL_DEFAULTS.maxConnectionsPerClient}` },
  "--max-pending": { option: "maxPending", unit: "N", help: "connections not (yet) tunnels, in total", default: `${TUNNEL_DEFAULTS.maxPending}` },
  "--max-pending-per-client": { option: "maxPendingPerClient", unit: "N", help: "connections not (yet) tunnels, per client address", default: `${TUNNEL_DEFAULTS.maxPendingPerClient}` },
  "--upgrade-timeout": { option: "upgradeTimeoutMs", unit: "SECONDS", help: "destroy a connection not a tunnel by then", default: seconds(TUNNEL_DEFAULTS.upgradeTimeoutMs) },
  "--idle-timeout": { option: "idleTimeoutMs", unit: "SECONDS", zero: "never", help: "close a tunnel idle this long (1001)", default: seconds(TUNNEL_DEFAULTS.idleTimeoutMs) },
  "--max-frame": { option: "maxFrameBytes", unit: "BYTES", help: "largest WebSocket message (1009 beyond)", default: `${TUNNEL_DEFAULTS.maxFrameBytes}` },
  "--bandwidth": { option: "maxBytesPerSecond", unit: "BYTES/S", zero: "unlimited", help: "all tunnels, both directions", default: "0" },
  "--high-water-mark": { option: "highWaterMark", unit: "BYTES", help: "per tunnel and direction: pause the sender beyond it", default: `${TUNNEL_DEFAULTS.highWaterMark}` },
  "--max-buffered": { option: "maxBufferedBytes", unit: "BYTES", help: "per tunnel and direction: close 4003 beyond it", default: "high-water mark + max frame + 2097152" },
  "--resolve-timeout": { option: "resolveTimeoutMs", unit: "SECONDS", help: "DNS lookup for public: rules (4002 beyond)", default: seconds(TUNNEL_DEFAULTS.resolveTimeoutMs) },
  "--connect-timeout": { option: "connectTimeoutMs", unit: "SECONDS", help: "TCP connect to a destination (4002, Wisp 0x43, beyond)", default: seconds(TUNNEL_DEFAULTS.connectTimeoutMs) },
  "--drain-timeout": { option: "drainTimeoutMs", unit: "SECONDS", zero: "close at once", help: "on SIGTERM, let live tunnels finish this long", default: `${DEFAULT_DRAIN_SECONDS}` },
};

const LOG_FORMATS = ["text", "json", "none"] as const;
type LogFormat = (typeof LOG_FORMATS)[number];

/** The flags as util.parseArgs takes them; the values stay strings until checked below. */
const OPTIONS: Record<string, { type: "string" | "boolean"; multiple?: true; short?: string }> = {
  listen: { type: "string" },
  allow: { type: "string", multiple: true },
  origin: { type: "string", multiple: true },
  log: { type: "string" },
  wisp: { type: "boolean" },
  help: { type: "boolean", short: "h" },
  ...Object.fromEntries(Object.keys(NUMERIC_FLAGS).map((flag) => [flag.slice(2), { type: "string" as const }])),
};

function usageText(): string {
  const row = (flag: string, text: string) => `  ${flag.padEnd(40)}${text}`;
  return [
    "usage: openssl-tls-wasm-tunnel --allow HOST:PORT|HOST:* [--allow ...] [options]",
    row("--listen HOST:PORT", `where to listen (default ${DEFAULT_LISTEN}; IPv6 in brackets; port 0: any free port)`),
    row("--allow HOST:PORT|HOST:*", "a destination clients may reach; repeat for more; required. HOST: a name or IP"),
    row("", "address (IPv6 in brackets); *.DOMAIN: any name below DOMAIN; public: any host whose"),
    row("", "addresses are all public unicast (checked after DNS, then connected by that address)"),
    row("--wisp", "also serve Wisp v1 (many streams per WebSocket) on paths ending with \"/\""),
    row("--origin URL", "an Origin allowed to connect; repeat for more; default: any"),
    ...Object.entries(NUMERIC_FLAGS).map(([flag, f]) =>
      row(`${flag} ${f.unit}`, `${f.help} (default ${f.default}${f.zero ? `; 0: ${f.zero}` : ""})`)),
    row("--log text|json|none", "events on stdout: text lines, one JSON object per line, or none (default text)"),
    row("-h, --help", "this text"),
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
  // Digits only: Number() would also take "", " 5", "1e3", "0x10" and "Infinity".
  if (!/^\d+$/.test(text) || (Number(text) === 0 && !spec.zero)) usage(`${flag} wants ${what}, ${range}, got ${JSON.stringify(text)}`);
  const n = Number(text);
  if (spec.unit === "SECONDS") {
    if (n > MAX_SECONDS) usage(`${flag} is at most ${MAX_SECONDS} seconds, got ${text}`);
    return n * 1000;
  }
  if (!Number.isSafeInteger(n)) usage(`${flag} is at most ${Number.MAX_SAFE_INTEGER}, got ${text}`);
  return n;
}

/**
 * Why strict parseArgs refused `args`, in one line naming the flag: the
 * first token it would refuse, found by a lenient pass over the same
 * arguments (the error itself carries only a message, up to three lines).
 */
function whyRefused(args: readonly string[]): string | undefined {
  const { tokens } = parseArgs({ args: [...args], options: OPTIONS, strict: false, allowPositionals: true, tokens: true });
  let previous: (typeof tokens)[number] | undefined;
  for (const t of tokens) {
    if (t.kind === "positional") {
      const value = JSON.stringify(t.value);
      if (previous?.kind !== "option") return `unexpected argument ${value}: every value follows its flag`;
      if (previous.value === undefined) return `unexpected argument ${value}: ${previous.rawName} takes no value`;
      return `unexpected argument ${value} after ${previous.rawName} ${previous.value}: one value per flag (repeat the flag for more)`;
    }
    if (t.kind === "option") {
      const config = Object.hasOwn(OPTIONS, t.name) ? OPTIONS[t.name] : undefined;
      if (!config) return `unknown flag ${t.rawName}`;
      if (config.type === "boolean" && t.value !== undefined) return `${t.rawName} takes no value`;
      if (config.type === "string" && t.value === undefined) return `${t.rawName} needs a value`;
      if (config.type === "string" && !t.inlineValue && t.value!.startsWith("-")) {
        // Strict parseArgs takes "--max-connections -1" for a forgotten
        // value; a negative number is refused as the number it is.
        const numeric = NUMERIC_FLAGS[t.rawName];
        if (numeric && /^-\d/.test(t.value!)) parseNumber(t.rawName, numeric, t.value!);
        return `${t.rawName} needs a value, got the flag ${t.value}`;
      }
    }
    previous = t;
  }
  return undefined;
}

/** parseArgs' values for OPTIONS: lists for --allow and --origin, a string for each other flag given. */
interface Flags {
  allow?: string[];
  origin?: string[];
  help?: boolean;
  wisp?: boolean;
  listen?: string;
  log?: string;
  /** The numeric flags, by name without "--". */
  [numeric: string]: string | string[] | boolean | undefined;
}

/** parseArgs (strict, no positionals), its refusals in one line, and a single-value flag given twice refused. */
function parseFlags(args: readonly string[]): Flags {
  let parsed;
  try {
    parsed = parseArgs({ args: [...args], options: OPTIONS, strict: true, allowPositionals: false, tokens: true });
  } catch (e) {
    const code = (e as { code?: unknown }).code;
    if (typeof code !== "string" || !code.startsWith("ERR_PARSE_ARGS_")) throw e;
    usage(whyRefused(args) ?? (e as Error).message.split("\n")[0]);
  }
  const given = new Map<string, string>();
  for (const t of parsed.tokens) {
    if (t.kind !== "option" || t.value === undefined || OPTIONS[t.name]!.type !== "string" || OPTIONS[t.name]!.multiple) continue;
    const first = given.get(t.name);
    if (first !== undefined) usage(`${t.rawName} is given twice (${JSON.stringify(first)}, then ${JSON.stringify(t.value)}); it takes one value`);
    given.set(t.name, t.value);
  }
  return parsed.values as Flags;
}

interface CommandLine {
  options: TunnelOptions;
  drainTimeoutMs: number;
  log: LogFormat;
}

/** HOST:PORT, an IPv6 host in brackets: "::1" would otherwise read as host ":", port 1. */
const LISTEN = /^(\[[^\]]+\]|[^:[\]]+):(\d{1,5})$/;

function parseCommandLine(args: readonly string[]): CommandLine {
  const values = parseFlags(args);
  if (values.help) {
    console.log(usageText());
    process.exit(0);
  }
  const numbers: Partial<Record<NumericOption, number>> = {};
  for (const [flag, spec] of Object.entries(NUMERIC_FLAGS)) {
    const text = values[flag.slice(2)] as string | undefined;
    if (text !== undefined) numbers[spec.option] = parseNumber(flag, spec, text);
  }
  const format = values.log ?? "text";
  if (!(LOG_FORMATS as readonly string[]).includes(format)) usage(`--log wants text, json or none, got ${JSON.stringify(format)}`);
  const allow = values.allow ?? [];
  if (allow.length === 0) usage("at least one --allow is required: the tunnel reaches nothing else");
  for (const rule of allow) {
    try {
      parseAllowRule(rule);
    } catch (e) {
      usage(e instanceof RangeError ? `--allow wants a port from 1 to 65535 or *, got ${JSON.stringify(rule)}` : inFlagNames((e as Error).message));
    }
  }
  const listen = values.listen ?? DEFAULT_LISTEN;
  const m = LISTEN.exec(listen);
  if (!m || Number(m[2]) > 65535) usage(`--listen wants HOST:PORT (IPv6 in brackets, port 0-65535), got ${JSON.stringify(listen)}`);
  const origins = values.origin ?? [];
  const { drainTimeoutMs = DEFAULT_DRAIN_SECONDS * 1000, ...limits } = numbers;
  return {
    options: {
      allow, host: m[1]!.replace(/^\[|\]$/g, ""), port: Number(m[2]), ...(origins.length ? { origins } : {}),
      ...(values.wisp ? { wisp: true } : {}), ...limits,
    },
    drainTimeoutMs,
    log: format as LogFormat,
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
// Only now: --help and usage errors need not load ws and the relay (half their time).
const { createTunnel } = await import("./tunnel.js");
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
  console.log(`openssl-tls-wasm-tunnel listening on ${tunnel.url}/<host>:<port>${command.options.wisp ? ` (Wisp: ${tunnel.url}/)` : ""}; allowed: ${allowed}`);
}
