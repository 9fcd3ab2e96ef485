// A short fixed-seed run of the engine fuzz targets (make fuzz runs the long
// ones), proof that its checks can fail, and the replay of every input in
// test/fuzz/regressions/ (inputs that once broke something, and hand-made
// adversarial ones).
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { OpenSSL } from "../../bindings/src/index.js";
import { EngineFuzzer, makePki, runInputs, type FuzzPki } from "../fuzz/engine.mjs";

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

describe("regressions", () => {
  const files = readdirSync(REGRESSIONS).filter((f) => f.endsWith(".json"));
  it("there are regression inputs to replay", () => {
    expect(files.length).toBeGreaterThan(0);
  });
  for (const file of files) {
    it(file, () => {
      const r = JSON.parse(readFileSync(join(REGRESSIONS, file), "utf8")) as { target: "client" | "server"; scenario: string; input: string };
      const before = fuzzer.ossl.heapInUse();
      fuzzer.replay(r.target, r.scenario, Buffer.from(r.input, "base64"));
      expect(fuzzer.ossl.heapInUse()).toBeLessThanOrEqual(before + 1024);
    });
  }
});
