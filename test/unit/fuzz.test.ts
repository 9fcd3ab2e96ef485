// A short fixed-seed run of the fuzz targets (make fuzz runs the long ones):
// the engine's input path, and the tunnel's parsing and a live tunnel;
// proof that their checks can fail; and the replay of every input in
// test/fuzz/regressions/ (inputs that once broke something, and hand-made
// adversarial ones).
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { OpenSSL } from "../../bindings/src/index.js";
import { closeReason } from "../../bindings/src/tunnel/close.js";
import { formatHostPort, isAllowed, parseAllowRule, parseDestination } from "../../bindings/src/tunnel/destination.js";
import { EngineFuzzer, makePki, runInputs, type FuzzPki } from "../fuzz/engine.mjs";
import {
  checkParserInput, fuzzParsers, replayTunnel, runLive, TunnelHost, type Parsers, type TunnelRegression,
} from "../fuzz/tunnel.mjs";

/** The tunnel's parsing functions from the sources (the live tunnel runs bindings/dist, which make builds first). */
const parsers: Parsers = { parseDestination, parseAllowRule, isAllowed, formatHostPort, closeReason };
/** A broken tunnel for tunnel-host.mjs to load instead of the real one (see the file). */
const faulty = (fault: string) => new URL(`../helpers/faulty-tunnel.mjs?fault=${fault}`, import.meta.url).href;
const REGRESSIONS = join(import.meta.dirname, "../fuzz/regressions");
let pki: FuzzPki;
let fuzzer: EngineFuzzer;
beforeAll(async () => {
  pki = makePki();
  fuzzer = new EngineFuzzer(await OpenSSL.instantiate(), pki);
});

describe("fuzzing the engine's input path (fixed seed)", () => {
  for (const target of ["server", "client"] as const) {
    it(`${target}: 1,500 mutated flights, fresh and live, at every stage: no trap, no untyped error, no leak`, () => {
      const result = runInputs(fuzzer, { target, seed: 20261127, count: 1500, liveShare: 0.1 });
      expect(result, result.type === "failure" ? `${result.message} ${JSON.stringify(result.detail)}` : "").toMatchObject({ type: "done", done: 1500 });
      if (result.type !== "done") return;
      expect(result.modes.live).toBeGreaterThan(50); // deep stages were reached too
      expect(result.reasons.length).toBeGreaterThan(15); // and many distinct OpenSSL error paths
      expect(result.heapDelta).toBeLessThan(64 * 1024);
    });
  }

  it("the recorded transcripts cover every stage: handshake flights, application data, KeyUpdate, close_notify", () => {
    const byScenario = Object.fromEntries(fuzzer.scenarios.map((s) => [s.name, s.flights.length]));
    expect(Object.keys(byScenario)).toHaveLength(10);
    expect(byScenario["tls13-mlkem-ecdsa"]).toBeGreaterThanOrEqual(8); // CH, SH..Fin, Fin, data x2, KeyUpdate x2, close x2
    expect(byScenario["tls12-ecdhe-ecdsa-gcm"]).toBeGreaterThanOrEqual(7);
  });
});

describe("the checks can fail", () => {
  it("a leaking receiver is reported as a leak", async () => {
    class Leaky extends EngineFuzzer {
      override replay(target: "client" | "server", scenario: string, input: Uint8Array): void {
        super.replay(target, scenario, input);
        this.ossl.createContext({ role: "client" }); // never disposed: a leak on every run
      }
    }
    const leaky = new Leaky(await OpenSSL.instantiate(), pki);
    const result = runInputs(leaky, { target: "server", seed: 1, count: 50, liveShare: 0 });
    expect(result.type).toBe("failure");
    expect(result.type === "failure" && result.message).toMatch(/^leak: /);
  });

  it("a trap or an untyped error fails the run with the input that caused it", async () => {
    class Trapping extends EngineFuzzer {
      override replay(): void {
        throw new WebAssembly.RuntimeError("unreachable");
      }
    }
    const result = runInputs(new Trapping(await OpenSSL.instantiate(), pki), { target: "client", seed: 1, count: 5, liveShare: 0 });
    expect(result).toMatchObject({ type: "failure", message: "RuntimeError: unreachable", detail: { trap: true, target: "client", mode: "fresh" } });
    expect(result.type === "failure" && typeof result.detail.input).toBe("string");
  });
});

describe("fuzzing the tunnel (fixed seed)", () => {
  it("20,000 parser inputs: paths, allow entries, Origins, close reasons; only typed errors, the oracle's accept decisions, stable round trips", () => {
    const r = fuzzParsers({ seed: 20261127, count: 20_000, parsers });
    expect(r.failures.map((f) => `${f.message} ${JSON.stringify(f.detail.text)}`)).toEqual([]);
    expect(r.done).toBe(20_000);
    // every outcome was reached, accepted destinations included (so the oracle had a say both ways)
    for (const outcome of ["destination accepted", "destination refused", "destination malformed", "rule rule", "rule TypeError",
      "rule RangeError", "origin refused", "reason cut", "reason kept"]) {
      expect(r.outcomes[outcome], outcome).toBeGreaterThan(100);
    }
  });

  it("200 live inputs (wsproxy and Wisp) against a tunnel in its own process: it lives, relays, answers /healthz, and gives back every connection, stream and fd", async () => {
    const r = await runLive({ seed: 20261127, count: 200, batchSize: 50 });
    expect(r.failures.map((f) => f.message)).toEqual([]);
    expect(r.done).toBe(200);
    expect(Object.keys(r.tally.kinds).sort()).toEqual(["frames", "http", "mutated", "random", "wisp"]);
    expect(r.tally.statuses["101"]).toBeGreaterThan(50); // many got as far as a WebSocket
    expect(r.fds.last).toBeLessThanOrEqual(r.fds.baseline);
  }, 60_000);
});

