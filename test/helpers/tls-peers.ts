/**
 * Our own small TLS peers on other stacks: Java's JSSE
 * (test/peers/java/TlsPeer.java, Debian's OpenJDK 17) and Go's crypto/tls
 * (test/peers/go/tlspeer.go, Debian's golang-go). Both take the same command
 * line (role, version, certificate files, a script of actions) and print the
 * same lines (see the programs' header comments), so one test can drive
 * either. They are built once per source and toolchain version into the
 * cache outside the repository (like OpenSSL's libraries), so reruns only
 * start them.
 */
import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, realpathSync, renameSync, rmSync } from "node:fs";
import * as net from "node:net";
import { homedir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import type { ProtocolVersion } from "../../bindings/src/index.js";
import { startPeer, type Peer } from "./peers.js";

export type PeerKind = "jsse" | "go";
export const PEER_NAMES: Record<PeerKind, string> = { jsse: "Java JSSE", go: "Go crypto/tls" };

const here = dirname(fileURLToPath(import.meta.url));
const SOURCES: Record<PeerKind, string> = {
  jsse: join(here, "../peers/java/TlsPeer.java"),
  go: join(here, "../peers/go/tlspeer.go"),
};

function cacheDir(): string {
  const base = process.env.OPENSSL_WASM_CACHE ?? join(process.env.XDG_CACHE_HOME ?? join(homedir(), ".cache"), "openssl-wasm");
  return join(base, "peers");
}

/** `cmd`'s path on PATH, symlinks resolved (Debian's alternatives), or undefined. */
function which(cmd: string): string | undefined {
  for (const dir of (process.env.PATH ?? "").split(":")) {
    const p = join(dir || ".", cmd);
    if (existsSync(p)) return realpathSync(p);
  }
  return undefined;
}

const built = new Map<PeerKind, { cmd: string; args: string[] }>();

/**
 * Builds `kind`'s program unless the cache has it (keyed by the source and
 * the toolchain's version); returns the command that runs it. Once per process.
 */
export function buildPeer(kind: PeerKind): { cmd: string; args: string[] } {
  const done = built.get(kind);
  if (done) return done;
  const source = SOURCES[kind];
  const compiler = which(kind === "go" ? "go" : "javac");
  if (!compiler) throw new Error(`${kind === "go" ? "go" : "javac"} not found: scripts/setup.sh installs ${kind === "go" ? "golang-go" : "openjdk-17-jdk-headless"}`);
  const tool = execFileSync(compiler, [kind === "go" ? "version" : "-version"], { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
  const key = createHash("sha256").update(readFileSync(source)).update(compiler).update(tool).digest("hex").slice(0, 16);
  const root = cacheDir();
  const out = join(root, `${kind}-${key}`);
  if (!existsSync(out)) {
    mkdirSync(root, { recursive: true });
    // Build aside, then rename: test files running in parallel never see half a build.
    const tmp = mkdtempSync(join(root, `${kind}-build-`));
    try {
      if (kind === "go") {
        execFileSync(compiler, ["build", "-trimpath", "-o", join(tmp, "tlspeer"), source], {
          stdio: ["ignore", "ignore", "pipe"],
          // Standard library only: no module download, no toolchain switch; caches we can write.
          env: { ...process.env, GOCACHE: join(root, "go-build-cache"), GOPATH: join(root, "go-path"), GOTOOLCHAIN: "local", GOPROXY: "off", GOFLAGS: "" },
        });
      } else {
        execFileSync(compiler, ["-d", tmp, source], { stdio: ["ignore", "ignore", "pipe"] });
      }
      try {
        renameSync(tmp, out);
      } catch (e) {
        if (!existsSync(out)) throw e; // else another test file finished the same build first
      }
    } finally {
      rmSync(tmp, { recursive: true, force: true });
    }
  }
  const run = kind === "go" ? { cmd: join(out, "tlspeer"), args: [] }
    // The JVM of the same JDK as javac. C1 only and the serial GC: a
    // short-lived JVM starts faster on a busy machine.
    : { cmd: join(dirname(compiler), "java"), args: ["-XX:TieredStopAtLevel=1", "-XX:+UseSerialGC", "-cp", out, "TlsPeer"] };
  built.set(kind, run);
  return run;
}

export interface PeerOptions {
  role: "client" | "server";
  version: ProtocolVersion;
  /** Comma-joined into --script. */
  script: string[];
  /** Connections to serve or make one after the other (a client shares its session cache across them). */
  connections?: number;
  /** Client: the port of our server. */
  port?: number;
  files: { cert: string; key: string };
  servername: string;
  /** JSSE only: com.sun.net.ssl.requireCloseNotify=true. */
  requireCloseNotify?: boolean;
}

export interface TlsPeer extends Peer {
  /** Server: the port it listens on. */
  port: number;
  /** Its output lines so far (without READY). */
  lines(): string[];
  /** Waits for a line matching `re`; returns it. */
  line(re: RegExp, timeoutMs?: number): Promise<string>;
  /** The cue its `wait` action waits for. */
  cue(): void;
}

/** Starts one of our peers (built already by buildPeer in beforeAll); a server is ready when this resolves. */
export async function startTlsPeer(kind: PeerKind, o: PeerOptions): Promise<TlsPeer> {
  const { cmd, args } = buildPeer(kind);
  const dash = kind === "go" ? "-" : "--";
  const opt = (name: string, value: string | number) => [`${dash}${name}`, String(value)];
  const argv = [
    ...args, ...opt("role", o.role), ...opt("version", o.version === "TLSv1.3" ? "1.3" : "1.2"),
    ...opt("connections", o.connections ?? 1), ...opt("script", o.script.join(",")),
    ...(o.role === "server" ? [...opt("cert", o.files.cert), ...opt("key", o.files.key)]
      : [...opt("port", o.port!), ...opt("ca", o.files.cert), ...opt("servername", o.servername)]),
    ...(o.requireCloseNotify ? [`${dash}require-close-notify`] : []),
  ];
  if (o.requireCloseNotify && kind !== "jsse") throw new TypeError("requireCloseNotify is a JSSE setting");
  const peer = await startPeer(cmd, argv, o.role === "server" ? /^READY \d+$/m : undefined, 30_000);
  const lines = () => peer.stdout().toString("utf8").split("\n").filter((l) => l !== "" && !l.startsWith("READY "));
  const port = o.role === "server" ? Number(/^READY (\d+)$/m.exec(peer.stdout().toString())![1]) : o.port!;
  return {
    ...peer,
    port,
    lines,
    async line(re, timeoutMs = 30_000) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const found = lines().find((l) => re.test(l));
        if (found !== undefined) return found;
        if (Date.now() > deadline || peer.proc.exitCode !== null) {
          throw new Error(`${kind} peer: no line matching ${re}; output:\n${lines().join("\n")}\n${peer.stderr()}`);
        }
        await new Promise((r) => setTimeout(r, 10));
      }
    },
    cue: () => void peer.proc.stdin.write("go\n"),
  };
}

const MiB = 1 << 20;
export { MiB };

/**
 * The peers' payload generator (the same LCG in TlsPeer.java and
 * tlspeer.go): `n` bytes of digits with a newline every 64.
 */
export function payload(n: number, seed: number): Buffer {
  const b = Buffer.alloc(n);
  let x = seed >>> 0;
  for (let i = 0; i < n; i++) {
    x = (Math.imul(x, 1103515245) + 12345) >>> 0;
    b[i] = i % 64 === 63 ? 10 : 48 + ((x >>> 16) % 10);
  }
  return b;
}

export const sha256 = (b: Uint8Array) => createHash("sha256").update(b).digest("hex");

/** A TCP listener on a free loopback port whose connections are handed out in order. */
export async function listen(): Promise<{ port: number; next(): Promise<net.Socket>; close(): void }> {
  const waiting: ((s: net.Socket) => void)[] = [];
  const queued: net.Socket[] = [];
  const server = net.createServer({ allowHalfOpen: true }, (raw) => {
    const w = waiting.shift();
    if (w) w(raw);
    else queued.push(raw);
  });
  server.listen(0, "127.0.0.1");
  await new Promise((r) => server.once("listening", r));
  return {
    port: (server.address() as net.AddressInfo).port,
    next: () => {
      const s = queued.shift();
      return s ? Promise.resolve(s) : new Promise((r) => waiting.push(r));
    },
    close: () => server.close(),
  };
}