describe("the tunnel checks can fail", () => {
  const broken = (name: keyof Parsers, f: (...args: never[]) => unknown): Parsers => ({ ...parsers, [name]: f });

  it("a parser that takes [::ffff:127.0.0.1] for 127.0.0.1 accepts a destination outside the allowlist", () => {
    const mapping = broken("parseDestination", (path: string) => {
      const d = parseDestination(path);
      return d && { ...d, host: d.host.replace(/^::ffff:(\d+\.\d+\.\d+\.\d+)$/, "$1") };
    });
    const r = checkParserInput(mapping, { kind: "destination", text: "/[::ffff:127.0.0.1]:8080", rules: ["127.0.0.1:8080"] });
    expect(r.problems[0]).toMatch(/^accepted it; the oracle refuses it/);
    const run = fuzzParsers({ seed: 1, count: 20_000, parsers: mapping });
    expect(run.failures.length).toBeGreaterThan(0);
    expect(run.failures[0]!.detail).toMatchObject({ target: "tunnel", kind: "destination" });
    expect(typeof run.failures[0]!.detail.input).toBe("string");
  });

  it("the old closeReason, which cut 123 characters rather than bytes, is reported", () => {
    const byCharacters = broken("closeReason", (text: string) => (text.length <= 123 ? text : `${text.slice(0, 122)}…`));
    const r = checkParserInput(byCharacters, { kind: "origin", text: Buffer.from(`http://${"é".repeat(100)}.test`).toString("latin1") });
    expect(r.problems[0]).toMatch(/^close reason of \d+ UTF-8 bytes \(at most 123\)$/);
    expect(r.problems.some((p) => p.startsWith("ws refuses to send it: RangeError"))).toBe(true);
  });

  it("an untyped error from a parser is reported, a TypeError for a bad allow entry is not", () => {
    const throwing = broken("parseDestination", () => {
      throw new Error("boom");
    });
    expect(checkParserInput(throwing, { kind: "destination", text: "/x:1", rules: [] }).problems)
      .toEqual(["parseDestination threw Error: boom (only nothing is documented)"]);
    expect(checkParserInput(parsers, { kind: "rule", text: "no port" })).toEqual({ problems: [], outcome: "TypeError" });
  });

  it("a tunnel that leaks a file descriptor per refused WebSocket is caught, and the input named", async () => {
    const r = await runLive({ seed: 7, count: 200, batchSize: 50, module: faulty("fd-leak") });
    expect(r.failures).toHaveLength(1);
    expect(r.failures[0]!.message).toMatch(/^live: \d+ open file descriptors, \d+ before$/);
    expect(r.failures[0]!.detail).toMatchObject({ target: "tunnel", kind: "live", narrowed: true });
  }, 60_000);

  it("a tunnel that crashes on a non-ASCII close reason (the old bug) is caught, and the input named", async () => {
    const r = await runLive({ seed: 7, count: 200, batchSize: 50, module: faulty("crash") });
    expect(r.failures).toHaveLength(1);
    expect(r.failures[0]!.message).toMatch(/^live: the tunnel process exited \(1\): .*RangeError: The message must not be greater than 123 bytes/);
    expect(r.failures[0]!.detail).toMatchObject({ target: "tunnel", kind: "live", narrowed: true });
  }, 60_000);
});

describe("regressions", () => {
  const files = readdirSync(REGRESSIONS).filter((f) => f.endsWith(".json"));
  let host: TunnelHost | undefined;
  afterAll(async () => {
    await host?.stop();
  });
  it("there are regression inputs to replay, for every target", () => {
    expect(new Set(files.map((f) => (JSON.parse(readFileSync(join(REGRESSIONS, f), "utf8")) as { target: string }).target)))
      .toEqual(new Set(["client", "server", "tunnel"]));
  });
  for (const file of files) {
    it(file, async () => {
      const r = JSON.parse(readFileSync(join(REGRESSIONS, file), "utf8")) as
        | { target: "client" | "server"; scenario: string; input: string }
        | TunnelRegression;
      if (r.target === "tunnel") {
        // parser inputs against the sources; live ones against a tunnel in its own process
        host ??= r.kind === "live" ? await TunnelHost.start() : undefined;
        const { problems, outcome } = await replayTunnel(r, { parsers, host });
        expect(problems).toEqual([]);
        if (typeof r.expect === "string") expect(outcome).toBe(r.expect);
        else if (r.expect !== undefined) expect(outcome).toMatchObject(r.expect as object);
        return;
      }
      const before = fuzzer.ossl.heapInUse();
      fuzzer.replay(r.target, r.scenario, Buffer.from(r.input, "base64"));
      expect(fuzzer.ossl.heapInUse()).toBeLessThanOrEqual(before + 1024);
    });
  }
});
